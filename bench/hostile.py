#!/usr/bin/env python3
"""/livez latency while hostile clients hold the daemon (part of bench/run).

    bench/hostile.py PORT PID SCENARIO [CONNECTIONS] [SECONDS]

SCENARIO is `idle` (a crowd of connections that send nothing) or `drip`
(the same crowd sending a request head one byte a second, each byte
restarting the daemon's idle timeout). The crowd comes from 127.0.0.2 on,
round-robin over four source addresses, as in tests/test-hostile.c. While
it is held, a well-behaved client asks /livez on a fresh connection every
~40 ms for SECONDS and the script prints one line:

    SCENARIO n=N p50=MS p99=MS max=MS failed=F held=H

held is how many of the crowd's connections the daemon took in. The tests
assert only that /livez answers; how fast is measured here, on a machine
the benchmark has to itself.
"""

import errno
import os
import select
import socket
import sys
import time

IP_BIND_ADDRESS_NO_PORT = 24
SOURCES = 4
BATCH = 100  # connects in flight at once: the listen backlog never overflows
HEAD = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Drip: " + b"a" * 64


def open_files(pid):
    try:
        return len(os.listdir(f"/proc/{pid}/fd"))
    except OSError:
        return -1


def crowd(port, n):
    socks = []
    while len(socks) < n:
        batch = []
        for _ in range(min(BATCH, n - len(socks))):
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            s.setsockopt(socket.IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, 1)
            s.bind((f"127.0.0.{2 + len(socks) % SOURCES}", 0))
            s.setblocking(False)
            err = s.connect_ex(("127.0.0.1", port))
            if err not in (0, errno.EINPROGRESS):
                s.close()
                continue
            socks.append(s)
            batch.append(s)
        # poll(), not select(): the crowd's descriptors go past FD_SETSIZE.
        poller = select.poll()
        for s in batch:
            poller.register(s, select.POLLOUT)
        deadline = time.monotonic() + 2
        pending = len(batch)
        while pending and time.monotonic() < deadline:
            ready = poller.poll(max(0, (deadline - time.monotonic()) * 1000))
            for fd, _ in ready:
                poller.unregister(fd)
                pending -= 1
    return socks


def ask(port):
    """Seconds for one GET /livez on a fresh connection, or None."""
    start = time.perf_counter()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            reply = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
    except OSError:
        return None
    if not reply.startswith(b"HTTP/1.1 200"):
        return None
    return time.perf_counter() - start


def percentile(sorted_values, p):
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, int(round(p / 100 * (len(sorted_values) - 1))))
    return sorted_values[i]


def main():
    if len(sys.argv) < 4 or sys.argv[3] not in ("idle", "drip"):
        sys.exit(__doc__)
    port, pid, scenario = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    n = int(sys.argv[4]) if len(sys.argv) > 4 else 1100
    seconds = float(sys.argv[5]) if len(sys.argv) > 5 else 10

    before = open_files(pid)
    socks = crowd(port, n)
    # Measure serving under the crowd, not the burst of accepts before it.
    deadline = time.monotonic() + 5
    while open_files(pid) - before < len(socks) * 0.95 and time.monotonic() < deadline:
        time.sleep(0.05)
    held = open_files(pid) - before

    times, failed = [], 0
    end = time.monotonic() + seconds
    next_drip, dripped = time.monotonic(), 0
    while time.monotonic() < end:
        if scenario == "drip" and time.monotonic() >= next_drip and dripped < len(HEAD):
            for s in socks:
                try:
                    s.send(HEAD[dripped:dripped + 1], socket.MSG_DONTWAIT)
                except OSError:
                    pass  # closed by the daemon: its head deadline
            dripped += 1
            next_drip += 1
        t = ask(port)
        if t is None:
            failed += 1
        else:
            times.append(t * 1000)
        time.sleep(0.04)
    for s in socks:
        s.close()

    times.sort()
    print(f"{scenario} n={len(times) + failed} p50={percentile(times, 50):.2f}"
          f" p99={percentile(times, 99):.2f} max={times[-1] if times else float('nan'):.2f}"
          f" failed={failed} held={held}")


if __name__ == "__main__":
    main()

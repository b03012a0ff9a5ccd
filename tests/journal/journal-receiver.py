#!/usr/bin/env python3
"""A stand-in for journald's native socket: binds the datagram socket given
as argv[1], and appends every entry it receives to argv[2] as one JSON
object a line (field name -> value). Both of the native protocol's forms
are read: KEY=VALUE lines, and KEY\\n<64-bit little-endian length>VALUE\\n
for values with newlines. Ends on SIGTERM."""
import json
import signal
import socket
import struct
import sys


def parse(data):
    fields = {}
    i = 0
    while i < len(data):
        nl = data.index(b"\n", i)
        line = data[i:nl]
        if b"=" in line:
            key, value = line.split(b"=", 1)
            i = nl + 1
        else:
            key = line
            (size,) = struct.unpack_from("<Q", data, nl + 1)
            start = nl + 9
            value = data[start:start + size]
            i = start + size + 1
        fields[key.decode()] = value.decode("utf-8", "replace")
    return fields


def main():
    path, out = sys.argv[1], sys.argv[2]
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(path)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with open(out, "a", buffering=1) as f:
        while True:
            data, _ = sock.recvfrom(1 << 20)
            f.write(json.dumps(parse(data)) + "\n")


if __name__ == "__main__":
    main()

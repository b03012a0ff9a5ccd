"""Stand-in flag service and app /health for test-rollback.sh.

    standin.py PORT_FILE LOG_FILE HEALTH_MODE [CERT KEY]

PATCH /flag records its body and Authorization header (to LOG_FILE, one
JSON object a line) and answers 200. GET /health answers per HEALTH_MODE:
"recover-after-N" (503 N times, then 200) or "never" (always 503).
Listens on an ephemeral loopback port, written to PORT_FILE; with CERT and
KEY it speaks HTTPS (rollback.sh sends a flag token over https only).
"""
import json
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

port_file, log_file, mode = sys.argv[1:4]
lock = threading.Lock()
health_calls = 0


class Handler(BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def record(self, body):
        with lock, open(log_file, "a") as f:
            f.write(json.dumps({"method": self.command, "path": self.path,
                                "authorization": self.headers.get("Authorization"),
                                "content_type": self.headers.get("Content-Type"),
                                "body": body}) + "\n")

    def answer(self, code, text):
        data = text.encode()
        self.send_response(code)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_PATCH(self):
        n = int(self.headers.get("Content-Length") or 0)
        self.record(self.rfile.read(n).decode())
        self.answer(200 if self.path == "/flag" else 404, "{}")

    def do_GET(self):
        global health_calls
        self.record(None)
        if self.path != "/health":
            return self.answer(404, "no")
        with lock:
            health_calls += 1
            calls = health_calls
        if mode.startswith("recover-after-") and calls > int(mode.split("-")[-1]):
            return self.answer(200, '{"status":"healthy"}')
        self.answer(503, '{"status":"unhealthy"}')


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
if len(sys.argv) > 5:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(sys.argv[4], sys.argv[5])
    server.socket = tls.wrap_socket(server.socket, server_side=True)
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
import os
os.rename(port_file + ".tmp", port_file)
server.serve_forever()

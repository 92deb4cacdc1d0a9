"""A stand-in for the legacy backend of the rollout (Python standard library only).

It answers every request itself, 200 with a JSON marker, so that a test can
tell from the body that nginx sent a request to the legacy side:

    {"backend": "legacy-stand-in", "method": "GET", "path": "/api/chats?x=1",
     "requestId": "...", "forwardedFor": "127.0.0.1"}

It also sends its own `X-Chat-Backend: stand-in-says-so` (nginx must replace
it) and, to `Accept: text/event-stream`, a short event stream (event "legacy").
Use it from a test (a thread; port 0 takes a free loopback port):

    legacy = LegacyBackend().start()      # legacy.address == "127.0.0.1:PORT"
    ...
    legacy.stop()

or alone: python3 tests/integration/legacy_backend.py [PORT]
"""
import http.server
import json
import sys
import threading

MARKER = "legacy-stand-in"


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # nginx keeps its upstream connections alive
    disable_nagle_algorithm = True  # headers and body leave in two writes: no 40 ms stall

    def _answer(self):
        length = int(self.headers.get("Content-Length") or 0)
        if length:
            self.rfile.read(length)
        self.server.requests += 1
        if "text/event-stream" in (self.headers.get("Accept") or ""):
            body = b"event: legacy\ndata: {}\n\n"
            content_type = "text/event-stream"
        else:
            body = json.dumps({
                "backend": MARKER, "method": self.command, "path": self.path,
                "requestId": self.headers.get("X-Request-Id"),
                "forwardedFor": self.headers.get("X-Forwarded-For"),
            }).encode() + b"\n"
            content_type = "application/json"
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("X-Chat-Backend", "stand-in-says-so")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = _answer

    def log_message(self, *args):
        pass


class LegacyBackend:
    def __init__(self, host="127.0.0.1", port=0):
        self.server = http.server.ThreadingHTTPServer((host, port), _Handler)
        self.server.daemon_threads = True
        self.server.requests = 0
        self.thread = None

    @property
    def address(self):
        host, port = self.server.server_address[:2]
        return "%s:%d" % (host, port)

    @property
    def requests(self):
        return self.server.requests

    def start(self):
        self.thread = threading.Thread(target=self.server.serve_forever, name="legacy-backend",
                                       daemon=True)
        self.thread.start()
        return self

    def stop(self):
        """Stops serving and closes the listening socket (a later connection is refused)."""
        if self.thread:
            self.server.shutdown()
            self.thread.join(timeout=10)
            self.thread = None
        self.server.server_close()


def main():
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8081
    backend = LegacyBackend(port=port)
    print("legacy stand-in on http://%s" % backend.address, flush=True)
    try:
        backend.server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        backend.server.server_close()


if __name__ == "__main__":
    main()

"""A minimal FastCGI client (one request per connection, RESPONDER role), to
reach a service on its own socket without nginx: a whole answer (request) or
an answer read as it comes (Stream, for SSE). Standard library only."""
import socket
import struct
import time

FCGI_BEGIN_REQUEST, FCGI_END_REQUEST, FCGI_PARAMS, FCGI_STDIN, FCGI_STDOUT = 1, 3, 4, 5, 6


def _record(kind, content, request_id=1):
    return struct.pack("!BBHHBx", 1, kind, request_id, len(content), 0) + content


def _length(n):
    return bytes([n]) if n < 128 else struct.pack("!I", n | 0x80000000)


def _params(params):
    out = b""
    for name, value in params.items():
        name, value = name.encode(), value.encode()
        out += _length(len(name)) + _length(len(value)) + name + value
    return out


def _stdin(body):
    out = b""
    for i in range(0, len(body), 65535):
        out += _record(FCGI_STDIN, body[i:i + 65535])
    return out + _record(FCGI_STDIN, b"")


def _connect(address, method, path, headers, body, timeout):
    """Sends the request; the connected socket. headers become HTTP_* params."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    uri = path.split("?")[0]
    params = {"REQUEST_METHOD": method, "REQUEST_URI": path, "SCRIPT_NAME": uri,
              "DOCUMENT_URI": uri, "QUERY_STRING": path.partition("?")[2],
              "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": str(len(body))}
    for name, value in (headers or {}).items():
        key = name.upper().replace("-", "_")
        params[key if key == "CONTENT_TYPE" else "HTTP_" + key] = value
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.settimeout(timeout)
    sock.connect(address)
    sock.sendall(_record(FCGI_BEGIN_REQUEST, struct.pack("!HB5x", 1, 0))
                 + _record(FCGI_PARAMS, _params(params)) + _record(FCGI_PARAMS, b"")
                 + _stdin(body))
    return sock


class Stream:
    """An answer read as the service writes it: .read(until, timeout) returns
    the stdout bytes so far once `until` (bytes) is in them or timeout passes."""

    def __init__(self, address, method, path, headers=None, body=b"", timeout=5.0):
        self.sock = _connect(address, method, path, headers, body, timeout)
        self.pending, self.stdout, self.ended = b"", b"", False

    def _take_records(self):
        while len(self.pending) >= 8:
            _, kind, _, length, padding = struct.unpack("!BBHHB", self.pending[:7])
            if len(self.pending) < 8 + length + padding:
                return
            content = self.pending[8:8 + length]
            self.pending = self.pending[8 + length + padding:]
            if kind == FCGI_STDOUT:
                self.stdout += content
            elif kind == FCGI_END_REQUEST:
                self.ended = True

    def read(self, until=None, timeout=5.0):
        deadline = time.monotonic() + timeout
        while not self.ended and (until is None or until not in self.stdout):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                break
            if not chunk:
                self.ended = True
                break
            self.pending += chunk
            self._take_records()
        return self.stdout

    def close(self):
        self.sock.close()


def request(address, method, path, headers=None, body=b"", timeout=5.0):
    """A whole answer from a FastCGI server at (host, port) or a unix path:
    (status, headers text, body bytes)."""
    stream = Stream(address, method, path, headers, body, timeout)
    try:
        stdout = stream.read(None, timeout)
    finally:
        stream.close()
    head, _, payload = stdout.partition(b"\r\n\r\n")
    head = head.decode("latin-1")
    status = 200
    for line in head.split("\r\n"):
        if line.lower().startswith("status:"):
            status = int(line.split(":", 1)[1].split()[0])
    return status, head, payload

"""A minimal FastCGI client (one request per connection, RESPONDER role), to
reach a service on its own socket without nginx. Standard library only."""
import socket
import struct

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


def request(address, method, path, timeout=5.0):
    """GET-style request to a FastCGI server at (host, port) or a unix path;
    returns (status, headers text, body bytes)."""
    family = socket.AF_UNIX if isinstance(address, str) else socket.AF_INET
    query = path.partition("?")[2]
    params = {"REQUEST_METHOD": method, "REQUEST_URI": path, "SCRIPT_NAME": path.split("?")[0],
              "DOCUMENT_URI": path.split("?")[0], "QUERY_STRING": query,
              "SERVER_PROTOCOL": "HTTP/1.1", "CONTENT_LENGTH": "0"}
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(address)
        sock.sendall(_record(FCGI_BEGIN_REQUEST, struct.pack("!HB5x", 1, 0))
                     + _record(FCGI_PARAMS, _params(params)) + _record(FCGI_PARAMS, b"")
                     + _record(FCGI_STDIN, b""))
        data, stdout = b"", b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
        while len(data) >= 8:
            _, kind, _, length, padding = struct.unpack("!BBHHB", data[:7])
            content = data[8:8 + length]
            data = data[8 + length + padding:]
            if kind == FCGI_STDOUT:
                stdout += content
            elif kind == FCGI_END_REQUEST:
                break
    head, _, body = stdout.partition(b"\r\n\r\n")
    head = head.decode("latin-1")
    status = 200
    for line in head.split("\r\n"):
        if line.lower().startswith("status:"):
            status = int(line.split(":", 1)[1].split()[0])
    return status, head, body

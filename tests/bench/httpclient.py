"""A small HTTP/1.1 keep-alive client on asyncio streams, and percentiles.

Shared by fixed_rate.py and live.py (Python standard library only). Just what
the benchmark clients need: one request at a time per connection,
Content-Length or chunked answers, the status, the body.
"""
import asyncio


class Connection:
    def __init__(self, host, port):
        self.host, self.port = host, port
        self.reader = self.writer = None

    async def open(self):
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    def close(self):
        if self.writer:
            self.writer.close()
        self.reader = self.writer = None

    def send(self, raw):
        self.writer.write(raw)

    async def read_head(self):
        """(status, headers dict with lower-case names) of the next answer."""
        head = await self.reader.readuntil(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {}
        for line in lines[1:]:
            if ":" in line:
                name, value = line.split(":", 1)
                headers[name.strip().lower()] = value.strip()
        return status, headers

    async def read_body(self, headers):
        if "content-length" in headers:
            return await self.reader.readexactly(int(headers["content-length"]))
        if headers.get("transfer-encoding", "").lower() == "chunked":
            parts = []
            while True:
                size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await self.reader.readuntil(b"\r\n")
                    return b"".join(parts)
                parts.append(await self.reader.readexactly(size))
                await self.reader.readexactly(2)
        return b""

    async def request(self, raw):
        """Sends one request (bytes) and reads its whole answer: (status, headers, body)."""
        if self.writer is None:
            await self.open()
        self.send(raw)
        status, headers = await self.read_head()
        body = await self.read_body(headers)
        if headers.get("connection", "").lower() == "close":
            self.close()
        return status, headers, body


def build_request(method, path, host, headers=None, body=None):
    lines = ["%s %s HTTP/1.1" % (method, path), "Host: %s" % host]
    for name, value in (headers or {}).items():
        lines.append("%s: %s" % (name, value))
    data = body.encode() if isinstance(body, str) else (body or b"")
    if body is not None:
        lines.append("Content-Length: %d" % len(data))
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + data


def percentile(sorted_values, p):
    """Nearest-rank percentile of an ascending list; None when empty."""
    if not sorted_values:
        return None
    k = max(0, min(len(sorted_values) - 1, int(round(p / 100.0 * len(sorted_values) + 0.5)) - 1))
    return sorted_values[k]


def summary_ms(values_s):
    """p50/p90/p99/p99.9/max in milliseconds of a list of seconds."""
    v = sorted(values_s)
    out = {"count": len(v)}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("p999", 99.9)):
        x = percentile(v, p)
        out[name] = None if x is None else round(x * 1000, 2)
    out["max"] = round(v[-1] * 1000, 2) if v else None
    return out

"""A small Server-Sent Events client for the integration tests (standard library only).

    stream = sse.open_stream("/api/sync?cursor=...", token=tok, last_event_id=None)
    assert stream.status == 200
    item = stream.next(timeout=5)     # an Event, a Comment, EOF, or None on timeout
    stream.close()

It speaks HTTP/1.1 over a raw socket, decodes a chunked body itself, and parses
the SSE lines (`id:`, `event:`, `data:`, `: comment`) in a reader thread that
queues what it sees, so that a test can wait for the next item with a timeout
and measure when each one arrived (time.monotonic()).
"""
import json
import queue
import socket
import threading
import time
import urllib.parse

import lib


class Event:
    """One dispatched event: id, event (type), data (text), the parsed JSON, arrival time."""

    def __init__(self, event_id, event_type, data, arrived):
        self.id = event_id
        self.event = event_type
        self.data = data
        self.arrived = arrived
        try:
            self.json = json.loads(data) if data else None
        except ValueError:
            self.json = None

    def __repr__(self):
        return "<Event id=%r event=%r data=%r>" % (self.id, self.event, self.data[:200])


class Comment:
    """A comment line (": ping" gives text "ping")."""

    def __init__(self, text, arrived):
        self.text = text
        self.arrived = arrived

    def __repr__(self):
        return "<Comment %r>" % self.text


class EOF:
    """The server ended the stream (or the connection broke)."""

    def __init__(self, arrived, error=None):
        self.arrived = arrived
        self.error = error

    def __repr__(self):
        return "<EOF %r>" % (self.error,)


class Stream:
    def __init__(self, sock, reader, status, headers, opened):
        self.sock = sock
        self.status = status
        self.headers = headers  # lower-case names
        self.opened = opened    # monotonic time the request was sent
        self.body = b""         # the body of a non-200 answer
        self._reader = reader
        self._items = queue.Queue()
        self._thread = None
        self._closed = False

    def header(self, name, default=None):
        return self.headers.get(name.lower(), default)

    def _start(self):
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _lines(self):
        """The body's lines (without the line end), chunked or not."""
        pending = b""
        chunked = "chunked" in self.header("Transfer-Encoding", "").lower()
        while True:
            if chunked:
                size_line = self._reader.readline()
                if not size_line:
                    break
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    break
                data = self._reader.read(size)
                self._reader.readline()  # the CRLF after the chunk
                if len(data) < size:
                    break
            else:
                data = self._reader.read1(65536)
                if not data:
                    break
            pending += data
            while b"\n" in pending:
                line, pending = pending.split(b"\n", 1)
                yield line.rstrip(b"\r").decode("utf-8", "replace")

    def _run(self):
        event_id, event_type, data = None, None, []
        error = None
        try:
            for line in self._lines():
                now = time.monotonic()
                if line == "":
                    if data or event_type or event_id is not None:
                        self._items.put(Event(event_id, event_type or "message",
                                              "\n".join(data), now))
                    event_id, event_type, data = None, None, []
                    continue
                if line.startswith(":"):
                    self._items.put(Comment(line[1:].strip(), now))
                    continue
                name, _, value = line.partition(":")
                if value.startswith(" "):
                    value = value[1:]
                if name == "id":
                    event_id = value
                elif name == "event":
                    event_type = value
                elif name == "data":
                    data.append(value)
        except (OSError, ValueError) as e:
            error = e if not self._closed else None
        self._items.put(EOF(time.monotonic(), error))

    def next(self, timeout):
        """The next item (Event, Comment or EOF), or None when none comes within timeout s."""
        try:
            return self._items.get(timeout=max(0.0, timeout))
        except queue.Empty:
            return None

    def next_event(self, timeout, skip_comments=True):
        """The next Event (or EOF) within timeout s, skipping comments; None on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            item = self.next(deadline - time.monotonic())
            if item is None or not (skip_comments and isinstance(item, Comment)):
                return item

    def close(self):
        if self._closed:
            return
        self._closed = True
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        if self._thread:
            self._thread.join(5)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _read_body(reader, headers):
    if "chunked" in headers.get("transfer-encoding", "").lower():
        body = b""
        while True:
            size = int(reader.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                return body
            body += reader.read(size)
            reader.readline()
    length = int(headers.get("content-length", "0") or 0)
    return reader.read(length) if length else b""


def open_stream(path, token=None, last_event_id=None, headers=None, timeout=10, base=None):
    """Sends GET path with Accept: text/event-stream and reads the answer's head.
    On 200 a reader thread starts queueing items; otherwise stream.body holds the body."""
    url = urllib.parse.urlsplit(base or lib.HTTP)
    sock = socket.create_connection((url.hostname, url.port), timeout=timeout)
    all_headers = {"Host": "%s:%d" % (url.hostname, url.port),
                   "Accept": "text/event-stream", "Cache-Control": "no-cache",
                   "Connection": "close"}
    if token:
        all_headers["Authorization"] = "Bearer " + token
    if last_event_id is not None:
        all_headers["Last-Event-ID"] = last_event_id
    all_headers.update(headers or {})
    head = "GET %s HTTP/1.1\r\n%s\r\n" % (
        path, "".join("%s: %s\r\n" % kv for kv in all_headers.items()))
    opened = time.monotonic()
    sock.sendall(head.encode())
    reader = sock.makefile("rb")
    status_line = reader.readline().decode("latin-1")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/"):
        sock.close()
        raise OSError("not an HTTP answer: %r" % status_line)
    response_headers = {}
    while True:
        line = reader.readline().decode("latin-1").rstrip("\r\n")
        if not line:
            break
        name, _, value = line.partition(":")
        response_headers[name.strip().lower()] = value.strip()
    stream = Stream(sock, reader, int(parts[1]), response_headers, opened)
    sock.settimeout(None)  # the reader thread blocks; close() unblocks it
    if stream.status == 200:
        stream._start()
    else:
        stream.body = _read_body(reader, response_headers)
        stream.close()
    return stream

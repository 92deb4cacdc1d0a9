"""The faults test's clients (standard library only): writers that create,
append, edit and delete with client-chosen ids, each write retried until it is
acknowledged (2xx) or given up, and SSE readers that resume with
Last-Event-ID after every drop. Both only record what they did and saw; check.py
judges the record.

Each document has one owner (a writer thread), so its writes are sequential and
the history of a document is a list: what was sent, how each attempt ended.
"""
import http.client
import json
import random
import threading
import time
import urllib.parse

import lib
import sse

CLIENT_TIMEOUT_S = 20      # an answer later than this is a hang (check.py counts it)
RETRY_PAUSE_S = (0.1, 0.4)
SSE_STALL_S = 15           # no byte (pings come every SYNC_SSE_PING_S) for this long: reconnect


class Attempt:
    """One HTTP request: when it was sent and ended, and its status or the error."""

    __slots__ = ("method", "path", "started", "ended", "status", "error", "replay")

    def __init__(self, method, path, started, ended, status, error, replay=False):
        self.method, self.path = method, path
        self.started, self.ended = started, ended
        self.status, self.error, self.replay = status, error, replay

    @property
    def acked(self):
        return self.status is not None and 200 <= self.status < 300

    @property
    def refused(self):
        """A definite no: the request was not carried out (4xx; 429 included)."""
        return self.status is not None and 400 <= self.status < 500


class Write:
    """A logical write (one op on one document), retried until acknowledged."""

    def __init__(self, writer, user, kind, doc_id, fields, seq):
        self.writer = writer
        self.user = user
        self.kind = kind          # create_chat, append, edit_chat, edit_message, delete_chat, delete_message
        self.doc_id = doc_id
        self.fields = fields      # what the write sets (title, content, chat_id, is_deleted)
        self.seq = seq            # order of the writes of one writer thread
        self.attempts = []
        self.doc = None           # the acknowledged document

    @property
    def acked(self):
        return any(a.acked for a in self.attempts)

    @property
    def refused(self):
        """Every attempt definitely refused: it must not be in the store."""
        return bool(self.attempts) and all(a.refused for a in self.attempts)


def send(method, path, token, body=None):
    """One request; an Attempt and the parsed answer (None unless 2xx)."""
    started = time.monotonic()
    try:
        resp = lib.request(method, path, json_body=body, token=token, timeout=CLIENT_TIMEOUT_S)
    except (OSError, http.client.HTTPException) as e:
        return Attempt(method, path, started, time.monotonic(), None, type(e).__name__), None, None
    attempt = Attempt(method, path, started, time.monotonic(), resp.status, None,
                      resp.header("Idempotent-Replay") == "true")
    return attempt, resp, (resp.json if attempt.acked else None)


def quote(doc_id):
    return urllib.parse.quote(doc_id, safe="")


class Writer(threading.Thread):
    """Owns its documents; issues one write at a time, each retried until 2xx.
    Stops taking new writes when `stop` is set; a write in progress is retried
    until `give_up` is set (or it is acknowledged)."""

    def __init__(self, name, user, token, history, stop, give_up, seed):
        super().__init__(name=name, daemon=True)
        self.user, self.token = user, token
        self.history, self.stop, self.give_up = history, stop, give_up
        self.rng = random.Random(seed)
        self.chats = []      # live chat ids
        self.messages = {}   # live message id -> chat id
        self.edits = {}      # doc id -> edit count
        self.serial = 0
        self.seq = 0
        self.failure = None

    def new_id(self, prefix):
        self.serial += 1
        return "%s_%s_%d" % (prefix, self.name, self.serial)

    def run(self):
        try:
            while not self.stop.is_set():
                self.step()
                time.sleep(self.rng.uniform(0.02, 0.08))
        except Exception as e:  # a bug in the test itself: report it, do not hide it
            self.failure = "%s: %r" % (self.name, e)
            raise

    def step(self):
        roll = self.rng.random()
        if len(self.chats) < 2 or (roll < 0.08 and len(self.chats) < 4):
            chat_id = self.new_id("c")
            w = self.write("create_chat", chat_id, {"title": "%s t0" % chat_id},
                           "POST", "/api/chats", {"id": chat_id, "title": "%s t0" % chat_id})
            if w.acked:
                self.chats.append(chat_id)
        elif roll < 0.60:
            chat_id = self.rng.choice(self.chats)
            msg_id = self.new_id("m")
            content = "%s v0" % msg_id
            w = self.write("append", msg_id, {"content": content, "chat_id": chat_id},
                           "POST", "/api/chats/%s/messages" % quote(chat_id),
                           {"id": msg_id, "content": content, "role": "user"})
            if w.acked:
                self.messages[msg_id] = chat_id
        elif roll < 0.82 and self.messages:
            msg_id = self.rng.choice(sorted(self.messages))
            n = self.edits[msg_id] = self.edits.get(msg_id, 0) + 1
            content = "%s v%d" % (msg_id, n)
            self.write("edit_message", msg_id, {"content": content}, "PATCH",
                       "/api/messages/%s" % quote(msg_id), {"content": content})
        elif roll < 0.92:
            chat_id = self.rng.choice(self.chats)
            n = self.edits[chat_id] = self.edits.get(chat_id, 0) + 1
            title = "%s t%d" % (chat_id, n)
            self.write("edit_chat", chat_id, {"title": title}, "PATCH",
                       "/api/chats/%s" % quote(chat_id), {"title": title})
        elif roll < 0.97 and self.messages:
            msg_id = self.rng.choice(sorted(self.messages))
            del self.messages[msg_id]  # never touched again, acknowledged or not
            self.write("delete_message", msg_id, {"is_deleted": True}, "DELETE",
                       "/api/messages/%s" % quote(msg_id), None)
        elif len(self.chats) > 2:
            chat_id = self.chats.pop(self.rng.randrange(len(self.chats)))
            for msg_id in [m for m, c in self.messages.items() if c == chat_id]:
                del self.messages[msg_id]
            self.write("delete_chat", chat_id, {"is_deleted": True}, "DELETE",
                       "/api/chats/%s" % quote(chat_id), None)

    def write(self, kind, doc_id, fields, method, path, body):
        self.seq += 1
        w = Write(self.name, self.user, kind, doc_id, fields, self.seq)
        self.history.add_write(w)
        while not self.give_up.is_set():
            attempt, resp, answer = send(method, path, self.token, body)
            w.attempts.append(attempt)
            self.history.add_attempt(attempt)
            if attempt.acked:
                w.doc = (answer or {}).get("chat") or (answer or {}).get("message")
                return w
            if attempt.status is not None and 400 <= attempt.status < 500 \
                    and attempt.status != 429:
                return w  # a refusal of this write as such: retrying cannot help
            time.sleep(self.rng.uniform(*RETRY_PAUSE_S))
        return w


class Reader(threading.Thread):
    """One device's SSE stream of one user, resumed with Last-Event-ID after every
    drop. Records every change it receives with the connection it came on."""

    def __init__(self, name, user, token, device, history, stop):
        super().__init__(name=name, daemon=True)
        self.user, self.token, self.device = user, token, device
        self.history, self.stop = history, stop
        self.cursor = None
        self.connection = 0
        self.changes = []        # (connection, arrived, change dict)
        self.last_version = 0
        self.failure = None
        self.lock = threading.Lock()

    def run(self):
        try:
            while not self.stop.is_set():
                self.follow_once()
        except Exception as e:
            self.failure = "%s: %r" % (self.name, e)
            raise

    def follow_once(self):
        started = time.monotonic()
        try:
            stream = sse.open_stream("/api/sync", token=self.token, last_event_id=self.cursor,
                                     headers={"X-Device-Id": self.device},
                                     timeout=CLIENT_TIMEOUT_S)
        except OSError as e:
            self.history.add_attempt(Attempt("SSE", "/api/sync", started, time.monotonic(),
                                             None, type(e).__name__))
            self.stop.wait(0.3)
            return
        self.history.add_attempt(Attempt("SSE", "/api/sync", started, time.monotonic(),
                                         stream.status, None))
        if stream.status != 200:
            self.stop.wait(0.5)
            return
        self.connection += 1
        self.report_status()
        last_byte = time.monotonic()
        with stream:
            while not self.stop.is_set():
                item = stream.next(0.5)
                now = time.monotonic()
                if item is None:
                    if now - last_byte > SSE_STALL_S:
                        self.history.note("%s: no byte for %d s, reconnecting" % (self.name,
                                                                                  SSE_STALL_S))
                        return
                    continue
                last_byte = now
                if isinstance(item, sse.EOF):
                    return
                if isinstance(item, sse.Event):
                    if item.event == "reauth":
                        return
                    if item.event != "changes" or item.json is None:
                        raise AssertionError("unexpected event %r" % (item,))
                    with self.lock:
                        for change in item.json.get("changes", []):
                            self.changes.append((self.connection, item.arrived, change))
                            self.last_version = max(self.last_version, change["version"])
                        self.cursor = item.id
        self.stop.wait(0.2)

    def report_status(self):
        """Where this device stands (PUT /api/sync-status): a write on sync-svc too."""
        if self.cursor is None:
            return
        attempt, _, _ = send("PUT", "/api/sync-status/%s" % quote(self.device), self.token,
                             {"cursor": self.cursor})
        self.history.add_attempt(attempt)


class History:
    """Everything the clients did, shared by their threads."""

    def __init__(self):
        self.lock = threading.Lock()
        self.writes = []
        self.attempts = []
        self.notes = []

    def add_write(self, w):
        with self.lock:
            self.writes.append(w)

    def add_attempt(self, attempt):
        with self.lock:
            self.attempts.append(attempt)

    def note(self, text):
        with self.lock:
            self.notes.append(text)


def change_summary(change):
    """What a change says about its document, comparable with the store's row."""
    doc = change.get("doc") or {}
    return {"table": change["table"], "id": change["id"], "version": change["version"],
            "deleted": bool(doc.get("isDeleted")),
            "value": doc.get("content") if change["table"] == "messages" else doc.get("title")}


def dumps(value):
    return json.dumps(value, sort_keys=True)

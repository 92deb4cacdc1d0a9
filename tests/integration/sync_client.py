"""The sync client the tests of test_sync.py drive: requests to /api/sync and
the chats and messages API, a client's replica (Replica: what it holds after
applying the feed, checked as a client relies on it), its comparison with the
database, writer and follower threads, a long-poll in a thread, and the
stack's Redis. Not a test file: tests/run.py loads only test_*.py."""
import base64
import json
import os
import sys
import threading
import time
import urllib.parse

import lib


def q(text):
    return urllib.parse.quote(text, safe="")


def sql_text(text):
    return "'" + text.replace("'", "''") + "'"


def new_user(prefix, ttl=None):
    user = lib.unique(prefix)
    return user, lib.token(user, ttl)


def sync_path(cursor=None, limit=None, live=False, timeout=None):
    params = []
    if cursor is not None:
        params.append("cursor=" + q(cursor))
    if limit is not None:
        params.append("limit=%s" % limit)
    if live:
        params.append("live=1")
    if timeout is not None:
        params.append("timeout=%s" % timeout)
    return "/api/sync" + ("?" + "&".join(params) if params else "")


def sync(token, cursor=None, limit=None, live=False, timeout=None, headers=None):
    """One GET /api/sync; the Response (never raises on a status)."""
    try:
        http_timeout = int(timeout) + 15 if live else 15
    except (TypeError, ValueError):
        http_timeout = 40 if live else 15
    return lib.get(sync_path(cursor, limit, live, timeout), token=token, headers=headers,
                   timeout=http_timeout)


def sync_ok(testcase, token, **kwargs):
    resp = sync(token, **kwargs)
    testcase.assertEqual(resp.status, 200, resp)
    body = resp.json
    testcase.assertEqual(set(body), {"changes", "cursor", "hasMore"}, resp)
    testcase.assertIsInstance(body["cursor"], str)
    return body


def full_sync(testcase, token, cursor=None):
    """Every change after cursor, one large page."""
    body = sync_ok(testcase, token, cursor=cursor, limit=1000)
    testcase.assertFalse(body["hasMore"], "more than 1000 changes in a test")
    return body


def expect(resp, status, what):
    if resp.status != status:
        raise AssertionError("%s: want %d, got %r" % (what, status, resp))
    return resp.json


def create_chat(token, title="chat"):
    return expect(lib.post("/api/chats", {"title": title}, token=token), 201, "create chat")["chat"]


def patch_chat(token, chat_id, title):
    return expect(lib.request("PATCH", "/api/chats/" + q(chat_id), {"title": title}, token=token),
                  200, "patch chat")["chat"]


def delete_chat(token, chat_id):
    return expect(lib.request("DELETE", "/api/chats/" + q(chat_id), token=token), 200,
                  "delete chat")["chat"]


def append(token, chat_id, content):
    return expect(lib.post("/api/chats/%s/messages" % q(chat_id),
                           {"content": content, "role": "user"}, token=token),
                  201, "append")["message"]


def patch_message(token, message_id, content):
    return expect(lib.request("PATCH", "/api/messages/" + q(message_id), {"content": content},
                              token=token), 200, "patch message")["message"]


def delete_message(token, message_id):
    return expect(lib.request("DELETE", "/api/messages/" + q(message_id), token=token), 200,
                  "delete message")["message"]


def db_rows(user):
    """The user's rows in Postgres: {(table, id): (version, is_deleted, title or content)}."""
    rows = lib.psql(
        "SELECT 'chats', id, version, is_deleted, title FROM chats WHERE user_id = %s "
        "UNION ALL SELECT 'messages', id, version, is_deleted, content FROM messages "
        "WHERE user_id = %s" % (sql_text(user), sql_text(user)))
    return {(t, i): (int(v), d == "t", text) for t, i, v, d, text in rows}


def db_last_version(user):
    rows = db_rows(user)
    return max((v for v, _, _ in rows.values()), default=0)


def doc_text(change):
    doc = change["doc"]
    return doc["title"] if change["table"] == "chats" else doc["content"]


def token_exp(token):
    payload = token.split(".")[1]
    payload += "=" * (-len(payload) % 4)
    return json.loads(base64.urlsafe_b64decode(payload))["exp"]


def raw_cursor(text):
    """A cursor in the wire encoding (base64url of "<number>:<text>", unpadded)."""
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def report(line):
    """Measured figures go to stderr, beside unittest's own output."""
    print("\n    [sync] " + line, file=sys.stderr, flush=True)


class Replica:
    """What a client holds after applying the feed, and every change it saw.

    apply() checks, as a client relies on it: pages hold at most `limit`
    changes; versions only grow (version order, no change seen twice); each
    change is well formed, of the right user, op matching isDeleted."""

    def __init__(self, user, limit):
        self.user = user
        self.limit = limit
        self.rows = {}
        self.seen = []
        self.cursor = None
        self.last_version = 0
        self.lock = threading.Lock()

    def apply(self, body):
        changes = body["changes"]
        if len(changes) > self.limit:
            raise AssertionError("page of %d changes with limit %d" % (len(changes), self.limit))
        if body["hasMore"] and len(changes) != self.limit:
            raise AssertionError("hasMore with a short page: %r" % (body,))
        with self.lock:
            for ch in changes:
                if ch["table"] not in ("chats", "messages") or ch["op"] not in ("upsert", "delete"):
                    raise AssertionError("malformed change %r" % (ch,))
                doc = ch["doc"]
                if (doc["id"], doc["version"], doc["userId"]) != (ch["id"], ch["version"],
                                                                  self.user):
                    raise AssertionError("change and doc disagree (or another user's): %r" % ch)
                if (ch["op"] == "delete") != doc["isDeleted"]:
                    raise AssertionError("op %r but isDeleted %r" % (ch["op"], doc["isDeleted"]))
                if ch["version"] <= self.last_version:
                    raise AssertionError("version %d after %d: out of order or repeated (%s %s)" % (
                        ch["version"], self.last_version, ch["table"], ch["id"]))
                self.last_version = ch["version"]
                self.seen.append((ch["table"], ch["id"], ch["version"]))
                self.rows[(ch["table"], ch["id"])] = ch
            self.cursor = body["cursor"]

    def state(self):
        with self.lock:
            return {key: (ch["version"], ch["op"] == "delete", doc_text(ch))
                    for key, ch in self.rows.items()}


def assert_replica_is_database(testcase, replica, db, tombstones_required=True):
    """The replica holds exactly the database's rows (deleted rows as tombstones;
    a snapshot from cursor 0 may leave a deleted row out)."""
    state = replica.state()
    testcase.assertEqual(len(replica.seen), len(set(replica.seen)), "a change was seen twice")
    extra = set(state) - set(db)
    testcase.assertFalse(extra, "replica holds rows the database does not: %r" % sorted(extra)[:5])
    wrong = []
    for key, row in db.items():
        got = state.get(key)
        if got is None and row[1] and not tombstones_required:
            continue
        if got != row:
            wrong.append((key, "db", row, "replica", got))
    testcase.assertFalse(wrong, "%d rows differ, e.g. %r" % (len(wrong), wrong[:3]))


def follow(replica, token, limit, stop, live_timeout=2, errors=None):
    """A client: takes a snapshot (cursor absent), page by page, then long-polls
    from the returned cursor until stop is set. Failures go to errors."""
    try:
        while True:
            resp = sync(token, cursor=replica.cursor, limit=limit)
            body = expect(resp, 200, "snapshot page")
            replica.apply(body)
            if not body["hasMore"]:
                break
        while not stop.is_set():
            resp = sync(token, cursor=replica.cursor, limit=limit, live=True,
                        timeout=live_timeout)
            replica.apply(expect(resp, 200, "long-poll"))
    except Exception as e:  # reported by the test's thread
        if errors is not None:
            errors.append(e)
        else:
            raise


def writer(token, changes, errors, tag, pause=0.0):
    """Makes `changes` writes: a chat, appends, edits, deletes, a title change."""
    try:
        chat = create_chat(token, "chat " + tag)
        live = []
        for i in range(1, changes):
            kind = i % 10
            if kind in (3, 6) and live:
                patch_message(token, live[(i * 7) % len(live)], "edit %s %d" % (tag, i))
            elif kind == 8 and live:
                delete_message(token, live.pop((i * 3) % len(live)))
            elif kind == 9:
                patch_chat(token, chat["id"], "title %s %d" % (tag, i))
            else:
                live.append(append(token, chat["id"], "msg %s %d" % (tag, i))["id"])
            if pause:
                time.sleep(pause)
    except Exception as e:
        errors.append(e)


def run_threads(targets):
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    return threads


def join_all(testcase, threads, timeout):
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    testcase.assertFalse([t for t in threads if t.is_alive()], "threads still running")


class LongPoll:
    """A long-poll in a thread: .resp and .done_at (monotonic) once it answered."""

    def __init__(self, token, cursor, timeout, limit=None):
        self.resp, self.error, self.done_at = None, None, None
        self.started_at = time.monotonic()
        self.thread = threading.Thread(target=self._run, args=(token, cursor, timeout, limit),
                                       daemon=True)
        self.thread.start()

    def _run(self, token, cursor, timeout, limit):
        try:
            self.resp = sync(token, cursor=cursor, limit=limit, live=True, timeout=timeout)
        except Exception as e:
            self.error = e
        self.done_at = time.monotonic()

    def join(self, timeout):
        self.thread.join(timeout)
        if self.thread.is_alive():
            raise AssertionError("long-poll did not answer within %s s" % timeout)
        if self.error:
            raise self.error
        return self.resp


def redis_pid():
    with open(os.path.join(lib.RUN_DIR, "pid", "redis.pid")) as f:
        return int(f.read().strip())


def sync_log_count(text):
    try:
        with open(os.path.join(lib.RUN_DIR, "log", "sync.log"), errors="replace") as f:
            return f.read().count(text)
    except OSError:
        return 0


def redis_alive():
    try:
        return lib.process_alive(redis_pid())
    except (OSError, ValueError):
        return False

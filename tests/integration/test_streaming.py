"""Streamed assistant replies through nginx against the real stack (docs/API.md,
"Streamed assistant replies"): chunks reach every live device in order, a device
that joins or reconnects mid-stream (Last-Event-ID, a sync-svc killed with
SIGKILL) ends with exactly the final text, Postgres gets one row update per
window, and the routes answer retries, gaps, other users and bounds as
documented."""
import json
import os
import signal
import threading
import time
import unittest

import lib
import sse
from test_edge import reload_nginx, restore_nginx
from sync_client import create_chat, new_user, q, report, sync_ok, sync_path

# tests/run.py's stack: STREAM_FLUSH_MS default (250), STREAM_IDLE_TIMEOUT_MS 3000
WINDOW_S = 0.25
IDLE_TIMEOUT_S = 3.0
RECONNECT_DEADLINE_S = 30


def create_streaming(token, chat_id, content="", message_id=None, query=""):
    body = {"role": "assistant", "content": content, "streamState": "streaming"}
    if message_id:
        body["id"] = message_id
    return lib.post("/api/chats/%s/messages%s" % (q(chat_id), query), body, token=token)


def chunk(token, message_id, seq, text, query=""):
    return lib.post("/api/messages/%s/chunks%s" % (q(message_id), query),
                    {"seq": seq, "text": text}, token=token)


def end(token, message_id, state, seq, query=""):
    return lib.post("/api/messages/%s/end%s" % (q(message_id), query),
                    {"state": state, "seq": seq}, token=token)


def chunk_text(seq):
    # multi-byte characters too: a chunk is whole UTF-8, and so is every window
    return "t%d%s " % (seq, "é" if seq % 7 == 0 else "")


# ---- counting the row's updates: a trigger on the test database ----

COUNT_PREFIX = "tstream_"


def install_update_counter():
    lib.psql("CREATE TABLE IF NOT EXISTS test_stream_updates (message_id text NOT NULL)")
    lib.psql("CREATE OR REPLACE FUNCTION test_stream_count() RETURNS trigger AS $$ BEGIN "
             "INSERT INTO test_stream_updates VALUES (NEW.id); RETURN NEW; END $$ "
             "LANGUAGE plpgsql")
    lib.psql("DROP TRIGGER IF EXISTS test_stream_count ON messages")
    lib.psql("CREATE TRIGGER test_stream_count AFTER UPDATE ON messages FOR EACH ROW "
             "WHEN (NEW.id LIKE '%s%%') EXECUTE FUNCTION test_stream_count()" % COUNT_PREFIX)


def row_updates(message_id):
    return int(lib.psql("SELECT count(*) FROM test_stream_updates WHERE message_id = '%s'"
                        % message_id)[0][0])


class Device:
    """One SSE client of the user: applies the feed to its copy of one message as
    docs/API.md says a client does, records every chunk that is not the next one
    (a gap, a duplicate, a reordering), and reconnects with Last-Event-ID when
    its stream ends (sync-svc killed) or when asked to."""

    def __init__(self, token, message_id, cursor=None, doc=None):
        """cursor and doc: where the device stands after a delta sync, and the
        message's document it got there (None: it starts from nothing)."""
        self.token, self.message_id = token, message_id
        self.text, self.seq, self.state = None, 0, None
        if doc:
            self.text, self.seq, self.state = doc["content"], doc["streamSeq"], doc["streamState"]
        self.violations, self.chunks, self.reconnects = [], 0, 0
        self.last_id, self.cursor = None, cursor
        self.stream = None
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.errors = []
        self._open()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _open(self):
        deadline = time.monotonic() + RECONNECT_DEADLINE_S
        while True:
            try:
                stream = sse.open_stream(sync_path(self.cursor), token=self.token,
                                         last_event_id=self.last_id)
                if stream.status == 200:
                    self.stream = stream
                    return
            except OSError:
                pass
            if time.monotonic() >= deadline:
                raise AssertionError("could not open a stream within %d s" %
                                     RECONNECT_DEADLINE_S)
            time.sleep(0.2)

    def _apply(self, event):
        body = event.json if hasattr(event, "json") else json.loads(event.data)
        with self.lock:
            if event.event == "changes":
                for change in body["changes"]:
                    if change["table"] != "messages" or change["id"] != self.message_id:
                        continue
                    doc = change["doc"]
                    if (self.text is None or doc["streamState"] != "streaming" or
                            doc["streamSeq"] >= self.seq):
                        self.text, self.seq = doc["content"], doc["streamSeq"]
                    self.state = doc["streamState"]
            elif event.event == "chunk" and body["messageId"] == self.message_id:
                self.chunks += 1
                if self.text is None or body["seq"] != self.seq + 1:
                    self.violations.append((body["seq"], self.seq, self.text is None))
                else:
                    self.text += body["text"]
                    self.seq = body["seq"]
            if event.id:
                self.last_id = event.id

    def _run(self):
        try:
            while not self.stop.is_set():
                item = self.stream.next(0.5)
                if isinstance(item, sse.Event):
                    self._apply(item)
                elif isinstance(item, sse.EOF) and not self.stop.is_set():
                    self.stream.close()
                    self.reconnects += 1
                    self._open()
        except Exception as e:  # a failed reconnect fails the test, not silently
            self.errors.append(e)

    def reconnect(self):
        """Closes the stream and opens another with Last-Event-ID (as a browser does)."""
        with self.lock:
            old = self.stream
        old.close()  # the reader thread sees EOF and reopens with self.last_id

    def snapshot(self):
        with self.lock:
            return self.text, self.seq, self.state

    def close(self):
        self.stop.set()
        self.thread.join(10)
        if self.stream:
            self.stream.close()


class TestStreamingRoutes(unittest.TestCase):
    """The routes' answers: retries, gaps, other users, states, bounds, auth."""

    def setUp(self):
        self.user, self.token = new_user("stream")
        self.chat = create_chat(self.token)

    def new_stream(self, content=""):
        resp = create_streaming(self.token, self.chat["id"], content)
        self.assertEqual(resp.status, 201, resp)
        message = resp.json["message"]
        self.assertEqual((message["streamState"], message["streamSeq"]), ("streaming", 0))
        return message

    def test_retried_chunk_is_not_appended_twice_and_a_gap_is_refused(self):
        message = self.new_stream("Hi")
        self.assertEqual(chunk(self.token, message["id"], 1, " there").status, 200)
        again = chunk(self.token, message["id"], 1, " there")
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.header("Idempotent-Replay"), "true")
        self.assertEqual((again.json["seq"], again.json["bytes"]), (1, len("Hi there")))
        gap = chunk(self.token, message["id"], 3, "!")
        lib.assert_error_body(gap, 409, "conflict")
        self.assertEqual(gap.json["error"]["message"], "seq: expected 2")
        self.assertEqual(chunk(self.token, message["id"], 2, "!").status, 200)
        lost_last = end(self.token, message["id"], "complete", 3)
        lib.assert_error_body(lost_last, 409, "conflict")
        self.assertEqual(lost_last.json["error"]["message"], "seq: the stream has 2 chunks")
        done = end(self.token, message["id"], "complete", 2)
        self.assertEqual(done.status, 200, done)
        self.assertEqual(done.json["message"]["content"], "Hi there!")
        self.assertEqual((done.json["message"]["streamState"],
                          done.json["message"]["streamSeq"]), ("complete", 2))
        repeated = end(self.token, message["id"], "complete", 2)
        self.assertEqual(repeated.status, 200, repeated)
        self.assertEqual(repeated.header("Idempotent-Replay"), "true")
        after_end = chunk(self.token, message["id"], 3, "late")
        lib.assert_error_body(after_end, 409, "conflict")
        self.assertEqual(after_end.json["error"]["message"], "message is not streaming")
        other_state = end(self.token, message["id"], "error", 2)
        lib.assert_error_body(other_state, 409, "conflict")

    def test_appending_to_a_message_that_never_streamed_or_of_another_user_is_refused(self):
        plain = lib.post("/api/chats/%s/messages" % q(self.chat["id"]),
                         {"role": "assistant", "content": "done"}, token=self.token)
        self.assertEqual(plain.json["message"]["streamState"], "complete")
        refused = chunk(self.token, plain.json["message"]["id"], 1, "x")
        lib.assert_error_body(refused, 409, "conflict")
        self.assertEqual(refused.json["error"]["message"], "message is not streaming")
        message = self.new_stream()
        _, other = new_user("stream_other")
        lib.assert_error_body(chunk(other, message["id"], 1, "x"), 404, "not_found")
        lib.assert_error_body(end(other, message["id"], "complete", 0), 404, "not_found")
        lib.assert_error_body(chunk(self.token, "no_such_message", 1, "x"), 404, "not_found")
        user_role = lib.post("/api/chats/%s/messages" % q(self.chat["id"]),
                             {"role": "user", "content": "", "streamState": "streaming"},
                             token=self.token)
        lib.assert_error_body(user_role, 400, "bad_request")

    def test_service_token_appends_for_the_named_user_only(self):
        service = os.environ["IMPORT_TOKEN"]
        as_user = "?userId=" + q(self.user)
        resp = create_streaming(service, self.chat["id"], "A", query=as_user)
        self.assertEqual(resp.status, 201, resp)
        message = resp.json["message"]
        self.assertEqual(message["userId"], self.user)
        self.assertEqual(chunk(service, message["id"], 1, "B", query=as_user).status, 200)
        someone_else = "?userId=" + q(lib.unique("stream_nobody"))
        lib.assert_error_body(chunk(service, message["id"], 2, "C", query=someone_else),
                              404, "not_found")
        lib.assert_error_body(chunk(service, message["id"], 2, "C"), 401, "unauthorized")
        lib.assert_error_body(chunk(service + "x", message["id"], 2, "C", query=as_user),
                              401, "unauthorized")
        done = end(service, message["id"], "complete", 1, query=as_user)
        self.assertEqual(done.json["message"]["content"], "AB")

    def test_bounds_chunk_size_total_content_and_streams_per_user(self):
        message = self.new_stream("x" * (1024 * 1024 - 10))
        big = chunk(self.token, message["id"], 1, "y" * (64 * 1024 + 1))
        lib.assert_error_body(big, 400, "bad_request")
        self.assertEqual(big.json["error"]["message"], "text: must be 1 to 65536 bytes")
        lib.assert_error_body(chunk(self.token, message["id"], 1, ""), 400, "bad_request")
        self.assertEqual(chunk(self.token, message["id"], 1, "y" * 10).status, 200)
        over = chunk(self.token, message["id"], 2, "z")
        lib.assert_error_body(over, 400, "bad_request")
        self.assertEqual(over.json["error"]["message"], "content: must be at most 1 MiB")
        deep = lib.post("/api/messages/%s/chunks" % q(message["id"]),
                        data=("[" * 100 + "]" * 100).encode(), token=self.token,
                        content_type="application/json")
        lib.assert_error_body(deep, 400, "bad_request")
        self.assertEqual(end(self.token, message["id"], "complete", 1).json["message"]
                         ["content"], "x" * (1024 * 1024 - 10) + "y" * 10)
        streams = [self.new_stream() for _ in range(8)]
        ninth = create_streaming(self.token, self.chat["id"])
        lib.assert_error_body(ninth, 429, "rate_limited")
        self.assertEqual(end(self.token, streams[0]["id"], "error", 0).status, 200)
        self.assertEqual(create_streaming(self.token, self.chat["id"]).status, 201)

    def test_chunks_over_the_rate_of_one_message_are_429_and_other_messages_and_writes_go_on(self):
        first, second = self.new_stream(), self.new_stream()
        reload_nginx(CHUNK_RATE_LIMIT="1r/m", CHUNK_RATE_BURST="3",
                     WRITE_RATE_LIMIT="1r/m", WRITE_RATE_BURST="6")
        try:
            statuses = [chunk(self.token, first["id"], seq, "x").status for seq in range(1, 9)]
            allowed = statuses.index(429) if 429 in statuses else len(statuses)
            self.assertTrue(1 <= allowed <= 4, statuses)
            self.assertEqual(statuses, [200] * allowed + [429] * (8 - allowed))
            lib.assert_error_body(chunk(self.token, first["id"], allowed + 1, "x"), 429,
                                  "rate_limited")
            # the limit is the message's: another reply of the same address goes on,
            # and chunks do not spend the address's write rate
            self.assertEqual(chunk(self.token, second["id"], 1, "y").status, 200)
            self.assertEqual(lib.post("/api/chats", {"title": "w"}, token=self.token).status,
                             201)
        finally:
            restore_nginx()

    def test_content_of_a_streaming_message_cannot_be_patched(self):
        message = self.new_stream()
        resp = lib.request("PATCH", "/api/messages/%s" % q(message["id"]),
                           json_body={"content": "overwrite"}, token=self.token)
        lib.assert_error_body(resp, 409, "conflict")
        self.assertEqual(resp.json["error"]["message"], "message is streaming")

    def test_a_reply_deleted_while_it_streams_ends_and_refuses_later_chunks(self):
        message = self.new_stream("gone")
        self.assertEqual(chunk(self.token, message["id"], 1, " soon").status, 200)
        deleted = lib.request("DELETE", "/api/messages/%s" % q(message["id"]), token=self.token)
        self.assertEqual(deleted.status, 200, deleted)
        self.assertTrue(deleted.json["message"]["isDeleted"])
        self.assertEqual(deleted.json["message"]["streamState"], "error")
        # its Redis state ended with it: the writer's next chunk is refused, not fed to devices
        late = chunk(self.token, message["id"], 2, " late")
        self.assertIn(late.status, (404, 409), late)
        self.assertEqual(lib.psql("SELECT stream_state, is_deleted FROM messages WHERE id = '%s'"
                                  % message["id"]), [("error", "t")])

    def test_abandoned_stream_is_ended_as_error_with_what_was_kept(self):
        message = self.new_stream("kept:")
        for seq in range(1, 4):
            self.assertEqual(chunk(self.token, message["id"], seq, " %d" % seq).status, 200)
        started = time.monotonic()

        def ended():
            rows = lib.psql("SELECT stream_state, stream_seq, content FROM messages "
                            "WHERE id = '%s'" % message["id"])
            return rows[0] if rows and rows[0][0] != "streaming" else None

        row = lib.wait_for(ended, IDLE_TIMEOUT_S + 10, 0.2)
        self.assertEqual(row, ("error", "3", "kept: 1 2 3"))
        self.assertGreaterEqual(time.monotonic() - started, IDLE_TIMEOUT_S - 0.5)
        lib.assert_error_body(chunk(self.token, message["id"], 4, "late"), 409, "conflict")

    def test_delta_sync_and_long_poll_carry_the_stream(self):
        message = self.new_stream("a")
        body = sync_ok(self, self.token)
        docs = [ch["doc"] for ch in body["changes"] if ch["id"] == message["id"]]
        self.assertEqual((docs[-1]["streamState"], docs[-1]["streamSeq"]), ("streaming", 0))
        replica = {"text": "a", "seq": 0, "chunks": []}
        cursor = [body["cursor"]]

        def poll_until(seq):
            """Long-polls, applying what comes as a client does, until chunk seq is in."""
            deadline = time.monotonic() + 20
            while replica["seq"] < seq and time.monotonic() < deadline:
                resp = lib.get(sync_path(cursor[0], live=True, timeout=5), token=self.token,
                               timeout=30)
                self.assertEqual(resp.status, 200, resp)
                for change in resp.json["changes"]:
                    doc = change["doc"]
                    if change["id"] == message["id"] and doc["streamSeq"] >= replica["seq"]:
                        replica["text"], replica["seq"] = doc["content"], doc["streamSeq"]
                for c in resp.json.get("chunks", []):
                    replica["chunks"].append(c["seq"])
                    self.assertEqual((c["messageId"], c["seq"]), (message["id"],
                                                                   replica["seq"] + 1))
                    replica["text"] += c["text"]
                    replica["seq"] = c["seq"]
                cursor[0] = resp.json["cursor"]

        poller = threading.Thread(target=poll_until, args=(1,))
        poller.start()
        time.sleep(0.5)
        self.assertEqual(chunk(self.token, message["id"], 1, "b").status, 200)
        poller.join(30)
        self.assertEqual((replica["text"], replica["seq"]), ("ab", 1))
        # the cursor counts what was sent: the next polls never send chunk 1 again
        self.assertEqual(chunk(self.token, message["id"], 2, "c").status, 200)
        poll_until(2)
        self.assertEqual((replica["text"], replica["seq"]), ("abc", 2))
        self.assertEqual(len(replica["chunks"]), len(set(replica["chunks"])), replica)
        self.assertGreater(len(replica["chunks"]), 0, "no chunk came live")
        end(self.token, message["id"], "complete", 2)
        final = sync_ok(self, self.token, cursor=cursor[0])
        doc = [ch["doc"] for ch in final["changes"] if ch["id"] == message["id"]][-1]
        self.assertEqual((doc["content"], doc["streamState"], doc["streamSeq"]),
                         ("abc", "complete", 2))


class TestStreamingToDevices(unittest.TestCase):
    """2,000 chunks at 50 per second to three live devices of one user, a fourth
    that joins at chunk 1,000, a Last-Event-ID reconnect and a sync-svc killed
    with SIGKILL on the way: every device ends with exactly the final text, with
    no chunk out of order, missing or repeated; the row is updated once per
    window at most."""

    CHUNKS = 2000
    RATE = 50.0

    @classmethod
    def setUpClass(cls):
        install_update_counter()

    def test_devices_reconstruct_the_final_text_through_joins_reconnects_and_a_kill(self):
        user, token = new_user("stream_devices")
        chat = create_chat(token)
        message_id = lib.unique(COUNT_PREFIX)
        resp = create_streaming(token, chat["id"], "", message_id=message_id)
        self.assertEqual(resp.status, 201, resp)
        delta = sync_ok(self, token)
        doc = [ch["doc"] for ch in delta["changes"] if ch["id"] == message_id][-1]
        devices = [Device(token, message_id, delta["cursor"], doc) for _ in range(3)]
        late = None
        expected = "".join(chunk_text(seq) for seq in range(1, self.CHUNKS + 1))
        started = time.monotonic()
        try:
            for seq in range(1, self.CHUNKS + 1):
                due = started + (seq - 1) / self.RATE
                pause = due - time.monotonic()
                if pause > 0:
                    time.sleep(pause)
                answer = chunk(token, message_id, seq, chunk_text(seq))
                self.assertEqual(answer.status, 200, answer)
                if seq == 1000:
                    late = Device(token, message_id)  # opens the chat mid-stream
                if seq == 1300:
                    devices[0].reconnect()
                if seq == 1600:
                    pid = lib.service_pid("sync")
                    os.kill(pid, signal.SIGKILL)
            stream_ended = time.monotonic()
            done = end(token, message_id, "complete", self.CHUNKS)
            self.assertEqual(done.status, 200, done)
            duration = time.monotonic() - started
            self.assertEqual(done.json["message"]["content"], expected)
            everyone = devices + [late]

            def all_final():
                return all(d.snapshot() == (expected, self.CHUNKS, "complete")
                           for d in everyone)

            lib.wait_for(all_final, 20, 0.1)
            for i, device in enumerate(everyone):
                self.assertEqual(device.errors, [], "device %d" % i)
                self.assertEqual(device.violations, [], "device %d: chunks out of order" % i)
                text, seq, state = device.snapshot()
                self.assertEqual((seq, state), (self.CHUNKS, "complete"), "device %d" % i)
                self.assertEqual(text, expected, "device %d" % i)
            # the streams lived through the kill: each device reconnected at least once
            self.assertTrue(all(d.reconnects >= 1 for d in everyone))
            # chunks reached the devices live, not only as the final document
            self.assertGreater(devices[1].chunks, self.CHUNKS // 2)
            updates = row_updates(message_id)
            bound = duration / WINDOW_S + 2
            report("streaming: %d chunks in %.1f s (writer %.1f s): %d row updates "
                   "(bound %.0f); device reconnects %s" % (
                       self.CHUNKS, duration, stream_ended - started, updates, bound,
                       [d.reconnects for d in everyone]))
            self.assertLessEqual(updates, bound)
            self.assertGreater(updates, 2, "the text reached Postgres in windows, not once")
        finally:
            for device in devices + ([late] if late else []):
                device.close()


if __name__ == "__main__":
    unittest.main()

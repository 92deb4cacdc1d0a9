"""Sync (API.md "Sync"; DESIGN.md hard parts 1, 4 and 7): delta sync after a
cursor in version order with whole-change pages, tombstones, long-poll and
Server-Sent Events woken by Redis (and still delivering when Redis is down),
token expiry on a stream, and per-device sync status.

Every write goes through the chats and messages API; the database (psql) is
the reference a client's replica is compared with."""
import json
import os
import signal
import statistics
import subprocess
import threading
import time
import unittest

import lib
import sse
from sync_client import (LongPoll, Replica, append, assert_replica_is_database, create_chat,
                         db_last_version, db_rows, delete_chat, delete_message, follow,
                         full_sync, join_all, new_user, patch_chat, patch_message, q,
                         raw_cursor, redis_alive, redis_pid, report, run_threads, sync,
                         sync_log_count, sync_ok, sync_path, token_exp, writer)

LONG_POLL_MAX_S = 60


# ---- delta sync ----

class DeltaTest(unittest.TestCase):
    def setUp(self):
        self.user, self.token = new_user("user_sync_delta")

    def make_changes(self):
        """A chat, five messages, an edit and a delete; the documents as last written."""
        docs = {}
        chat = create_chat(self.token, "delta")
        docs[("chats", chat["id"])] = chat
        messages = [append(self.token, chat["id"], "m%d" % i) for i in range(5)]
        for m in messages:
            docs[("messages", m["id"])] = m
        m = patch_message(self.token, messages[1]["id"], "edited")
        docs[("messages", m["id"])] = m
        m = delete_message(self.token, messages[3]["id"])
        docs[("messages", m["id"])] = m
        return docs

    def test_sync_lists_every_change_in_version_order_with_the_last_written_documents(self):
        docs = self.make_changes()
        body = full_sync(self, self.token)
        versions = [ch["version"] for ch in body["changes"]]
        self.assertEqual(versions, sorted(set(versions)), "not in strictly increasing version order")
        got = {(ch["table"], ch["id"]): ch for ch in body["changes"]}
        self.assertEqual(len(got), len(body["changes"]), "a row listed twice")
        self.assertEqual(set(got), set(docs))
        for key, doc in docs.items():
            self.assertEqual(got[key]["doc"], doc, key)
            self.assertEqual(got[key]["version"], doc["version"])
            self.assertEqual(got[key]["op"], "delete" if doc["isDeleted"] else "upsert")

    def test_changes_after_a_cursor_are_exactly_those_with_a_higher_version(self):
        self.make_changes()
        every = full_sync(self, self.token)["changes"]
        # walk the feed one change at a time, keeping each page's cursor
        cursors, cursor = [None], None
        for _ in every:
            body = sync_ok(self, self.token, cursor=cursor, limit=1)
            cursor = body["cursor"]
            cursors.append(cursor)
        for i, cursor in enumerate(cursors):
            with self.subTest(after=i):
                self.assertEqual(full_sync(self, self.token, cursor)["changes"], every[i:])
        more = append(self.token, every[0]["id"], "later")
        body = full_sync(self, self.token, cursors[-1])
        self.assertEqual([(ch["id"], ch["version"]) for ch in body["changes"]],
                         [(more["id"], more["version"])])

    def test_limit_pages_with_has_more_never_split_nor_skip_a_change(self):
        chat = create_chat(self.token, "pages")
        for i in range(19):
            append(self.token, chat["id"], "p%d" % i)
        every = full_sync(self, self.token)["changes"]
        self.assertEqual(len(every), 20)
        for limit in (1, 3, 7, 20, 21):
            with self.subTest(limit=limit):
                pages, cursor = [], None
                while True:
                    body = sync_ok(self, self.token, cursor=cursor, limit=limit)
                    pages.append(body["changes"])
                    cursor = body["cursor"]
                    if not body["hasMore"]:
                        break
                    self.assertEqual(len(body["changes"]), limit, "hasMore on a short page")
                    self.assertLess(len(pages), 30, "paging does not end")
                self.assertTrue(all(len(p) <= limit for p in pages))
                self.assertEqual([ch for p in pages for ch in p], every)
                want_pages = -(-len(every) // limit)
                self.assertEqual(len([p for p in pages if p]), want_pages)
                # the last page's cursor is the end: nothing after it
                last = sync_ok(self, self.token, cursor=cursor, limit=limit)
                self.assertEqual((last["changes"], last["hasMore"], last["cursor"]),
                                 ([], False, cursor))

    def test_a_branch_appears_whole_as_one_change_per_row_in_small_pages(self):
        chat = create_chat(self.token, "trunk")
        messages = [append(self.token, chat["id"], "t%d" % i) for i in range(4)]
        cursor = full_sync(self, self.token)["cursor"]
        resp = lib.post("/api/chats/%s/branch" % q(chat["id"]),
                        {"fromMessageId": messages[2]["id"], "title": "branch"}, token=self.token)
        self.assertEqual(resp.status, 201, resp)
        branch, copies = resp.json["chat"], resp.json["messages"]
        self.assertEqual(len(copies), 3)
        changes = []
        while True:
            body = sync_ok(self, self.token, cursor=cursor, limit=2)
            changes += body["changes"]
            cursor = body["cursor"]
            if not body["hasMore"]:
                break
        versions = [ch["version"] for ch in changes]
        self.assertEqual(versions, sorted(set(versions)))
        got = {(ch["table"], ch["id"]): ch["doc"] for ch in changes}
        self.assertEqual(set(got), {("chats", branch["id"]), ("chats", chat["id"])} |
                         {("messages", m["id"]) for m in copies})
        self.assertEqual(got[("chats", branch["id"])], branch)
        self.assertEqual(got[("chats", chat["id"])]["branches"], [branch["id"]])
        for m in copies:
            self.assertEqual(got[("messages", m["id"])], m)

    def test_delete_appears_as_a_tombstone_after_the_cursor(self):
        chat = create_chat(self.token, "doomed")
        message = append(self.token, chat["id"], "bye")
        cursor = full_sync(self, self.token)["cursor"]
        deleted_message = delete_message(self.token, message["id"])
        deleted_chat = delete_chat(self.token, chat["id"])
        body = full_sync(self, self.token, cursor)
        self.assertEqual([(ch["table"], ch["op"], ch["id"], ch["version"])
                          for ch in body["changes"]],
                         [("messages", "delete", message["id"], deleted_message["version"]),
                          ("chats", "delete", chat["id"], deleted_chat["version"])])
        self.assertTrue(all(ch["doc"]["isDeleted"] for ch in body["changes"]))
        self.assertEqual(body["changes"][0]["doc"], deleted_message)
        self.assertEqual(body["changes"][1]["doc"], deleted_chat)

    def test_cursor_absent_or_zero_is_everything(self):
        docs = self.make_changes()
        absent = full_sync(self, self.token)
        zero = full_sync(self, self.token, "0")
        self.assertEqual(absent["changes"], zero["changes"])
        self.assertEqual(absent["cursor"], zero["cursor"])
        live_rows = {k for k, d in docs.items() if not d["isDeleted"]}
        self.assertTrue(live_rows <= {(ch["table"], ch["id"]) for ch in absent["changes"]})
        # the cursor of everything is the highest version
        self.assertEqual(full_sync(self, self.token, absent["cursor"])["changes"], [])
        self.assertEqual(absent["changes"][-1]["version"], max(d["version"] for d in docs.values()))

    def test_new_user_sync_is_empty(self):
        body = sync_ok(self, self.token)
        self.assertEqual((body["changes"], body["hasMore"]), ([], False))
        self.assertEqual(full_sync(self, self.token, body["cursor"])["changes"], [])

    def test_malformed_cursor_is_400(self):
        create_chat(self.token, "a")
        create_chat(self.token, "b")
        chats_cursor = lib.get("/api/chats?limit=1", token=self.token).json["nextCursor"]
        self.assertTrue(chats_cursor)
        for cursor in ("!!!", "zz", "x", "MTo=", raw_cursor("abc:"), raw_cursor("-1:"),
                       raw_cursor("5:extra"), raw_cursor("99999999999999999999:"), chats_cursor,
                       "A" * 2000):
            with self.subTest(cursor=cursor[:40]):
                resp = sync(self.token, cursor=cursor)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn("cursor", resp.json["error"]["message"])

    def test_bad_limit_is_400(self):
        for limit in ("0", "-1", "1001", "abc", "1.5", "7x"):
            with self.subTest(limit=limit):
                resp = sync(self.token, limit=limit)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn("limit", resp.json["error"]["message"])
        self.assertEqual(sync(self.token, limit=1000).status, 200)

    def test_sync_never_contains_another_users_change(self):
        other, other_token = new_user("user_sync_other")
        mine = self.make_changes()
        theirs = {}
        chat = create_chat(other_token, "theirs")
        theirs[chat["id"]] = chat
        for i in range(3):
            m = append(other_token, chat["id"], "secret %d" % i)
            theirs[m["id"]] = m
        # interleave: mine, theirs, mine
        mine_more = append(self.token, next(k[1] for k in mine if k[0] == "chats"), "again")
        for token, user, own, foreign in ((self.token, self.user,
                                           {k[1] for k in mine} | {mine_more["id"]}, theirs),
                                          (other_token, other, set(theirs),
                                           {k[1] for k in mine})):
            with self.subTest(user=user):
                changes = full_sync(self, token)["changes"]
                ids = {ch["id"] for ch in changes}
                self.assertFalse(ids & set(foreign), "another user's change in the feed")
                self.assertTrue({ch["doc"]["userId"] for ch in changes} <= {user})
                self.assertTrue(ids <= own)

    def test_sync_without_token_is_401(self):
        lib.assert_error_body(lib.get("/api/sync"), 401, "unauthorized")


# ---- live: snapshot then long-poll, under concurrent writers ----

class LiveConsistencyTest(unittest.TestCase):
    def test_snapshot_then_live_from_its_cursor_misses_nothing_written_meanwhile(self):
        user, token = new_user("user_sync_snap")
        errors, stop = [], threading.Event()
        writer(token, 15, errors, "pre")
        writers = run_threads([lambda i=i: writer(token, 30, errors, "w%d" % i, pause=0.005)
                               for i in range(3)])
        time.sleep(0.2)  # the snapshot is taken while the writers run
        replica = Replica(user, limit=5)
        client = run_threads([lambda: follow(replica, token, 5, stop, 2, errors)])
        join_all(self, writers, 60)
        self.assertEqual(errors, [])
        last = db_last_version(user)
        caught_up = lib.wait_for(lambda: replica.last_version >= last, timeout=10)
        stop.set()
        join_all(self, client, 15)
        self.assertEqual(errors, [])
        self.assertTrue(caught_up, "live client stopped at version %d of %d" % (
            replica.last_version, last))
        assert_replica_is_database(self, replica, db_rows(user), tombstones_required=False)

    def test_ten_writers_and_three_paging_live_clients_end_with_the_database_state(self):
        user, token = new_user("user_sync_many")
        errors, stop = [], threading.Event()
        writer(token, 20, errors, "pre")  # so that the snapshots take several pages
        replicas = [Replica(user, limit=7) for _ in range(3)]
        started = time.monotonic()
        writers = run_threads([lambda i=i: writer(token, 100, errors, "w%d" % i)
                               for i in range(10)])
        clients = []
        for r in replicas:
            clients += run_threads([lambda r=r: follow(r, token, 7, stop, 2, errors)])
            time.sleep(0.3)  # the three snapshots start at different points of the writes
        join_all(self, writers, 120)
        wrote = time.monotonic() - started
        self.assertEqual(errors, [])
        db = db_rows(user)
        last = max(v for v, _, _ in db.values())
        caught_up = lib.wait_for(lambda: all(r.last_version >= last for r in replicas),
                                 timeout=10)
        stop.set()
        join_all(self, clients, 15)
        self.assertEqual(errors, [])
        self.assertTrue(caught_up, "live clients stopped at %r of version %d" % (
            [r.last_version for r in replicas], last))
        self.assertGreaterEqual(len(db), 10 * 60, "the writers wrote less than expected")
        for i, r in enumerate(replicas):
            with self.subTest(client=i):
                assert_replica_is_database(self, r, db, tombstones_required=False)
        report("10 writers x 100 changes with 3 live clients: %.1f s of writes, %d rows, "
               "last version %d, changes seen per client %r" % (
                   wrote, len(db), last, [len(r.seen) for r in replicas]))


# ---- long-poll ----

class LongPollTest(unittest.TestCase):
    def setUp(self):
        self.user, self.token = new_user("user_sync_poll")
        self.chat = create_chat(self.token, "poll")
        self.cursor = full_sync(self, self.token)["cursor"]

    def test_long_poll_answers_at_once_when_changes_exist(self):
        message = append(self.token, self.chat["id"], "waiting already")
        resp = sync(self.token, cursor=self.cursor, live=True, timeout=10)
        self.assertEqual(resp.status, 200, resp)
        self.assertLess(resp.elapsed, 2.0, "a long-poll with changes waited")
        self.assertEqual([ch["id"] for ch in resp.json["changes"]], [message["id"]])

    def test_long_poll_without_changes_answers_after_timeout_with_same_cursor(self):
        resp = sync(self.token, cursor=self.cursor, live=True, timeout=2)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json, {"changes": [], "cursor": self.cursor, "hasMore": False})
        self.assertGreaterEqual(resp.elapsed, 1.9)
        self.assertLess(resp.elapsed, 4.0)
        resp = sync(self.token, cursor=self.cursor, live=True, timeout=0)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["changes"], [])
        self.assertLess(resp.elapsed, 1.5, "timeout=0 must answer at once")

    def test_long_poll_timeout_over_60_or_malformed_is_400(self):
        for timeout in (str(LONG_POLL_MAX_S + 1), "3600", "-1", "abc"):
            with self.subTest(timeout=timeout):
                resp = sync(self.token, cursor=self.cursor, live=True, timeout=timeout)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn("timeout", resp.json["error"]["message"])
                self.assertLess(resp.elapsed, 2.0)

    def test_long_poll_malformed_cursor_is_400_at_once(self):
        resp = sync(self.token, cursor="!!", live=True, timeout=5)
        lib.assert_error_body(resp, 400, "bad_request")
        self.assertLess(resp.elapsed, 2.0)

    def test_long_poll_wakes_within_a_second_of_a_commit(self):
        latencies, from_request, cursor = [], [], self.cursor
        for i in range(5):
            poll = LongPoll(self.token, cursor, timeout=20)
            time.sleep(0.4)  # the poll is waiting in sync-svc
            sent = time.monotonic()
            message = append(self.token, self.chat["id"], "wake %d" % i)
            written = time.monotonic()
            resp = poll.join(10)
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual([ch["id"] for ch in resp.json["changes"]], [message["id"]])
            self.assertGreater(poll.done_at - poll.started_at, 0.3,
                               "the long-poll answered before the write")
            latencies.append(max(0.0, poll.done_at - written))
            from_request.append(poll.done_at - sent)
            cursor = resp.json["cursor"]
        report("long-poll wake latency: after the write's response median %.1f ms, max %.1f ms; "
               "after the write's request median %.1f ms, max %.1f ms" % (
                   statistics.median(latencies) * 1000, max(latencies) * 1000,
                   statistics.median(from_request) * 1000, max(from_request) * 1000))
        self.assertLess(max(latencies), 1.0, latencies)

    def test_a_write_does_not_wake_another_users_long_poll_into_data(self):
        other, other_token = new_user("user_sync_bystander")
        create_chat(other_token, "b")
        other_cursor = full_sync(self, other_token)["cursor"]
        poll = LongPoll(other_token, other_cursor, timeout=2)
        time.sleep(0.3)
        for i in range(3):
            append(self.token, self.chat["id"], "not for b %d" % i)
        resp = poll.join(10)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json, {"changes": [], "cursor": other_cursor, "hasMore": False})
        self.assertGreaterEqual(poll.done_at - poll.started_at, 1.9,
                                "B's long-poll answered before its timeout")
        # and A's changes are there for A
        self.assertEqual(len(full_sync(self, self.token, self.cursor)["changes"]), 3)


# ---- Server-Sent Events ----

class EventStreamTest(unittest.TestCase):
    def setUp(self):
        self.user, self.token = new_user("user_sync_sse")
        self.streams = []

    def tearDown(self):
        for s in self.streams:
            s.close()

    def open(self, cursor=None, limit=None, token=None, last_event_id=None, timeout=10):
        stream = sse.open_stream(sync_path(cursor, limit), token=token or self.token,
                                 last_event_id=last_event_id, timeout=timeout)
        self.streams.append(stream)
        return stream

    def collect(self, stream, count, timeout=10):
        """Events until `count` changes arrived; each event checked against the format."""
        events, changes = [], []
        deadline = time.monotonic() + timeout
        while len(changes) < count:
            item = stream.next_event(deadline - time.monotonic())
            self.assertIsInstance(item, sse.Event, "want %d changes, got %d, then %r" % (
                count, len(changes), item))
            self.assertEqual(item.event, "changes", item)
            self.assertIsInstance(item.json, dict, item)
            self.assertEqual(set(item.json), {"changes", "cursor", "hasMore"})
            self.assertEqual(item.id, item.json["cursor"], "id: must be the cursor")
            self.assertTrue(item.json["changes"], "an event without changes")
            events.append(item)
            changes += item.json["changes"]
        return events, changes

    def assert_quiet(self, stream, seconds):
        item = stream.next_event(seconds)
        self.assertIsNone(item, "want nothing more, got %r" % (item,))

    def test_event_stream_sends_changes_as_events_with_the_cursor_as_id(self):
        chat = create_chat(self.token, "sse")
        first = [append(self.token, chat["id"], "before %d" % i) for i in range(4)]
        stream = self.open(limit=2)
        self.assertEqual(stream.status, 200)
        self.assertTrue(stream.header("Content-Type", "").startswith("text/event-stream"))
        events, changes = self.collect(stream, 5)
        self.assertEqual([len(e.json["changes"]) for e in events], [2, 2, 1],
                         "the replay goes a page (limit) per event")
        self.assertEqual([e.json["hasMore"] for e in events], [True, True, False])
        self.assertEqual([ch["id"] for ch in changes], [chat["id"]] + [m["id"] for m in first])
        replayed_to = events[-1].id
        written = append(self.token, chat["id"], "live")
        written_at = time.monotonic()
        events, changes = self.collect(stream, 1)
        self.assertEqual(changes[0]["doc"], written)
        # data: is the delta body a GET from the previous event's id answers
        self.assertEqual(events[0].json, sync_ok(self, self.token, cursor=replayed_to, limit=2))
        self.assertLess(events[0].arrived - written_at, 1.0, "the stream was not woken")
        self.assertEqual(full_sync(self, self.token, events[0].id)["changes"], [])

    def test_event_stream_answers_at_once_when_there_is_nothing_to_replay(self):
        chat = create_chat(self.token, "up to date")
        cursor = full_sync(self, self.token)["cursor"]
        started = time.monotonic()
        try:
            stream = self.open(cursor=cursor, timeout=3)
        except OSError as e:  # socket.timeout: no response head
            self.fail("no response head within 3 s of opening an up-to-date stream: %r" % e)
        self.assertEqual(stream.status, 200)
        self.assertLess(time.monotonic() - started, 2.0)
        message = append(self.token, chat["id"], "first live change")
        _, changes = self.collect(stream, 1, timeout=3)
        self.assertEqual(changes[0]["id"], message["id"])

    def test_event_stream_sends_a_ping_comment_when_idle(self):
        create_chat(self.token, "quiet")
        stream = self.open()
        events, _ = self.collect(stream, 1)
        deadline = time.monotonic() + 16
        while True:
            item = stream.next(deadline - time.monotonic())
            self.assertIsNotNone(item, "no ': ping' within 15 s of the last event")
            self.assertNotIsInstance(item, sse.EOF, "the stream ended")
            self.assertIsInstance(item, sse.Comment, "an event on an idle stream")
            if item.text == "ping":
                break
        report("SSE ping %.1f s after the last event" % (item.arrived - events[-1].arrived))

    def test_reconnect_with_last_event_id_misses_nothing_and_repeats_nothing(self):
        chat = create_chat(self.token, "resume")
        for i in range(3):
            append(self.token, chat["id"], "a%d" % i)
        stream = self.open(limit=2)
        first_events, first = self.collect(stream, 4)
        for i in range(2):
            append(self.token, chat["id"], "b%d" % i)
        events, more = self.collect(stream, 2)
        first_events += events
        first += more
        stream.close()
        for i in range(3):
            append(self.token, chat["id"], "c%d" % i)
        patch_chat(self.token, chat["id"], "renamed while away")
        # a browser reconnects to the same URL (cursor of the first event) with Last-Event-ID
        stream = self.open(cursor=first_events[0].id, limit=2,
                           last_event_id=first_events[-1].id)
        _, second = self.collect(stream, 4)
        self.assert_quiet(stream, 0.5)
        seen = [(ch["table"], ch["id"], ch["version"]) for ch in first + second]
        self.assertEqual(len(seen), len(set(seen)), "a change was delivered twice")
        self.assertEqual(second, full_sync(self, self.token, first_events[-1].id)["changes"],
                         "the resumed stream must start after Last-Event-ID, not the URL cursor")
        self.assertEqual([ch["doc"]["content"] for ch in second[:3]], ["c0", "c1", "c2"])
        replica = Replica(self.user, limit=1000)
        for ch in first + second:
            replica.apply({"changes": [ch], "cursor": "", "hasMore": False})
        assert_replica_is_database(self, replica, db_rows(self.user))

    def test_malformed_last_event_id_is_400(self):
        stream = self.open(last_event_id="not a cursor")
        self.assertEqual(stream.status, 400)
        self.assertEqual(json.loads(stream.body)["error"]["code"], "bad_request")

    def test_expiring_token_ends_the_stream_with_reauth_at_its_exp(self):
        token = lib.token(self.user, ttl=3)
        exp = token_exp(token)
        chat = create_chat(self.token, "expiring")
        stream = self.open(token=token)
        self.assertEqual(stream.status, 200)
        self.collect(stream, 1)
        message = append(self.token, chat["id"], "still live")
        _, changes = self.collect(stream, 1)
        self.assertEqual(changes[0]["id"], message["id"])
        item = stream.next_event(10)
        ended_at = time.time()
        self.assertIsInstance(item, sse.Event, item)
        self.assertEqual(item.event, "reauth", item)
        self.assertIsInstance(item.json, dict, item)
        # at exp (whole seconds), not exp + JWT_LEEWAY_S
        self.assertGreaterEqual(ended_at, exp - 0.5)
        self.assertLessEqual(ended_at, exp + 2.0)
        self.assertIsInstance(stream.next(3), sse.EOF, "the stream goes on after reauth")
        report("SSE reauth %.2f s after the token's exp" % (ended_at - exp))

    def test_event_stream_of_one_user_gets_nothing_of_anothers_writes(self):
        other, other_token = new_user("user_sync_sse_other")
        create_chat(other_token, "mine")
        stream = self.open(token=other_token)
        self.collect(stream, 1)
        chat = create_chat(self.token, "not yours")
        for i in range(3):
            append(self.token, chat["id"], "x%d" % i)
        self.assert_quiet(stream, 1.0)


# ---- Redis down: live delivery falls back to Postgres, then recovers ----

class RedisOutageTest(unittest.TestCase):
    def setUp(self):
        self.assertTrue(redis_alive(), "Redis is not running before the test")
        self.user, self.token = new_user("user_sync_redis")
        self.chat = create_chat(self.token, "outage")
        self.cursor = full_sync(self, self.token)["cursor"]

    def tearDown(self):
        if not redis_alive():
            lib.stack("up")
        lib.wait_for_status("/readyz", 200, timeout=20)

    def wake_latency(self, cursor, write, timeout=20):
        """Seconds from a write's response to a waiting long-poll's answer, and
        the new cursor; fails when the long-poll does not get the write."""
        poll = LongPoll(self.token, cursor, timeout=timeout)
        time.sleep(0.4)
        doc = write()
        written = time.monotonic()
        resp = poll.join(timeout + 10)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual([ch["id"] for ch in resp.json["changes"]], [doc["id"]],
                         "the long-poll did not get the write within its %d s: %r" % (
                             timeout, resp))
        return max(0.0, poll.done_at - written), resp.json["cursor"]

    def append(self, content):
        return lambda: append(self.token, self.chat["id"], content)

    def test_live_delivery_survives_redis_kill_and_wakeups_resume_after_restart(self):
        cursor = self.cursor
        latency, cursor = self.wake_latency(cursor, self.append("before"))
        self.assertLess(latency, 1.0)
        # live sessions open across the kill: a long-poll and an event stream
        poll = LongPoll(self.token, cursor, timeout=30)
        stream = sse.open_stream(sync_path(cursor), token=self.token)
        try:
            self.assertEqual(stream.status, 200)
            time.sleep(0.4)
            pid = redis_pid()
            os.kill(pid, signal.SIGKILL)
            self.assertTrue(lib.wait_for(lambda: not lib.process_alive(pid), 5))
            time.sleep(0.3)
            message = append(self.token, self.chat["id"], "while redis is down")
            written = time.monotonic()
            resp = poll.join(15)
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual([ch["id"] for ch in resp.json["changes"]], [message["id"]])
            poll_latency = poll.done_at - written
            item = stream.next_event(10)
            self.assertIsInstance(item, sse.Event, item)
            self.assertEqual([ch["id"] for ch in item.json["changes"]], [message["id"]])
            sse_latency = item.arrived - written
            cursor = resp.json["cursor"]
            down_latency, cursor = self.wake_latency(cursor, self.append("still down"), 15)
            report("Redis down: open long-poll got the change after %.2f s, open SSE after "
                   "%.2f s, new long-poll after %.2f s" % (poll_latency, sse_latency,
                                                            down_latency))
            for what, value in (("long-poll", poll_latency), ("SSE", sse_latency),
                                ("new long-poll", down_latency)):
                self.assertLess(value, 5.0, "%s waited %.2f s with Redis down" % (what, value))
            self.assertEqual(lib.get("/readyz").status, 503, "readyz with Redis down")

            resumed = sync_log_count("redis available: live wake-ups resumed")
            lib.stack("up")
            self.assertTrue(redis_alive())
            self.assertTrue(lib.wait_for(
                lambda: sync_log_count("redis available: live wake-ups resumed") > resumed, 5),
                "sync-svc did not log that it reads Redis again")
            # Wake-ups resume by themselves, from the first write of each writer:
            # chats-svc wrote nothing during the outage (its Redis connection
            # is the one from before the kill), messages-svc did.
            latencies = []
            for what, write in (
                    ("chats-svc", lambda: patch_chat(self.token, self.chat["id"], "back")),
                    ("messages-svc", self.append("back")),
                    ("chats-svc again", lambda: patch_chat(self.token, self.chat["id"], "2"))):
                with self.subTest(first_write_after_restart_by=what):
                    latency, cursor = self.wake_latency(cursor, write, timeout=5)
                    latencies.append(latency)
                    self.assertLess(latency, 1.0)
            report("Redis back: long-poll wake latencies %s s" % ", ".join(
                "%.2f" % x for x in latencies))
            # the stream opened before the outage is woken by Redis again too
            message = append(self.token, self.chat["id"], "sse after restart")
            written = time.monotonic()
            while True:
                item = stream.next_event(10)
                self.assertIsInstance(item, sse.Event, item)
                if message["id"] in [ch["id"] for ch in item.json["changes"]]:
                    break
            self.assertLess(item.arrived - written, 1.0, "the old stream is not woken by Redis")
        finally:
            stream.close()

    def test_first_write_after_redis_drops_its_clients_still_wakes_the_long_poll(self):
        # What a Redis restart, failover or idle-timeout proxy does to the
        # writers' connections, without a restart (whose readiness probes
        # would repair them): every client connection is closed by Redis.
        resumed = sync_log_count("redis available: live wake-ups resumed")
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", os.environ["REDIS_PORT"],
                               "CLIENT", "KILL", "TYPE", "normal"],
                              capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertGreaterEqual(int(done.stdout.strip() or 0), 1, done.stdout)
        self.assertTrue(lib.wait_for(
            lambda: sync_log_count("redis available: live wake-ups resumed") > resumed, 5),
            "sync-svc did not reconnect to Redis")
        cursor, latencies = self.cursor, []
        for what, write in (
                ("chats-svc", lambda: patch_chat(self.token, self.chat["id"], "after kill")),
                ("messages-svc", self.append("after kill"))):
            with self.subTest(first_write_by=what):
                latency, cursor = self.wake_latency(cursor, write, timeout=4)
                latencies.append(latency)
                self.assertLess(latency, 1.0, "the wake-up of %s's first write after Redis "
                                "closed its connection was lost: the long-poll got the change "
                                "only at its timeout" % what)
        report("after CLIENT KILL: first wake latencies %s s" % ", ".join(
            "%.2f" % x for x in latencies))


class WakeupOrderTest(unittest.TestCase):
    """One user's wake-ups stay in version order with the publish off the
    request's path (common/wakeup.c): many concurrent appends of one user, all
    published by messages-svc, appear in the user's shard stream with rising
    versions, the last one the user's last version in Postgres."""

    WRITERS, EACH = 8, 12

    def stream_versions(self, user):
        done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", os.environ["REDIS_PORT"],
                               "--raw", "XRANGE", lib.wake_stream_key(user), "-", "+"],
                              capture_output=True, text=True, timeout=10)
        self.assertEqual(done.returncode, 0, done.stderr)
        lines = done.stdout.split("\n")
        versions = []
        for i in range(len(lines) - 4):  # id, "u", user, "v", version
            if lines[i + 1] == "u" and lines[i + 2] == user and lines[i + 3] == "v":
                versions.append(int(lines[i + 4]))
        return versions

    def append_in_threads(self, targets, each):
        """Appends `each` messages to every (token, chat id) of targets at once,
        a thread per target."""
        errors = []

        def write(n, token, chat_id):
            def run():
                try:
                    for i in range(each):
                        append(token, chat_id, "w%d-%d" % (n, i))
                except AssertionError as e:  # shown by the main thread
                    errors.append(e)
            return run
        join_all(self, run_threads([write(n, token, chat_id)
                                    for n, (token, chat_id) in enumerate(targets)]), 120)
        self.assertEqual(errors, [])

    def test_concurrent_writes_of_one_user_publish_wakeups_in_version_order(self):
        user, token = new_user("user_wake_order")
        chat = create_chat(token, "order")
        created_at = db_last_version(user)
        self.append_in_threads([(token, chat["id"])] * self.WRITERS, self.EACH)
        last = db_last_version(user)
        self.assertEqual(last, created_at + self.WRITERS * self.EACH)
        self.assertTrue(lib.wait_for(
            lambda: last in self.stream_versions(user), 10),
            "the last version's wake-up never reached Redis")
        versions = [v for v in self.stream_versions(user) if v > created_at]
        self.assertEqual(versions, sorted(set(versions)),
                         "one user's wake-ups out of version order: %s" % versions)
        self.assertEqual(versions[-1], last)
        report("wake-up order: %d appends of one user from %d writers, %d wake-ups "
               "published (the rest covered by a later one)"
               % (self.WRITERS * self.EACH, self.WRITERS, len(versions)))

    def test_concurrent_writes_of_many_users_each_publish_the_users_last_version(self):
        """Wake-ups of different users queued together go out in one pipeline:
        every user's last version reaches that user's stream, none is dropped
        with its batch."""
        users = [new_user("user_wake_batch%d" % n) for n in range(self.WRITERS * 2)]
        chats = [create_chat(token, "batch") for _, token in users]
        # Redis holds writes for 150 ms (below the services' 300 ms command
        # timeout): the publisher's first XADD waits, the others queue behind
        # it, so the next batch is surely a pipeline of many users' wake-ups.
        paused = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", os.environ["REDIS_PORT"],
                                 "CLIENT", "PAUSE", "150", "WRITE"],
                                capture_output=True, text=True, timeout=10)
        self.assertEqual(paused.stdout.strip(), "OK", paused.stderr)
        # one append each, all within the pause: their wake-ups queue together
        self.append_in_threads([(token, chat["id"]) for (_, token), chat in zip(users, chats)], 1)
        for user, _ in users:
            last = db_last_version(user)
            self.assertTrue(lib.wait_for(lambda: last in self.stream_versions(user), 10),
                            "%s's last wake-up (version %d) never reached Redis" % (user, last))


# ---- sync status ----

class SyncStatusTest(unittest.TestCase):
    def setUp(self):
        self.user, self.token = new_user("user_sync_status")

    def put(self, device, body, token=None):
        return lib.request("PUT", "/api/sync-status/" + q(device), body, token=token or self.token)

    def test_put_then_get_lists_every_device_and_put_updates(self):
        cursor = sync_ok(self, self.token)["cursor"]
        before = int(time.time() * 1000) - 2000
        resp = self.put("laptop", {"lastSyncTimestamp": 1732450000000, "cursor": cursor})
        self.assertEqual(resp.status, 200, resp)
        laptop = resp.json["syncStatus"]
        self.assertEqual(set(laptop), {"userId", "deviceId", "lastSyncTimestamp", "cursor",
                                       "updatedAt"})
        self.assertEqual((laptop["userId"], laptop["deviceId"], laptop["lastSyncTimestamp"],
                          laptop["cursor"]), (self.user, "laptop", 1732450000000, cursor))
        self.assertGreaterEqual(laptop["updatedAt"], before)
        resp = self.put("phone 2/b", {"lastSyncTimestamp": 1732450000500})
        self.assertEqual(resp.status, 200, resp)
        phone = resp.json["syncStatus"]
        self.assertEqual((phone["deviceId"], phone["cursor"]), ("phone 2/b", None))

        resp = lib.get("/api/sync-status", token=self.token)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(sorted(resp.json["devices"], key=lambda d: d["deviceId"]),
                         sorted([laptop, phone], key=lambda d: d["deviceId"]))

        time.sleep(0.01)
        resp = self.put("laptop", {"cursor": "MTA6"})
        self.assertEqual(resp.status, 200, resp)
        updated = resp.json["syncStatus"]
        self.assertEqual((updated["cursor"], updated["lastSyncTimestamp"]),
                         ("MTA6", 1732450000000), "an absent field keeps its stored value")
        self.assertGreaterEqual(updated["updatedAt"], laptop["updatedAt"])
        resp = self.put("laptop", {"lastSyncTimestamp": 1732450009999, "cursor": cursor})
        self.assertEqual(resp.status, 200, resp)
        devices = lib.get("/api/sync-status", token=self.token).json["devices"]
        self.assertEqual(len(devices), 2)
        got = {d["deviceId"]: d for d in devices}
        self.assertEqual((got["laptop"]["lastSyncTimestamp"], got["laptop"]["cursor"]),
                         (1732450009999, cursor))
        self.assertEqual(got["phone 2/b"], phone)

        other, other_token = new_user("user_sync_status_other")
        resp = lib.get("/api/sync-status", token=other_token)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json, {"devices": []})
        # the same device id for another user is another row
        resp = self.put("laptop", {"lastSyncTimestamp": 1}, token=other_token)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["syncStatus"]["userId"], other)
        got = {d["deviceId"]: d for d in
               lib.get("/api/sync-status", token=self.token).json["devices"]}
        self.assertEqual(got["laptop"]["lastSyncTimestamp"], 1732450009999)

    def test_userid_of_the_caller_is_accepted_and_of_another_is_400(self):
        resp = self.put("d1", {"userId": self.user, "lastSyncTimestamp": 5})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["syncStatus"]["userId"], self.user)
        lib.assert_error_body(self.put("d1", {"userId": "someone_else", "lastSyncTimestamp": 6}),
                              400, "bad_request")

    def test_bad_body_is_400(self):
        for body in ({"lastSyncTimestamp": "yesterday"}, {"lastSyncTimestamp": 1.5},
                     {"cursor": 5}, {"cursor": "bad\u0001cursor"}, {"cursor": "x" * 2000},
                     {"device": "x"}, [], "text", 7):
            with self.subTest(body=repr(body)[:40]):
                lib.assert_error_body(self.put("d1", body), 400, "bad_request")
        resp = lib.request("PUT", "/api/sync-status/d1", data="{not json",
                           content_type="application/json", token=self.token)
        lib.assert_error_body(resp, 400, "bad_request")
        lib.assert_error_body(self.put("x" * 256, {"lastSyncTimestamp": 1}), 400, "bad_request")
        self.assertEqual(lib.get("/api/sync-status", token=self.token).json, {"devices": []},
                         "a refused PUT wrote something")

    def test_sync_status_without_token_is_401(self):
        lib.assert_error_body(lib.get("/api/sync-status"), 401, "unauthorized")
        lib.assert_error_body(lib.request("PUT", "/api/sync-status/d1", {"cursor": None}),
                              401, "unauthorized")


if __name__ == "__main__":
    unittest.main()

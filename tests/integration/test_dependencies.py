"""Dependencies that fail slowly fail fast (issue 11, item 4;
docs/decisions/timeouts.md): Postgres stopped, frozen or holding a lock, a
statement past statement_timeout, Redis frozen or stopped, and (f) every
pooled session ended by Postgres, which a request must not notice. Requests answer
503 with Retry-After within bounds computed from the stack's settings (never
hang), writes do not wait for Redis, the pool is left clean, and everything
works again once the dependency is back.

Every fault is real (pg-stop, SIGSTOP, a lock held by psql, a slow trigger,
pg_terminate_backend,
redis-stop) and undone in a finally, so that later suites find the stack
whole and ready."""
import concurrent.futures
import os
import re
import signal
import subprocess
import threading
import time
import unittest
import urllib.parse

import lib
import sse


class Bounds:
    """The stack's settings (tests/run.py STACK_ENV; the defaults are those of
    common/config.c) and the bounds they give. Read when a test runs: run.py
    exports the settings after it imported the tests."""

    # Scheduling slack on two shared cores under ASan: not a performance figure.
    MARGIN_S = 3.0

    def __init__(self):
        def setting(name, default):
            return int(os.environ.get(name) or default)
        self.statement_s = setting("DB_STATEMENT_TIMEOUT_MS", 5000) / 1000
        self.lock_s = setting("DB_LOCK_TIMEOUT_MS", 2000) / 1000
        self.acquire_s = setting("DB_ACQUIRE_TIMEOUT_MS", 5000) / 1000
        self.connect_s = max(2, setting("DB_CONNECT_TIMEOUT_S", 3))
        self.redis_s = setting("REDIS_COMMAND_TIMEOUT_MS", 300) / 1000
        self.pool_size = setting("DB_POOL_SIZE", 4)
        # db.c waits for an answer this long: the statement timeout and a second of grace.
        self.answer_s = self.statement_s + 1
        # The longest any request may take while Postgres fails: a wait for a
        # pooled connection, a connect attempt and a wait for an answer.
        self.postgres_s = self.acquire_s + self.connect_s + self.answer_s + self.MARGIN_S
        # A write while Redis fails: its own work plus at most one publish timeout.
        self.redis_write_s = self.redis_s + 1.5


CLIENT_TIMEOUT_S = 60  # far above every bound: a hang shows as elapsed time, not an exception


def q(text):
    return urllib.parse.quote(text, safe="")


def sql_text(text):
    return "'" + text.replace("'", "''") + "'"


def new_user(prefix):
    user = lib.unique(prefix)
    return user, lib.token(user)


def created(resp, what):
    if resp.status not in (200, 201):
        raise AssertionError("%s: want 2xx, got %r" % (what, resp))
    return resp.json


def create_chat(token, title="chat"):
    return created(lib.post("/api/chats", {"title": title}, token=token), "create chat")["chat"]


def append(token, chat_id, content, timeout=CLIENT_TIMEOUT_S):
    return lib.post("/api/chats/%s/messages" % q(chat_id), {"content": content, "role": "user"},
                    token=token, timeout=timeout)


def patch_chat(token, chat_id, title, timeout=CLIENT_TIMEOUT_S):
    return lib.request("PATCH", "/api/chats/" + q(chat_id), {"title": title}, token=token,
                       timeout=timeout)


def sync_cursor(token):
    """The cursor after everything the user has."""
    cursor = None
    for _ in range(100):
        path = "/api/sync?limit=1000" + ("&cursor=" + q(cursor) if cursor else "")
        body = created(lib.get(path, token=token), "sync")
        cursor = body["cursor"]
        if not body["hasMore"]:
            return cursor
    raise AssertionError("sync did not end")


def assert_unavailable(testcase, resp, bound_s, what):
    """503, the API.md error body, Retry-After in whole seconds, within bound_s."""
    lib.assert_error_body(resp, 503, "unavailable")
    retry_after = resp.header("Retry-After") or ""
    testcase.assertTrue(retry_after.isdigit() and int(retry_after) >= 1,
                        "%s: Retry-After %r is not a number of seconds" % (what, retry_after))
    testcase.assertLessEqual(resp.elapsed, bound_s, "%s took %.1f s, more than the bound %.1f s"
                             % (what, resp.elapsed, bound_s))


def open_transactions():
    """Sessions of the services left inside a transaction (none in a clean pool)."""
    return lib.psql("SELECT pid, state, query FROM pg_stat_activity "
                    "WHERE application_name = 'chatsync' AND state LIKE 'idle in transaction%'")


def wait_ready(timeout=30):
    """Every service ready again (each has its own connections to Postgres and Redis)."""
    for path in ["/readyz"] + ["/svc/%s/readyz" % name for name in lib.SERVICES]:
        resp = lib.wait_for_status(path, 200, timeout=timeout)
        if resp.status != 200:
            raise AssertionError("%s is not ready again: %r" % (path, resp))


# ---- Postgres ----

class Load:
    """Threads that send reads and writes of their own users until stopped,
    recording (monotonic start, Response or exception) for each request."""

    def __init__(self, workers=6):
        self.stopping = threading.Event()
        self.lock = threading.Lock()
        self.records = []
        self.users = []
        for i in range(workers):
            user, token = new_user("user_deps_load")
            self.users.append((token, create_chat(token, "load")["id"]))
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(workers)]

    def start(self):
        for t in self.threads:
            t.start()

    def _run(self, i):
        token, chat_id = self.users[i]
        n = 0
        while not self.stopping.is_set():
            n += 1
            started = time.monotonic()
            try:
                if n % 3 == 0:
                    resp = lib.get("/api/chats?limit=5", token=token, timeout=CLIENT_TIMEOUT_S)
                elif n % 3 == 1:
                    resp = append(token, chat_id, "load %d" % n)
                else:
                    resp = patch_chat(token, chat_id, "load %d" % n)
            except Exception as e:  # a hang or a dropped connection: reported below
                resp = e
            with self.lock:
                self.records.append((started, resp))
            time.sleep(0.05)

    def stop(self):
        self.stopping.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT_S + 5)


class PostgresStoppedTest(unittest.TestCase):
    """(a) Postgres stopped in the middle of a load of reads and writes."""

    def tearDown(self):
        lib.stack("pg-start")
        wait_ready()

    def test_postgres_stopped_mid_load_gives_503_within_the_bound_then_full_service(self):
        b = Bounds()
        load = Load()
        load.start()
        try:
            time.sleep(1.0)
            lib.stack("pg-stop")
            time.sleep(b.answer_s + 1)
            lib.stack("pg-start")
            started_at = time.monotonic()
            wait_ready()
            time.sleep(1.0)
        finally:
            load.stop()
        self.assertFalse(any(t.is_alive() for t in load.threads), "a load thread hangs")
        unavailable = 0
        for started, resp in load.records:
            self.assertIsInstance(resp, lib.Response, "a request failed without an answer: %r"
                                  % (resp,))
            if resp.status == 503:
                unavailable += 1
                assert_unavailable(self, resp, b.postgres_s, "a request during the outage")
            else:
                self.assertIn(resp.status, (200, 201), resp)
                self.assertLessEqual(resp.elapsed, b.postgres_s, resp)
        self.assertGreater(unavailable, 0, "no request met the outage")
        # full service: every user's read and write work again
        late = [resp for started, resp in load.records if started > started_at + 0.5]
        self.assertTrue(late, "no request after the restart")
        for token, chat_id in load.users:
            created(append(token, chat_id, "after the outage"), "append after pg-start")
            created(lib.get("/api/chats", token=token), "list after pg-start")


class PostgresSessionsEndedTest(unittest.TestCase):
    """(f) Postgres ended every pooled session (a restart, a failover, a cut
    idle connection): the first statement a request runs on such a connection
    finds it dead, reconnects and runs once more, and the client never sees it.
    One request of each kind, each right after Postgres ended the services'
    sessions: pipelines (get, append, the start of every other write) and the
    reads that ride in one pipeline (list, change feed)."""

    def end_service_sessions(self):
        ended = lib.psql("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid, 5000)) "
                         "FROM pg_stat_activity WHERE usename = current_user "
                         "AND pid <> pg_backend_pid()")
        self.assertGreater(int(ended[0][0]), 0, "no pooled session to end")

    def test_each_kind_of_request_succeeds_on_a_session_postgres_ended(self):
        token = lib.token(lib.unique("stale"))
        chat_id = create_chat(token, "before")["id"]
        kinds = [
            ("get a chat (pipeline)", lambda: lib.get("/api/chats/" + q(chat_id), token=token)),
            ("list chats (carried reads)", lambda: lib.get("/api/chats", token=token)),
            ("append (pipeline)", lambda: append(token, chat_id, "after")),
            ("rename (BEGIN and reservation in one pipeline)",
             lambda: patch_chat(token, chat_id, "after")),
            ("create a chat", lambda: lib.post("/api/chats", {"title": "after"}, token=token)),
            ("change feed (carried reads)", lambda: lib.get("/api/sync?limit=5", token=token)),
        ]
        for what, send in kinds:
            with self.subTest(what):
                # the service holds a connection (the pool prefers an open one)
                created(send(), what + " before")
                self.end_service_sessions()
                created(send(), what + " on an ended session")


class EventStreamOutageTest(unittest.TestCase):
    """An SSE client meets a stopped Postgres as a 503 when it opens a stream,
    and an open stream outlives the outage: while Redis is down too, the stream
    re-reads Postgres every SYNC_LIVE_RECHECK_MS and those reads fail, yet it
    stays open and delivers the next change once both are back (no reconnect
    storm, nothing missed)."""

    def tearDown(self):
        lib.stack("pg-start")
        lib.stack("redis-start")
        wait_ready()

    def test_stream_opened_during_an_outage_is_503_and_an_open_one_survives_it(self):
        b = Bounds()
        token = new_user("user_sse_outage")[1]
        chat_id = create_chat(token)["id"]
        with sse.open_stream("/api/sync?cursor=%s" % sync_cursor(token), token=token) as stream:
            self.assertEqual(stream.status, 200)
            lib.stack("redis-stop")
            time.sleep(1.0)
            lib.stack("pg-stop")
            refused = sse.open_stream("/api/sync?cursor=0", token=token, timeout=b.postgres_s + 5)
            self.assertEqual(refused.status, 503, refused.body)
            self.assertEqual(refused.header("Retry-After"), "1")
            time.sleep(5.0)  # the open stream's re-reads fail meanwhile
            lib.stack("pg-start")
            lib.stack("redis-start")
            wait_ready()
            created(append(token, chat_id, "after the outage"), "append after pg-start")
            deadline = time.monotonic() + 10
            while True:
                item = stream.next_event(deadline - time.monotonic())
                self.assertIsNotNone(item, "no event within 10 s of the write")
                self.assertNotIsInstance(item, sse.EOF, "the stream ended during the outage")
                if "after the outage" in item.data:
                    break


class LockAndStatementTimeoutTest(unittest.TestCase):
    """(b) A lock held past lock_timeout and a statement past
    statement_timeout answer 503, and the pool is left clean."""

    def setUp(self):
        self.user, self.token = new_user("user_deps_lock")
        self.chat = create_chat(self.token, "locked")
        self.holder = None

    def tearDown(self):
        self.release_lock()

    def hold_user_lock(self):
        """psql takes the user's counter row (docs/decisions/versions.md) and keeps it."""
        self.holder = subprocess.Popen(
            ["psql", "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-d", lib.DATABASE_URL],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.holder.stdin.write("BEGIN;\nSELECT 'locked' FROM user_versions WHERE user_id = %s "
                                "FOR UPDATE;\n" % sql_text(self.user))
        self.holder.stdin.flush()
        self.assertEqual(self.holder.stdout.readline().strip(), "locked")

    def release_lock(self):
        if self.holder and self.holder.poll() is None:
            try:
                self.holder.communicate("ROLLBACK;\n", timeout=10)
            except subprocess.TimeoutExpired:
                self.holder.kill()
                self.holder.wait(5)
        self.holder = None

    def assert_pool_clean(self):
        """The connections that met the timeout serve the next requests: more
        of them than the pool holds, on each service, all 2xx."""
        b = Bounds()
        for i in range(b.pool_size + 2):
            created(append(self.token, self.chat["id"], "next %d" % i), "append after")
            created(patch_chat(self.token, self.chat["id"], "next %d" % i), "patch after")
            created(lib.get("/api/chats/" + q(self.chat["id"]), token=self.token), "get after")
        self.assertEqual(open_transactions(), [], "a pooled connection stayed in a transaction")

    def test_lock_held_past_lock_timeout_gives_503_and_leaves_the_pool_clean(self):
        b = Bounds()
        self.hold_user_lock()
        bound = b.lock_s + b.MARGIN_S
        for what, send in (("append", lambda: append(self.token, self.chat["id"], "blocked")),
                           ("patch", lambda: patch_chat(self.token, self.chat["id"], "blocked"))):
            with self.subTest(write=what):
                resp = send()
                assert_unavailable(self, resp, bound, what + " behind a held lock")
                self.assertGreaterEqual(resp.elapsed, b.lock_s * 0.8,
                                        "%s did not wait for the lock: %r" % (what, resp))
        self.release_lock()
        self.assert_pool_clean()

    def test_one_users_lock_wait_does_not_hold_the_pool_from_other_users(self):
        b = Bounds()
        other, other_token = new_user("user_deps_other")
        other_chat = create_chat(other_token, "free")
        self.hold_user_lock()
        blocked = b.pool_size + 2
        done = []
        with concurrent.futures.ThreadPoolExecutor(max_workers=blocked) as pool:
            futures = [pool.submit(lambda i=i: (append(self.token, self.chat["id"], "b%d" % i),
                                                time.monotonic()))
                       for i in range(blocked)]
            # the blocked writes are queued on the lock before the other user comes
            self.assertTrue(lib.wait_for(lambda: int(lib.psql(
                "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'chatsync' "
                "AND wait_event_type = 'Lock'")[0][0]) >= 1, 5, 0.02), "no write waits on the lock")
            resp = append(other_token, other_chat["id"], "not blocked")
            other_done = time.monotonic()
            for f in futures:
                done.append(f.result(timeout=CLIENT_TIMEOUT_S))
        created(resp, "the other user's append")
        for blocked_resp, _ in done:
            self.assertEqual(blocked_resp.status, 503, blocked_resp)
            self.assertTrue(blocked_resp.header("Retry-After"), blocked_resp)
        # Had the blocked user held the whole pool, the other write would have
        # waited until the first blocked one failed, most of lock_s after it
        # began; its own latency says so without racing the blocked ones' ends.
        self.assertLess(resp.elapsed, b.lock_s / 2,
                        "the other user's write waited for the blocked user's writes to fail: "
                        "they held the whole pool")
        self.assertLess(other_done, max(t for _, t in done))
        self.release_lock()
        self.assert_pool_clean()

    def test_statement_past_statement_timeout_gives_503_and_leaves_the_pool_clean(self):
        b = Bounds()
        title = "cs-test-slow-statement"
        # A trigger that sleeps for this one title: a statement that runs, not one that waits.
        lib.psql("CREATE OR REPLACE FUNCTION cs_test_sleep() RETURNS trigger LANGUAGE plpgsql "
                 "AS $$ BEGIN PERFORM pg_sleep(60); RETURN NEW; END $$; "
                 "CREATE TRIGGER cs_test_slow BEFORE INSERT ON chats FOR EACH ROW "
                 "WHEN (NEW.title = %s) EXECUTE FUNCTION cs_test_sleep()" % sql_text(title))
        try:
            resp = lib.post("/api/chats", {"title": title}, token=self.token,
                            timeout=CLIENT_TIMEOUT_S)
        finally:
            lib.psql("DROP TRIGGER IF EXISTS cs_test_slow ON chats; "
                     "DROP FUNCTION IF EXISTS cs_test_sleep()")
        assert_unavailable(self, resp, b.statement_s + b.MARGIN_S, "a statement past the timeout")
        self.assertGreaterEqual(resp.elapsed, b.statement_s * 0.8, resp)
        self.assertIn("timeout", resp.json["error"]["message"])
        self.assert_pool_clean()


class PostgresFrozenTest(unittest.TestCase):
    """(c) Postgres unresponsive with its connections open (SIGSTOP)."""

    def setUp(self):
        self.frozen = []

    def tearDown(self):
        lib.signal_all(self.frozen, signal.SIGCONT)
        wait_ready()

    def test_frozen_postgres_gives_503_within_the_bound_then_recovers(self):
        b = Bounds()
        users = []
        for _ in range(3):
            user, token = new_user("user_deps_frozen")
            users.append((token, create_chat(token, "frozen")["id"]))
        bound = max(b.answer_s, b.connect_s) + b.MARGIN_S

        def round_of_requests():
            sends = []
            for token, chat_id in users:  # up to the pool's size on each service
                sends.append(lambda t=token: lib.get("/api/chats", token=t,
                                                     timeout=CLIENT_TIMEOUT_S))
                sends.append(lambda t=token, c=chat_id: append(t, c, "frozen"))
            with concurrent.futures.ThreadPoolExecutor(max_workers=len(sends)) as pool:
                return list(pool.map(lambda send: send(), sends))

        self.frozen = lib.postgres_pids()
        lib.signal_all(self.frozen, signal.SIGSTOP)
        try:
            # First the pooled connections (no answer), then new ones (no
            # connect). Postgres thaws only after both rounds: a request that
            # waited for it would hang here until the client's timeout.
            results = round_of_requests() + round_of_requests()
        finally:
            lib.signal_all(self.frozen, signal.SIGCONT)
            self.frozen = []
        for resp in results:
            assert_unavailable(self, resp, bound, "a request to a frozen Postgres")
        wait_ready()
        for token, chat_id in users:
            created(append(token, chat_id, "thawed"), "append after SIGCONT")
            created(lib.get("/api/chats", token=token), "list after SIGCONT")
        self.assertEqual(open_transactions(), [])


# ---- Redis ----

def redis_pid():
    with open(os.path.join(lib.RUN_DIR, "pid", "redis.pid")) as f:
        return int(f.read().strip())


def redis_errors():
    """messages-svc's count of wake-ups it could not publish."""
    resp = lib.get("/svc/messages/metrics")
    assert resp.status == 200, resp
    found = re.search(r'^chatsync_redis_errors_total\{service="messages"\} ([0-9]+)$', resp.text, re.M)
    assert found, "no chatsync_redis_errors_total in messages-svc's /metrics"
    return int(found.group(1))


def redis_answers():
    done = subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", os.environ["REDIS_PORT"], "PING"],
                          capture_output=True, text=True, timeout=10)
    return done.stdout.strip() == "PONG"


class SlowRedisTest(unittest.TestCase):
    """(d) Redis unresponsive with its connections open (SIGSTOP)."""

    def setUp(self):
        self.user, self.token = new_user("user_deps_slow_redis")
        self.chat = create_chat(self.token, "slow redis")
        self.stopped = None

    def tearDown(self):
        if self.stopped:
            lib.signal_all([self.stopped], signal.SIGCONT)
        wait_ready()

    def test_frozen_redis_does_not_slow_writes_and_the_change_still_reaches_a_long_poll(self):
        b = Bounds()
        cursor = sync_cursor(self.token)
        waiter = concurrent.futures.ThreadPoolExecutor(max_workers=1)
        self.addCleanup(waiter.shutdown, wait=False)
        poll = waiter.submit(lib.get, "/api/sync?live=1&timeout=30&cursor=" + q(cursor),
                             token=self.token, timeout=50)
        time.sleep(0.5)
        errors_before = redis_errors()
        self.stopped = redis_pid()
        lib.signal_all([self.stopped], signal.SIGSTOP)
        try:
            first = append(self.token, self.chat["id"], "while redis sleeps")
            writes = [first]
            for i in range(3):
                writes.append(append(self.token, self.chat["id"], "again %d" % i))
                writes.append(patch_chat(self.token, self.chat["id"], "again %d" % i))
            with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
                writes += list(pool.map(
                    lambda i: append(self.token, self.chat["id"], "burst %d" % i), range(4)))
            # reads are not held up by writers stuck on Redis
            read = lib.get("/api/chats/" + q(self.chat["id"]), token=self.token)
            # the publisher gives up on the frozen Redis within its timeout and says so,
            # rather than waiting on it (and holding its queue) until Redis wakes
            gave_up = lib.wait_for(lambda: redis_errors() > errors_before, b.redis_write_s)
            time.sleep(1.0)
        finally:
            lib.signal_all([self.stopped], signal.SIGCONT)
            self.stopped = None
        for resp in writes:
            created(resp, "a write while Redis is frozen")
            self.assertLessEqual(resp.elapsed, b.redis_write_s,
                                 "a write waited %.2f s for a frozen Redis (timeout %.1f s)"
                                 % (resp.elapsed, b.redis_s))
        created(read, "a read while Redis is frozen")
        self.assertTrue(gave_up, "messages-svc counted no Redis error within %.1f s after the writes "
                        "to a frozen Redis (timeout %.1f s): its publisher waits on it"
                        % (b.redis_write_s, b.redis_s))
        resp = poll.result(timeout=50)
        self.assertEqual(resp.status, 200, resp)
        ids = [change["id"] for change in resp.json["changes"]]
        self.assertIn(first.json["message"]["id"], ids,
                      "the long-poll did not get the write made while Redis was frozen")


class RedisStoppedTest(unittest.TestCase):
    """(e) Redis stopped: writes succeed, /readyz says not ready, then ready."""

    def tearDown(self):
        if not redis_answers():
            lib.stack("redis-start")
        wait_ready()

    def test_stopped_redis_fails_readyz_not_writes_and_ready_again_after_restart(self):
        b = Bounds()
        user, token = new_user("user_deps_redis_down")
        chat = create_chat(token, "redis down")
        lib.stack("redis-stop")
        resp = lib.wait_for_status("/readyz", 503, timeout=10)
        lib.assert_error_body(resp, 503, "unavailable")
        self.assertIn("redis", resp.json["error"]["message"])
        for i in range(3):
            for what, send in (
                    ("create", lambda: lib.post("/api/chats", {"title": "down %d" % i},
                                                token=token)),
                    ("append", lambda: append(token, chat["id"], "down %d" % i)),
                    ("patch", lambda: patch_chat(token, chat["id"], "down %d" % i))):
                resp = send()
                created(resp, what + " while Redis is stopped")
                self.assertLessEqual(resp.elapsed, b.redis_write_s, resp)
        self.assertEqual(lib.get("/readyz").status, 503, "readyz while Redis is still stopped")
        lib.stack("redis-start")
        resp = lib.wait_for_status("/readyz", 200, timeout=10)
        self.assertEqual(resp.status, 200, "not ready again after redis-start: %r" % (resp,))
        # The other services' connections to the old Redis are stale: the
        # first check must reconnect, not report Redis down.
        for name in lib.SERVICES:
            with self.subTest(service=name):
                self.assertEqual(lib.get("/svc/%s/readyz" % name).status, 200)
        created(append(token, chat["id"], "redis back"), "append after redis-start")


if __name__ == "__main__":
    unittest.main()

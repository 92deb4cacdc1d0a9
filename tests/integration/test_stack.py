"""The foundation: the stack comes up, answers health checks through nginx,
speaks API.md errors for nginx's and the services' own refusals, logs each
request, survives a Postgres outage, stops services on SIGTERM, and migrates
idempotently."""
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import unittest

import lib


class HealthTest(unittest.TestCase):
    def test_every_service_is_ready_through_nginx(self):
        for name in lib.SERVICES:
            with self.subTest(service=name):
                resp = lib.get("/svc/%s/readyz" % name)
                self.assertEqual(resp.status, 200, resp)

    def test_every_service_answers_healthz_through_nginx(self):
        for name in lib.SERVICES:
            with self.subTest(service=name):
                self.assertEqual(lib.get("/svc/%s/healthz" % name).status, 200)

    def test_healthz_is_200(self):
        resp = lib.get("/healthz")
        self.assertEqual(resp.status, 200, resp)

    def test_readyz_is_200_when_postgres_and_redis_are_up(self):
        resp = lib.get("/readyz")
        self.assertEqual(resp.status, 200, resp)

    def test_metrics_is_prometheus_text(self):
        resp = lib.get("/svc/chats/metrics")
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.header("Content-Type", "").startswith("text/plain"), resp)
        self.assertIn("# TYPE", resp.text)


class ErrorBodyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.token = lib.token(lib.unique("user_errors"))

    def test_unknown_path_outside_api_is_404_body(self):
        lib.assert_error_body(lib.get("/no/such/path"), 404, "not_found")

    def test_unknown_path_under_api_is_404_body(self):
        lib.assert_error_body(lib.get("/api/no-such-thing", token=self.token), 404, "not_found")

    def test_wrong_method_is_405_body_with_allow(self):
        resp = lib.request("DELETE", "/api/chats", token=self.token)
        lib.assert_error_body(resp, 405, "method_not_allowed")
        self.assertTrue(resp.header("Allow"), "405 must say which methods are allowed")

    def test_body_over_the_limit_is_413_body(self):
        body = b'{"title":"' + b"x" * (9 * 1024 * 1024) + b'"}'
        resp = lib.post("/api/chats", data=body, content_type="application/json",
                        token=self.token, timeout=30)
        lib.assert_error_body(resp, 413, "payload_too_large")

    def test_text_plain_body_is_415_body(self):
        resp = lib.post("/api/chats", data="title=hello", content_type="text/plain",
                        token=self.token)
        lib.assert_error_body(resp, 415, "unsupported_media_type")

    def test_malformed_json_is_400_body(self):
        resp = lib.post("/api/chats", data='{"title": "unterminated', token=self.token,
                        content_type="application/json")
        lib.assert_error_body(resp, 400, "bad_request")

    def test_missing_token_is_401_body(self):
        resp = lib.get("/api/chats")
        lib.assert_error_body(resp, 401, "unauthorized")
        self.assertIn("Bearer", resp.header("WWW-Authenticate", ""))


class RequestIdTest(unittest.TestCase):
    # a service's 200, a service's error, nginx's own error
    PATHS = (("GET", "/healthz"), ("DELETE", "/api/chats"), ("GET", "/no/such/path"))

    def test_every_response_has_a_request_id(self):
        for method, path in self.PATHS:
            with self.subTest(path=path):
                resp = lib.request(method, path)
                self.assertTrue(resp.header("X-Request-Id"), resp)

    def test_request_id_is_echoed_when_sent(self):
        for method, path in self.PATHS:
            with self.subTest(path=path):
                rid = lib.unique("rid")
                resp = lib.request(method, path, headers={"X-Request-Id": rid})
                self.assertEqual(resp.header("X-Request-Id"), rid, resp)

    def test_service_logs_a_request_without_a_later_request(self):
        # request lines are written in batches (common/request_log.h): a lone
        # request's line still goes out on its own
        path = os.path.join(lib.RUN_DIR, "log", "chats.log")
        start = os.path.getsize(path)
        user = lib.unique("user_log")
        rid = lib.unique("rid_log")
        resp = lib.get("/api/chats", token=lib.token(user), headers={"X-Request-Id": rid})
        self.assertEqual(resp.status, 200, resp)

        def logged():
            with open(path, "rb") as f:
                f.seek(start)
                for line in f.read().decode(errors="replace").splitlines():
                    if '"requestId":"%s"' % rid in line:
                        return json.loads(line)
            return None
        line = lib.wait_for(logged, 3, interval=0.05)
        self.assertIsNotNone(line, "no line for request %s in %s" % (rid, path))
        self.assertEqual((line["status"], line["userId"], line["path"]),
                         (200, user, "/api/chats"))

    def test_request_ids_differ_between_requests(self):
        first, second = lib.get("/healthz"), lib.get("/healthz")
        self.assertNotEqual(first.header("X-Request-Id"), second.header("X-Request-Id"))


class PostgresOutageTest(unittest.TestCase):
    """Postgres stops: /readyz says so, API requests fail fast with 503, and
    everything recovers once Postgres is back."""

    def tearDown(self):
        lib.stack("pg-start")  # leave the stack as it was, whatever happened

    def test_outage_gives_503_fast_and_recovers(self):
        user_token = lib.token(lib.unique("user_outage"))
        lib.stack("pg-stop")

        resp = lib.wait_for_status("/readyz", 503, timeout=10)
        lib.assert_error_body(resp, 503, "unavailable")
        self.assertIn("postgres", resp.json["error"]["message"].lower())

        resp = lib.get("/api/chats", token=user_token, timeout=15)
        lib.assert_error_body(resp, 503, "unavailable")
        self.assertTrue(resp.header("Retry-After"), "a 503 must carry Retry-After")
        self.assertLess(resp.elapsed, 6.0, "an outage must answer within seconds, not hang")

        lib.stack("pg-start")
        resp = lib.wait_for_status("/readyz", 200, timeout=20)
        self.assertEqual(resp.status, 200, "/readyz after pg-start: %r" % (resp,))
        resp = lib.wait_for_status("/api/chats", 200, timeout=10, token=user_token)
        self.assertEqual(resp.status, 200, "GET /api/chats after pg-start: %r" % (resp,))


class ServiceLifecycleTest(unittest.TestCase):
    def test_sigterm_stops_a_service_within_2s_and_its_supervisor_restarts_only_it(self):
        before = {name: lib.service_pid(name) for name in lib.SERVICES}
        for name, pid in before.items():
            self.assertTrue(pid and lib.process_alive(pid), "%s-svc is not running" % name)

        os.kill(before["messages"], signal.SIGTERM)
        started = time.monotonic()
        exited = lib.wait_for(lambda: not lib.process_alive(before["messages"]), timeout=2.0,
                              interval=0.05)
        took = time.monotonic() - started
        self.assertTrue(exited, "messages-svc still runs 2 s after SIGTERM")
        self.assertLess(took, 2.0)
        resp = lib.wait_for_status("/svc/messages/readyz", 200, timeout=10)
        self.assertEqual(resp.status, 200, resp)
        lib.stack("up", timeout=120)  # brings back what is missing, leaves the rest
        after = {name: lib.service_pid(name) for name in lib.SERVICES}
        self.assertNotEqual(after["messages"], before["messages"])
        self.assertTrue(lib.process_alive(after["messages"]))
        for name in ("chats", "sync", "import"):
            self.assertEqual(after[name], before[name], "%s-svc was restarted" % name)

    def test_up_twice_is_harmless(self):
        before = {name: lib.service_pid(name) for name in lib.SERVICES}
        lib.stack("up", timeout=120)
        self.assertEqual({name: lib.service_pid(name) for name in lib.SERVICES}, before)
        self.assertEqual(lib.stack("status", check=False).returncode, 0)


class MigrationTest(unittest.TestCase):
    MIGRATE = os.path.join(lib.REPO, "deploy", "migrate.sh")

    def migrate(self, migrations_dir=None):
        env = dict(os.environ, DATABASE_URL=lib.DATABASE_URL)
        if migrations_dir:
            env["MIGRATIONS_DIR"] = migrations_dir
        return subprocess.run(["bash", self.MIGRATE], env=env, capture_output=True, text=True,
                              timeout=120)

    def applied(self):
        return lib.psql("SELECT version, applied_at FROM schema_migrations ORDER BY version")

    def schema(self):
        dump = subprocess.run(["pg_dump", "--schema-only", "--no-owner", "-d", lib.DATABASE_URL],
                              check=True, capture_output=True, text=True, timeout=60).stdout
        # pg_dump >= 15.14 fences its output with a random \restrict key
        fence = ("\\restrict", "\\unrestrict")
        return [line for line in dump.splitlines() if not line.startswith(fence)]

    def test_rerun_changes_nothing(self):
        rows = self.applied()
        self.assertIn("001_init", [row[0] for row in rows])
        schema = self.schema()
        done = self.migrate()
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(self.applied(), rows)
        self.assertEqual(self.schema(), schema)

    def test_failing_migration_applies_nothing_and_fails_loudly(self):
        with tempfile.TemporaryDirectory() as folder:
            for name in os.listdir(os.path.join(lib.REPO, "db", "migrations")):
                shutil.copy(os.path.join(lib.REPO, "db", "migrations", name), folder)
            with open(os.path.join(folder, "999_test_broken.sql"), "w") as f:
                f.write("CREATE TABLE test_broken_migration (id int);\nSELECT 1 / 0;\n")
            done = self.migrate(folder)
        self.assertNotEqual(done.returncode, 0)
        self.assertIn("999_test_broken", done.stderr)
        self.assertEqual(lib.psql("SELECT to_regclass('test_broken_migration') IS NULL"), [("t",)])
        self.assertEqual(lib.psql("SELECT count(*) FROM schema_migrations "
                                  "WHERE version = '999_test_broken'"), [("0",)])


if __name__ == "__main__":
    unittest.main()

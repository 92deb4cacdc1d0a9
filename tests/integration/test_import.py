"""Issue 6: migration from the legacy export and back.

`chatsync import | export | verify` and POST /api/import, GET /api/export,
against the real stack, on exports made by tests/gen_export.py. Every test
uses ids and users of its own (the database is shared with other tests); the
round trip makes two databases of its own and drops them."""
import datetime
import json
import os
import re
import signal
import subprocess
import tempfile
import time
import unittest
import urllib.parse

import lib

GEN = os.path.join(lib.REPO, "tests", "gen_export.py")
MIGRATE = os.path.join(lib.REPO, "deploy", "migrate.sh")


def generate(directory, prefix, *args):
    """An export and the summary of what an import of it must report."""
    path = os.path.join(directory, prefix + "export.json")
    summary = os.path.join(directory, prefix + "summary.json")
    subprocess.run(["python3", GEN, "--prefix", prefix, "--output", path, "--summary", summary]
                   + list(args), check=True, timeout=300)
    with open(summary) as f:
        return path, json.load(f)


def cli(*args, database_url=None, timeout=600):
    env = dict(os.environ)
    if database_url:
        env["DATABASE_URL"] = database_url
    return subprocess.run([os.path.join(lib.BIN_DIR, "chatsync")] + list(args), env=env,
                          capture_output=True, text=True, timeout=timeout)


def import_json(path, *extra, database_url=None):
    done = cli("import", path, "--json", *extra, database_url=database_url)
    if done.returncode != 0:
        raise AssertionError("chatsync import failed (%d): %s" % (done.returncode, done.stderr))
    return json.loads(done.stdout)


def count(table, prefix, database_url=None):
    return int(lib.psql("SELECT count(*) FROM %s WHERE user_id LIKE '%s%%'" % (table, prefix),
                        database_url)[0][0])


def iso_ms(text):
    """The legacy timestamp spellings, in milliseconds (an independent reading)."""
    m = re.match(r"(\d{4}-\d\d-\d\d)[T ](\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d(:?\d\d)?)?$", text)
    when = datetime.datetime.fromisoformat(m.group(1) + "T" + m.group(2))
    zone = m.group(4)
    if zone and zone != "Z":
        sign = 1 if zone[0] == "+" else -1
        when -= sign * datetime.timedelta(hours=int(zone[1:3]), minutes=int(zone[-2:]) if len(zone) > 3 else 0)
    seconds = (when - datetime.datetime(1970, 1, 1)).total_seconds()
    return int(seconds) * 1000 + int(((m.group(3) or ".")[1:] + "000")[:3])


def admin_url():
    url = urllib.parse.urlsplit(lib.DATABASE_URL)
    return "postgresql://postgres@%s:%d/postgres" % (url.hostname, url.port)


def database_of(name):
    url = urllib.parse.urlsplit(lib.DATABASE_URL)
    return "postgresql://chatsync@%s:%d/%s" % (url.hostname, url.port, name)


class ImportCase(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.TemporaryDirectory()
        self.addCleanup(self.dir.cleanup)
        self.prefix = lib.unique("imp") + "_"

    def assert_report_matches(self, report, summary):
        for table in ("chats", "messages", "syncStatus"):
            got, want = report[table], summary[table]
            self.assertEqual(got["read"], want["read"], table)
            self.assertEqual(got["read"], got["inserted"] + got["skipped"] + got["rejected"], table)
            self.assertEqual(got["rejected"], want["rejected"], (table, report["rejects"]))
            listed = sorted(r["id"] for r in report["rejects"] if r["table"] == table)
            self.assertEqual(listed, sorted(want["rejected_ids"]), table)
        for reject in report["rejects"]:
            self.assertTrue(reject["reason"], reject)


class ImportVerifyTest(ImportCase):
    def test_generated_export_imports_verifies_and_syncs(self):
        path, summary = generate(self.dir.name, self.prefix, "--chats", "40",
                                 "--messages-per-chat", "6", "--users", "5", "--big-every", "60")
        report = import_json(path)
        self.assert_report_matches(report, summary)
        for table in ("chats", "messages", "syncStatus"):
            self.assertEqual(report[table]["inserted"],
                             summary[table]["read"] - summary[table]["rejected"]
                             - summary[table]["duplicates"], table)
        verify = cli("verify", path)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        self.assertIn("verify: OK", verify.stdout)
        self.check_content(path)
        self.check_versions_and_sync(summary["users"][1])

    def check_content(self, path):
        """Content, attachments, positions and times as an independent reader sees the file."""
        with open(path) as f:
            doc = json.load(f)
        rows = lib.psql("SELECT json_agg(json_build_object('id', id, 'content', content, "
                        "'attachments', attachments, 'position', position, 'role', role, "
                        "'ts', \"timestamp\", 'created', created_at, 'updated', updated_at, "
                        "'deleted', is_deleted)) FROM messages WHERE user_id LIKE '%s%%'"
                        % self.prefix)
        stored = {r["id"]: r for r in json.loads(rows[0][0])}
        seen = set()
        for m in doc["messages"]:
            if m["id"] in seen or m["id"] not in stored:
                continue
            seen.add(m["id"])
            row = stored[m["id"]]
            with self.subTest(message=m["id"]):
                self.assertEqual(row["content"], m["content"])
                self.assertEqual(row["attachments"], m["attachments"])
                self.assertEqual(row["position"], m["position"])
                self.assertEqual(row["deleted"], m["is_deleted"])
                self.assertEqual(row["ts"], iso_ms(m["timestamp"]))
                self.assertEqual(row["updated"], iso_ms(m["updated_at"]))
        self.assertEqual(len(seen), len(stored))
        self.assertTrue(any(len(r["content"].encode()) >= 100 * 1024 for r in stored.values()))

    def check_versions_and_sync(self, user):
        versions = [int(v) for (v,) in lib.psql(
            "SELECT version FROM chats WHERE user_id = '%s' UNION ALL "
            "SELECT version FROM messages WHERE user_id = '%s'" % (user, user))]
        self.assertEqual(len(versions), len(set(versions)), "versions repeat")
        counter = int(lib.psql("SELECT version FROM user_versions WHERE user_id = '%s'" % user)[0][0])
        self.assertLessEqual(max(versions), counter)
        # sync delivers every imported row, tombstones included, in version order
        token = lib.token(user)
        ids, cursor = [], "0"
        for _ in range(100):
            resp = lib.get("/api/sync?cursor=%s&limit=500" % cursor, token=token)
            self.assertEqual(resp.status, 200, resp)
            ids += [c["id"] for c in resp.json["changes"]]
            cursor = resp.json["cursor"]
            if not resp.json["hasMore"]:
                break
        self.assertEqual(len(ids), len(versions))
        # and the wake-up went out
        out = subprocess.run(["redis-cli", "-u", os.environ["REDIS_URL"], "XREVRANGE",
                              lib.wake_stream_key(user), "+", "-", "COUNT", "1000"],
                             capture_output=True, text=True, timeout=30).stdout
        self.assertIn(user, out)

    def test_second_import_writes_nothing_new(self):
        path, summary = generate(self.dir.name, self.prefix, "--chats", "20",
                                 "--messages-per-chat", "4", "--users", "3")
        first = import_json(path)
        counters = lib.psql("SELECT user_id, version FROM user_versions WHERE user_id LIKE '%s%%' "
                            "ORDER BY 1" % self.prefix)
        second = import_json(path)
        self.assert_report_matches(second, summary)
        for table in ("chats", "messages", "syncStatus"):
            self.assertEqual(second[table]["inserted"], 0, table)
            self.assertEqual(second[table]["skipped"],
                             first[table]["inserted"] + first[table]["skipped"], table)
        self.assertEqual(counters, lib.psql(
            "SELECT user_id, version FROM user_versions WHERE user_id LIKE '%s%%' ORDER BY 1"
            % self.prefix), "a re-run must not take versions")

    def test_dry_run_reports_and_writes_nothing(self):
        path, summary = generate(self.dir.name, self.prefix, "--chats", "10",
                                 "--messages-per-chat", "3", "--users", "2")
        report = import_json(path, "--dry-run")
        self.assertTrue(report.get("dryRun"))
        self.assert_report_matches(report, summary)
        self.assertEqual(report["messages"]["inserted"], 30)
        for table in ("chats", "messages", "sync_status", "user_versions"):
            self.assertEqual(count(table, self.prefix), 0, table)
        verify = cli("verify", path)
        self.assertEqual(verify.returncode, 1, verify.stdout)
        self.assertIn("missing in the store", verify.stdout)

    def test_killed_import_resumes_without_duplicates_or_gaps(self):
        # small batches: many commits, so that the kill lands between two of them; and
        # enough of them (250) that the import cannot finish while the test's count of
        # the first ones (a psql of its own) comes back
        path, summary = generate(self.dir.name, self.prefix, "--chats", "1000",
                                 "--messages-per-chat", "10", "--users", "6", "--big-every", "50",
                                 "--clean")
        total = summary["messages"]["read"]
        proc = subprocess.Popen([os.path.join(lib.BIN_DIR, "chatsync"), "import", path,
                                 "--batch-rows", "40"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            lib.wait_for(lambda: proc.poll() is not None or count("messages", self.prefix) > 0,
                         timeout=300, interval=0.02)
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.wait(timeout=30)
        partial = count("messages", self.prefix)
        self.assertGreater(partial, 0)
        self.assertLess(partial, total, "the import finished before it could be killed")
        report = import_json(path)
        self.assertEqual(report["messages"]["inserted"], total - partial)
        self.assertEqual(count("messages", self.prefix), total)
        verify = cli("verify", path)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)

    def test_verify_names_every_difference(self):
        path, _ = generate(self.dir.name, self.prefix, "--chats", "6", "--messages-per-chat", "3",
                           "--users", "2", "--clean")
        import_json(path)
        p = self.prefix
        lib.psql("UPDATE messages SET content = 'changed' WHERE id = '%sm_0_1'" % p)
        lib.psql("DELETE FROM messages WHERE id = '%sm_1_2'" % p)
        lib.psql("INSERT INTO chats (id, user_id, title, \"timestamp\", version, created_at, "
                 "updated_at) VALUES ('%sc_extra', '%suser_0', 'new', 1, 1000000, 1, 1)" % (p, p))
        verify = cli("verify", path)
        self.assertEqual(verify.returncode, 1, verify.stdout)
        out = verify.stdout
        self.assertRegex(out, r"differs: messages \"%sm_0_1\".*content" % p)
        self.assertIn('missing in the store: messages "%sm_1_2"' % p, out)
        self.assertIn('not in the file: chats "%sc_extra"' % p, out)
        self.assertIn("checksum differs", out)
        self.assertRegex(out, r"user \"%suser_1\": messages: \d+ in the file, \d+ in the store" % p)


class ImportRulesTest(ImportCase):
    def write(self, doc):
        path = os.path.join(self.dir.name, "doc.json")
        with open(path, "w") as f:
            f.write(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    def chat(self, cid, user, **extra):
        row = {"id": self.prefix + cid, "user_id": self.prefix + user, "title": "t",
               "timestamp": "2024-01-02T03:04:05.678Z", "branches": None, "is_deleted": False}
        row.update(extra)
        return row

    def message(self, mid, cid, user, position, **extra):
        row = {"id": self.prefix + mid, "chat_id": self.prefix + cid, "user_id": self.prefix + user,
               "content": "hi", "role": "user", "timestamp": "2024-01-02T03:04:05Z",
               "position": position, "attachments": None, "is_deleted": False}
        row.update(extra)
        return row

    def test_ownership_and_positions_are_enforced(self):
        import_json(self.write({"chats": [self.chat("c1", "alice")],
                                "messages": [self.message("m1", "c1", "alice", 0)]}))
        report = import_json(self.write({
            "chats": [self.chat("c1", "bob"), self.chat("c2", "bob")],
            "messages": [self.message("m1", "c2", "bob", 0),      # id held by alice
                         self.message("m2", "c1", "bob", 5),      # alice's chat
                         self.message("m3", "c1", "alice", 0),    # position taken in store
                         self.message("m4", "c2", "bob", 1),
                         self.message("m5", "c2", "bob", 1),      # taken by m4 in the file
                         self.message("m6", "c2", "bob", None)],
        }))
        reasons = {r["id"][len(self.prefix):]: r["reason"] for r in report["rejects"]}
        self.assertIn("another user", reasons["c1"])
        self.assertIn("another user", reasons["m1"])
        self.assertIn("another user", reasons["m2"])
        self.assertIn("position", reasons["m3"])
        self.assertIn("position", reasons["m5"])
        self.assertEqual(report["messages"]["inserted"], 2)
        self.assertEqual(report["chats"]["inserted"], 1)

    def test_timestamps_and_defaults(self):
        chat = self.chat("c1", "u", timestamp="2024-01-02T05:04:05.678999+02:00", branches=None)
        no_zone = self.message("m1", "c1", "u", None, timestamp="2024-01-02T03:04:05.678",
                               created_at=None, is_deleted=True, attachments={"b": 1, "a": [0.5]})
        import_json(self.write({"messages": [no_zone], "chats": [chat]}))
        rows = lib.psql("SELECT \"timestamp\", created_at, updated_at, branches::text FROM chats "
                        "WHERE id = '%sc1'" % self.prefix)
        self.assertEqual(rows, [("1704164645678", "1704164645678", "1704164645678", "[]")])
        rows = lib.psql("SELECT \"timestamp\", created_at, is_deleted, position IS NULL, "
                        "attachments->>'b' FROM messages WHERE id = '%sm1'" % self.prefix)
        self.assertEqual(rows, [("1704164645678", "1704164645678", "t", "t", "1")])

    def test_a_value_postgres_refuses_rejects_only_its_row(self):
        rows = [self.message("m%d" % i, "c1", "u", i, attachments="@%d@" % i) for i in range(3)]
        doc = json.dumps({"chats": [self.chat("c1", "u")], "messages": rows})
        doc = doc.replace('"@0@"', "1e1000000")                 # beyond numeric
        doc = doc.replace('"@1@"', "[" * 1500 + "]" * 1500)     # deep, but fine
        doc = doc.replace('"@2@"', '{"n": 0.10, "big": 123456789012345678901234567890}')
        report = import_json(self.write(doc))
        self.assertEqual(report["messages"]["inserted"], 2)
        self.assertEqual([r["id"] for r in report["rejects"]], [self.prefix + "m0"])
        self.assertIn("numeric", report["rejects"][0]["reason"])
        rows = lib.psql("SELECT attachments::text FROM messages WHERE id = '%sm2'" % self.prefix)
        self.assertEqual(rows, [('{"n": 0.10, "big": 123456789012345678901234567890}',)])

    def test_malformed_files_give_a_clear_error_and_write_nothing(self):
        path, _ = generate(self.dir.name, self.prefix, "--chats", "30", "--messages-per-chat",
                           "3", "--users", "2", "--chats-first")
        with open(path, "rb") as f:
            whole = f.read()
        cases = {
            "truncated": (whole[: len(whole) * 2 // 3], "truncated"),
            "not json": (b"chats,messages\n1,2\n", "not a JSON document"),
            "wrong top-level type": (b'[{"chats": []}]', "expected a JSON object at the top level"),
            "member not an array": (b'{"chats": {"id": "x"}}', "chats: expected an array"),
            "empty": (b"", "empty document"),
        }
        for name, (data, message) in cases.items():
            with self.subTest(case=name):
                bad = os.path.join(self.dir.name, "bad.json")
                with open(bad, "wb") as f:
                    f.write(data)
                done = cli("import", bad)
                self.assertEqual(done.returncode, 1, done.stdout)
                self.assertIn(message, done.stderr)
                self.assertIn("nothing was written", done.stderr)
                for table in ("chats", "messages", "sync_status", "user_versions"):
                    self.assertEqual(count(table, self.prefix), 0, table)


class RoundTripTest(ImportCase):
    def make_database(self, name):
        lib.psql("CREATE DATABASE %s OWNER chatsync" % name, admin_url())
        self.addCleanup(lib.psql, "DROP DATABASE IF EXISTS %s" % name, admin_url())
        env = dict(os.environ, DATABASE_URL=database_of(name))
        subprocess.run(["bash", MIGRATE], env=env, check=True, capture_output=True, timeout=120)
        return database_of(name)

    def test_import_export_import_verifies_against_the_first_file(self):
        path, _ = generate(self.dir.name, self.prefix, "--chats", "25", "--messages-per-chat", "5",
                           "--users", "4", "--big-every", "40")
        suffix = re.sub(r"[^a-z0-9]", "", self.prefix.lower())[-20:]
        first, second = self.make_database("rt_a_" + suffix), self.make_database("rt_b_" + suffix)
        import_json(path, database_url=first)
        exported = os.path.join(self.dir.name, "rollback.json")
        done = cli("export", "--output", exported, database_url=first)
        self.assertEqual(done.returncode, 0, done.stderr)
        with open(exported) as f:
            doc = json.load(f)
        self.assertTrue(any(m["is_deleted"] for m in doc["messages"]), "deleted rows are exported")
        import_json(exported, database_url=second)
        verify = cli("verify", path, database_url=second)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)
        verify = cli("verify", exported, database_url=first)
        self.assertEqual(verify.returncode, 0, verify.stdout + verify.stderr)


class ServiceTest(ImportCase):
    def post(self, body, token=None, query=""):
        return lib.post("/api/import" + query, data=body, content_type="application/json",
                        token=token or os.environ["IMPORT_TOKEN"], timeout=120)

    def test_post_import_needs_the_service_token(self):
        self.assertEqual(lib.post("/api/import", json_body={}).status, 401)
        lib.assert_error_body(self.post("{}", token="not-the-token"), 401, "unauthorized")
        lib.assert_error_body(lib.post("/api/import", json_body={}, token=lib.token("someone")),
                              401, "unauthorized")
        self.assertEqual(lib.get("/api/export?userId=x").status, 401)

    def test_service_token_scheme_is_case_insensitive(self):
        # RFC 7235: the same Bearer parser as for user tokens, so "bearer" in
        # lower case and blanks around the token are accepted
        for value in ("bearer " + os.environ["IMPORT_TOKEN"],
                      "BEARER  " + os.environ["IMPORT_TOKEN"] + " "):
            resp = lib.post("/api/import?dryRun=1", data="{}", content_type="application/json",
                            headers={"Authorization": value}, timeout=60)
            self.assertEqual(resp.status, 200, resp)
        lib.assert_error_body(
            lib.post("/api/import?dryRun=1", data="{}", content_type="application/json",
                     headers={"Authorization": "bearer " + os.environ["IMPORT_TOKEN"] + "x"}),
            401, "unauthorized")

    def test_post_import_reports_and_accepts_a_part_of_a_document(self):
        path, summary = generate(self.dir.name, self.prefix, "--chats", "10",
                                 "--messages-per-chat", "3", "--users", "2", "--chats-first")
        with open(path) as f:
            doc = json.load(f)
        resp = self.post(json.dumps({"chats": doc["chats"]}), query="?dryRun=1")
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.json["dryRun"])
        self.assertEqual(count("chats", self.prefix), 0)
        resp = self.post(json.dumps({"chats": doc["chats"]}))
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["messages"]["read"], 0)
        resp = self.post(json.dumps({"messages": doc["messages"], "syncStatus": doc["syncStatus"]}))
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["messages"]["rejected"], summary["messages"]["rejected"])
        self.assertEqual(resp.json["messages"]["inserted"],
                         summary["messages"]["read"] - summary["messages"]["rejected"]
                         - summary["messages"]["duplicates"])
        self.assertEqual(sorted(r["id"] for r in resp.json["rejects"] if r["table"] == "messages"),
                         sorted(summary["messages"]["rejected_ids"]))
        self.assertEqual(cli("verify", path).returncode, 0)

    def test_post_malformed_document_is_400_and_writes_nothing(self):
        body = json.dumps({"chats": [ImportRulesTest.chat(self, "c1", "u")]})
        lib.assert_error_body(self.post(body[:-5]), 400, "bad_request")
        lib.assert_error_body(self.post("[1, 2]"), 400, "bad_request")
        self.assertEqual(count("chats", self.prefix), 0)

    def test_get_export_streams_a_users_rows_in_the_legacy_format(self):
        path, _ = generate(self.dir.name, self.prefix, "--chats", "8", "--messages-per-chat", "3",
                           "--users", "2", "--clean")
        import_json(path)
        user = self.prefix + "user_1"
        resp = lib.get("/api/export?userId=" + urllib.parse.quote(user),
                       token=os.environ["IMPORT_TOKEN"], timeout=60)
        self.assertEqual(resp.status, 200, resp)
        self.assertTrue(resp.header("Content-Type", "").startswith("application/json"))
        doc = resp.json
        self.assertEqual(set(doc), {"chats", "messages", "syncStatus", "exportedAt"})
        self.assertEqual(len(doc["chats"]), 4)
        self.assertEqual(len(doc["messages"]), 12)
        self.assertTrue(all(c["user_id"] == user for c in doc["chats"]))
        self.assertRegex(doc["messages"][0]["timestamp"], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
        cli_doc = json.loads(cli("export", "--user", user).stdout)
        del cli_doc["exportedAt"], doc["exportedAt"]
        self.assertEqual(cli_doc, doc)


if __name__ == "__main__":
    unittest.main()

"""Hostile input (issue 11): the requests that crashed a worker now get a clean
4xx, the worker keeps serving, and every answer has a bound.

The test stack runs every service with 64 KiB thread stacks, the smallest the
config allows (tests/run.py), so that the suites prove those stacks sufficient:
each test here drives its routes with the deepest and largest input the limits
let through, then checks that the same process still answers."""
import base64
import json
import os
import unittest

import lib
from test_chats import create_chat, new_user

MIB = 1024 * 1024
ANSWER_BYTES = 16 * MIB   # common/bounds.h CS_LIMIT_ANSWER_BYTES
BODY_DEPTH = 64           # CS_LIMIT_BODY_DEPTH
TOKEN_DEPTH = 32          # CS_LIMIT_TOKEN_DEPTH
JSON_VALUES = 100000      # CS_LIMIT_JSON_VALUES
DOCUMENT_BYTES = 1024     # CS_LIMIT_DOCUMENT_BYTES: what each document counts besides its texts
BRANCHES = 1000           # CS_LIMIT_BRANCHES
DEVICES = 100             # CS_LIMIT_DEVICES

# Every route of every service, with a path that reaches its handler.
ROUTES = [
    ("chats", "GET", "/api/chats"), ("chats", "POST", "/api/chats"),
    ("chats", "GET", "/api/chats/c_x"), ("chats", "PATCH", "/api/chats/c_x"),
    ("chats", "DELETE", "/api/chats/c_x"), ("chats", "POST", "/api/chats/c_x/branch"),
    ("messages", "GET", "/api/chats/c_x/messages"),
    ("messages", "POST", "/api/chats/c_x/messages"),
    ("messages", "PATCH", "/api/messages/m_x"), ("messages", "DELETE", "/api/messages/m_x"),
    ("sync", "GET", "/api/sync"), ("sync", "GET", "/api/sync-status"),
    ("sync", "PUT", "/api/sync-status/d_x"),
]
BODY_ROUTES = [r for r in ROUTES if r[1] in ("POST", "PATCH", "PUT")]


def b64(raw):
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def nested(depth, inner="1"):
    """A JSON value of depth levels: [[...inner...]]."""
    return "[" * depth + inner + "]" * depth


def service_pid(name):
    with open(os.path.join(lib.RUN_DIR, "pid", name + ".pid")) as f:
        return int(f.read().split()[0])


class HostileTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user("user_hostile")
        cls.pids = {name: service_pid(name) for name in ("chats", "messages", "sync")}

    def assert_still_serving(self):
        """The same processes answer: nothing crashed (a restart would change the pid)."""
        for name, pid in self.pids.items():
            self.assertEqual(service_pid(name), pid, "%s-svc was restarted" % name)
            os.kill(pid, 0)
            self.assertEqual(lib.get("/svc/%s/healthz" % name).status, 200)
        self.assertEqual(lib.get("/api/chats", token=self.token).status, 200)

    def test_services_run_on_64_kib_stacks(self):
        for name, pid in self.pids.items():
            with open("/proc/%d/environ" % pid, "rb") as f:
                env = dict(item.split(b"=", 1) for item in f.read().split(b"\0") if b"=" in item)
            self.assertEqual(env.get(b"CHATSYNC_THREAD_STACK_KB"), b"64", name)

    def test_forged_token_with_a_deep_header_is_401_on_every_route(self):
        # the crash of issue 11 (800 levels overflow 64 KiB): 1,800 levels parsed before the signature is checked
        header = b64(b'{"a":' * 1800 + b"1" + b"}" * 1800)
        payload = b64(json.dumps({"sub": "x", "exp": 4102444800}).encode())
        token = "%s.%s.%s" % (header, payload, b64(b"sig"))
        self.assertLess(len(token), 16000)  # under nginx's 16k header buffer: it reaches the service
        for _, method, path in ROUTES:
            resp = lib.request(method, path, json_body={} if method != "GET" and method != "DELETE"
                               else None, token=token)
            self.assertEqual(resp.status, 401, (method, path, resp))
            self.assertEqual(resp.json["error"]["code"], "unauthorized")
        self.assert_still_serving()

    def test_token_payload_past_its_depth_is_401(self):
        header = b64(json.dumps({"alg": "RS256", "kid": "dev"}).encode())
        payload = b64(('{"sub":"x","a":%s}' % nested(TOKEN_DEPTH)).encode())
        resp = lib.get("/api/sync", token="%s.%s.%s" % (header, payload, b64(b"s")))
        self.assertEqual(resp.status, 401, resp)
        self.assert_still_serving()

    def test_bodies_past_their_depth_are_400_on_every_route(self):
        chat = create_chat(self.token)
        for depth in (BODY_DEPTH, 2000):  # 64 inside the outer object: 65 levels in all
            body = '{"attachments":%s}' % nested(depth)
            for _, method, path in BODY_ROUTES:
                path = path.replace("c_x", chat["id"])
                resp = lib.request(method, path, data=body, token=self.token,
                                   content_type="application/json")
                self.assertEqual(resp.status, 400, (method, path, resp))
                self.assertEqual(resp.json["error"]["message"],
                                 "body: nested deeper than %d levels" % BODY_DEPTH)
        self.assert_still_serving()

    def test_attachments_at_the_deepest_allowed_level_are_stored_and_read_back(self):
        chat = create_chat(self.token)
        attachments = json.loads(nested(BODY_DEPTH - 1))
        resp = lib.post("/api/chats/%s/messages" % chat["id"],
                        {"content": "deep", "role": "user", "attachments": attachments},
                        token=self.token)
        self.assertEqual(resp.status, 201, resp)
        message = resp.json["message"]
        self.assertEqual(message["attachments"], attachments)
        resp = lib.request("PATCH", "/api/messages/%s" % message["id"],
                           json_body={"attachments": attachments}, token=self.token)
        self.assertEqual(resp.status, 200, resp)
        got = lib.get("/api/chats/%s" % chat["id"], token=self.token)
        self.assertEqual(got.json["messages"][0]["attachments"], attachments)
        changes = lib.get("/api/sync?cursor=0&limit=1000", token=self.token).json["changes"]
        self.assertIn(attachments, [c["doc"].get("attachments") for c in changes])
        self.assert_still_serving()

    def test_largest_body_of_control_characters_is_stored_and_answered_escaped(self):
        # 1 MiB of control characters is 6 MiB once escaped: under the 8 MiB body limit
        chat = create_chat(self.token)
        content = "\u0001" * MIB
        resp = lib.post("/api/chats/%s/messages" % chat["id"],
                        {"content": content, "role": "assistant"}, token=self.token, timeout=60)
        self.assertEqual(resp.status, 201, resp.status)
        got = lib.get("/api/chats/%s" % chat["id"], token=self.token, timeout=60)
        self.assertEqual(got.status, 200)
        self.assertEqual(got.json["messages"][0]["content"], content)
        self.assert_still_serving()

    def test_cursor_text_that_is_not_utf8_or_holds_nul_is_400_naming_the_cursor(self):
        """A cursor's text goes to Postgres as a parameter. Before it was checked,
        bad UTF-8 failed inside Postgres ("invalid value") and a NUL cut the id
        short (200, a page after the wrong message)."""
        chat = create_chat(self.token)
        pages = {"/api/chats?cursor=%s": b"1700000000000:c_%s",
                 "/api/chats/" + chat["id"] + "/messages?cursor=%s": b"3:1700000000000:m_%s",
                 "/api/sync?cursor=%s": b"3:1\tm_%s\n"}  # version 3, a streamed reply at chunk 1
        for path, text in pages.items():
            for bad in (b"\xff", b"\xc3", b"\xed\xa0\x80", b"a\x00b"):
                with self.subTest(path=path, bad=bad):
                    resp = lib.get(path % b64(text % bad), token=self.token)
                    lib.assert_error_body(resp, 400, "bad_request")
                    self.assertEqual(resp.json["error"]["message"], "cursor: malformed")
            with self.subTest(path=path, bad=None):
                self.assertEqual(lib.get(path % b64(text % b"x"), token=self.token).status, 200)


class CountBoundTest(unittest.TestCase):
    """Bounds on counts, found by an adversarial review: many tiny values or
    documents must not slip under limits that only count bytes."""

    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user("user_count_bound")

    def test_body_of_more_values_than_the_bound_is_400_before_it_is_parsed(self):
        chat = create_chat(self.token)
        path = "/api/chats/%s/messages" % chat["id"]

        def attachments_of(zeros):  # 2 containers, 2 more members and the zeros: zeros + 4
            return '{"content":"x","role":"user","attachments":[%s]}' % ",".join(["0"] * zeros)

        resp = lib.request("POST", path, data=attachments_of(JSON_VALUES - 3), token=self.token,
                           content_type="application/json")
        self.assertEqual(resp.status, 400, resp)
        self.assertEqual(resp.json["error"]["message"], "body: more than %d values" % JSON_VALUES)
        resp = lib.request("POST", path, data=attachments_of(JSON_VALUES - 4), token=self.token,
                           content_type="application/json")
        self.assertEqual(resp.status, 201, resp)
        self.assertEqual(len(resp.json["message"]["attachments"]), JSON_VALUES - 4)

    def test_many_empty_messages_count_against_the_answer_bound(self):
        chat = create_chat(self.token)
        count = ANSWER_BYTES // DOCUMENT_BYTES + 10
        # written straight into Postgres (negative versions: never in anyone's sync)
        lib.psql("INSERT INTO messages (id, chat_id, user_id, content, role, \"timestamp\", "
                 "position, version, created_at, updated_at) SELECT 'm_empty_' || i, '%s', '%s', "
                 "'', 'user', 0, i, -1 - i, 0, 0 FROM generate_series(0, %d) i"
                 % (chat["id"], self.user, count - 1))
        resp = lib.get("/api/chats/%s" % chat["id"], token=self.token, timeout=60)
        self.assertEqual(resp.status, 422, resp.status)
        resp = lib.post("/api/chats/%s/branch" % chat["id"],
                        {"fromMessageId": "m_empty_%d" % (count - 1)}, token=self.token, timeout=60)
        self.assertEqual(resp.status, 422, resp.status)
        resp = lib.post("/api/chats/%s/branch" % chat["id"], {"fromMessageId": "m_empty_9"},
                        token=self.token, timeout=60)
        self.assertEqual(resp.status, 201, resp.status)
        self.assertEqual(len(resp.json["messages"]), 10)

    def test_branches_past_the_bound_are_400(self):
        chat = create_chat(self.token)
        resp = lib.request("PATCH", "/api/chats/%s" % chat["id"], token=self.token,
                           json_body={"branches": ["c_%d" % i for i in range(BRANCHES + 1)]})
        self.assertEqual(resp.status, 400, resp)
        self.assertIn("at most %d" % BRANCHES, resp.json["error"]["message"])
        resp = lib.request("PATCH", "/api/chats/%s" % chat["id"], token=self.token,
                           json_body={"branches": ["c_%d" % i for i in range(BRANCHES)]})
        self.assertEqual(resp.status, 200, resp)
        child = lib.post("/api/chats", {"title": "child", "parentChatId": chat["id"]},
                         token=self.token)
        self.assertEqual(child.status, 201, child)  # made, but the full list keeps its size
        got = lib.get("/api/chats/%s" % chat["id"], token=self.token).json["chat"]
        self.assertEqual(len(got["branches"]), BRANCHES)

    def test_devices_past_the_bound_are_409_and_the_list_is_bounded(self):
        user, token = new_user("user_devices")
        for i in range(DEVICES):
            resp = lib.request("PUT", "/api/sync-status/d_%d" % i, json_body={}, token=token)
            self.assertEqual(resp.status, 200, resp)
        resp = lib.request("PUT", "/api/sync-status/d_new", json_body={}, token=token)
        self.assertEqual(resp.status, 409, resp)
        self.assertIn("at most %d devices" % DEVICES, resp.json["error"]["message"])
        resp = lib.request("PUT", "/api/sync-status/d_7", json_body={"lastSyncTimestamp": 5},
                           token=token)
        self.assertEqual(resp.status, 200, resp)  # a known device still updates
        self.assertEqual(len(lib.get("/api/sync-status", token=token).json["devices"]), DEVICES)


class AnswerBoundTest(unittest.TestCase):
    """A chat holding more than the answer budget: pages stop at the budget and
    still walk every message exactly once; the whole-chat answer refuses."""

    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user("user_answer_bound")
        cls.chat = create_chat(cls.token)
        cls.ids = []
        for i in range(ANSWER_BYTES // MIB + 2):
            resp = lib.post("/api/chats/%s/messages" % cls.chat["id"],
                            {"content": chr(ord("a") + i) * MIB, "role": "assistant"},
                            token=cls.token, timeout=60)
            assert resp.status == 201, resp
            cls.ids.append(resp.json["message"]["id"])

    def test_whole_chat_answer_past_the_budget_is_422_naming_the_paged_route(self):
        resp = lib.get("/api/chats/%s" % self.chat["id"], token=self.token, timeout=60)
        self.assertEqual(resp.status, 422, resp.status)
        self.assertEqual(resp.json["error"]["code"], "answer_too_large")
        self.assertIn("/messages", resp.json["error"]["message"])

    def test_branch_that_would_copy_past_the_budget_is_422_and_writes_nothing(self):
        before = lib.get("/api/chats?limit=200", token=self.token).json["chats"]
        resp = lib.post("/api/chats/%s/branch" % self.chat["id"],
                        {"fromMessageId": self.ids[-1]}, token=self.token, timeout=60)
        self.assertEqual(resp.status, 422, resp.status)
        self.assertEqual(resp.json["error"]["code"], "answer_too_large")
        after = lib.get("/api/chats?limit=200", token=self.token).json["chats"]
        self.assertEqual(after, before)
        resp = lib.post("/api/chats/%s/branch" % self.chat["id"],
                        {"fromMessageId": self.ids[0]}, token=self.token, timeout=60)
        self.assertEqual(resp.status, 201, resp.status)
        self.assertEqual(len(resp.json["messages"]), 1)

    def test_message_pages_stop_at_the_budget_and_walk_every_message_once(self):
        seen, cursor, pages = [], None, 0
        while True:
            path = "/api/chats/%s/messages?limit=500" % self.chat["id"]
            if cursor:
                path += "&cursor=" + cursor
            resp = lib.get(path, token=self.token, timeout=60)
            self.assertEqual(resp.status, 200, resp.status)
            self.assertLess(len(resp.body), ANSWER_BYTES + 2 * MIB)
            seen += [m["id"] for m in resp.json["messages"]]
            pages += 1
            cursor = resp.json["nextCursor"]
            if not cursor:
                break
        self.assertEqual(seen, self.ids)
        self.assertGreaterEqual(pages, 2)

    def test_sync_pages_stop_at_the_budget_and_walk_every_change_once(self):
        seen, cursor, pages = [], "0", 0
        while True:
            resp = lib.get("/api/sync?limit=1000&cursor=" + cursor, token=self.token, timeout=60)
            self.assertEqual(resp.status, 200, resp.status)
            self.assertLess(len(resp.body), ANSWER_BYTES + 2 * MIB)
            seen += [c["id"] for c in resp.json["changes"]
                     if c["table"] == "messages" and c["doc"]["chatId"] == self.chat["id"]]
            cursor, pages = resp.json["cursor"], pages + 1
            if not resp.json["hasMore"]:
                break
        self.assertEqual(seen, self.ids)
        self.assertGreaterEqual(pages, 2)


if __name__ == "__main__":
    unittest.main()

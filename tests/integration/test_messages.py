"""Messages (API.md "Messages", DESIGN.md hard parts 2 and 3): append with
positions that stay unique and gapless under concurrent appends, idempotent
appends, limits, edits with If-Match, soft deletes and the paged list."""
import json
import time
import unittest

import lib
from test_chats import append, counter, create_chat, new_user, q, run_threads, user_state

MESSAGE_FIELDS = {"id", "chatId", "userId", "content", "role", "timestamp", "position",
                  "attachments", "isDeleted", "version", "createdAt", "updatedAt",
                  "streamState", "streamSeq"}
MIB = 1024 * 1024


def post_message(token, chat_id, body, **kwargs):
    return lib.post("/api/chats/%s/messages" % chat_id, body, token=token, **kwargs)


def rows_state(user):
    """The user's chats and messages, without the version counter (which a
    404 append moves: docs/decisions/versions.md)."""
    return user_state(user)[:2]


class AppendTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user("user_msgs")

    def setUp(self):
        self.chat = create_chat(self.token)

    def post(self, body, **kwargs):
        return post_message(self.token, self.chat["id"], body, **kwargs)

    def test_append_answers_the_document(self):
        before = int(time.time() * 1000)
        resp = self.post({"content": "hello", "role": "user"})
        self.assertEqual(resp.status, 201, resp)
        msg = resp.json["message"]
        self.assertEqual(set(msg), MESSAGE_FIELDS)
        self.assertTrue(msg["id"].startswith("m_"), msg)
        self.assertEqual((msg["chatId"], msg["userId"], msg["content"], msg["role"],
                          msg["position"], msg["attachments"], msg["isDeleted"]),
                         (self.chat["id"], self.user, "hello", "user", 0, None, False))
        self.assertGreaterEqual(msg["timestamp"], before - 1000)
        self.assertEqual(resp.header("ETag"), '"%d"' % msg["version"])
        self.assertGreater(msg["version"], self.chat["version"])
        self.assertEqual(counter(self.user), msg["version"])
        resp = self.post({"content": "", "role": "assistant", "timestamp": 1732450000000,
                          "attachments": [{"type": "image", "url": "https://x/y.png"}]})
        self.assertEqual(resp.status, 201, resp)
        msg = resp.json["message"]
        self.assertEqual((msg["content"], msg["role"], msg["timestamp"], msg["position"],
                          msg["attachments"]),
                         ("", "assistant", 1732450000000, 1,
                          [{"type": "image", "url": "https://x/y.png"}]))

    def test_append_without_position_is_max_plus_one_counting_deleted_messages(self):
        positions = [append(self.token, self.chat["id"], "m%d" % i)["position"] for i in range(3)]
        self.assertEqual(positions, [0, 1, 2])
        last = lib.get("/api/chats/" + self.chat["id"], token=self.token).json["messages"][-1]
        self.assertEqual(lib.request("DELETE", "/api/messages/" + last["id"],
                                     token=self.token).status, 200)
        self.assertEqual(append(self.token, self.chat["id"], "after delete")["position"], 3)
        for m in lib.get("/api/chats/" + self.chat["id"], token=self.token).json["messages"]:
            lib.request("DELETE", "/api/messages/" + m["id"], token=self.token)
        self.assertEqual(append(self.token, self.chat["id"], "all deleted")["position"], 4)

    def test_explicit_position_is_kept_and_later_appends_go_after_the_largest(self):
        self.assertEqual(append(self.token, self.chat["id"], "ten", position=10)["position"], 10)
        self.assertEqual(append(self.token, self.chat["id"], "auto")["position"], 11)
        self.assertEqual(append(self.token, self.chat["id"], "five", position=5)["position"], 5)
        self.assertEqual(append(self.token, self.chat["id"], "auto")["position"], 12)
        self.assertEqual(append(self.token, self.chat["id"], "null", position=None)["position"], 13)
        got = lib.get("/api/chats/" + self.chat["id"], token=self.token).json["messages"]
        self.assertEqual([m["position"] for m in got], [5, 10, 11, 12, 13])

    def test_explicit_taken_position_is_409_and_writes_nothing(self):
        taken = append(self.token, self.chat["id"], "zero", position=0)
        gone = append(self.token, self.chat["id"], "one", position=1)
        self.assertEqual(lib.request("DELETE", "/api/messages/" + gone["id"],
                                     token=self.token).status, 200)
        state = user_state(self.user)
        for position in (taken["position"], gone["position"]):
            with self.subTest(position=position):
                resp = self.post({"content": "dup", "role": "user", "position": position,
                                  "id": lib.unique("m_dup")})
                lib.assert_error_body(resp, 409, "conflict")
                self.assertIn("position", resp.json["error"]["message"])
        self.assertEqual(user_state(self.user), state)

    def test_append_with_client_id_twice_is_a_replay_that_writes_nothing(self):
        mid = lib.unique("m_client")
        first = self.post({"id": mid, "content": "once", "role": "user"})
        self.assertEqual(first.status, 201, first)
        rows = rows_state(self.user)
        again = self.post({"id": mid, "content": "twice", "role": "assistant"})
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.header("Idempotent-Replay"), "true")
        self.assertEqual(again.json["message"], first.json["message"])
        self.assertEqual(rows_state(self.user), rows)
        self.assertEqual(lib.psql("SELECT count(*) FROM messages WHERE id = %s" % q(mid)),
                         [("1",)])

    def test_append_with_id_of_another_users_message_is_409(self):
        other, other_token = new_user("user_msgs_other")
        theirs_chat = create_chat(other_token)
        mid = lib.unique("m_theirs")
        theirs = append(other_token, theirs_chat["id"], "theirs", id=mid)
        rows = rows_state(self.user)
        resp = self.post({"id": mid, "content": "mine", "role": "user"})
        lib.assert_error_body(resp, 409, "conflict")
        self.assertEqual(rows_state(self.user), rows)
        self.assertEqual(lib.get("/api/chats/" + theirs_chat["id"], token=other_token)
                         .json["messages"], [theirs])

    def test_role_other_than_user_or_assistant_is_400(self):
        for role in ("system", "User", "", "tool", 5, None):
            with self.subTest(role=role):
                resp = self.post({"content": "x", "role": role})
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn("role", resp.json["error"]["message"])
        lib.assert_error_body(self.post({"content": "x"}), 400, "bad_request")

    def test_content_of_1_mib_is_accepted_and_one_byte_more_is_400(self):
        resp = self.post({"content": "x" * MIB, "role": "user"}, timeout=30)
        self.assertEqual(resp.status, 201, resp)
        self.assertEqual(len(resp.json["message"]["content"]), MIB)
        state = user_state(self.user)
        # bytes, not characters: 524289 two-byte characters are 1 MiB + 2 bytes
        for content in ("x" * (MIB + 1), "\u00e9" * (MIB // 2 + 1)):
            with self.subTest(bytes=len(content.encode())):
                body = json.dumps({"content": content, "role": "user"}, ensure_ascii=False)
                resp = lib.post("/api/chats/%s/messages" % self.chat["id"], data=body.encode(),
                                content_type="application/json", token=self.token, timeout=30)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn("content", resp.json["error"]["message"])
        self.assertEqual(user_state(self.user), state)

    def test_content_of_1_mib_that_json_must_escape_is_accepted(self):
        # API.md allows 1 MiB of content; its JSON body is larger when the
        # content holds characters JSON escapes (newlines, quotes; non-ASCII
        # from encoders that write \uXXXX, like Python's json.dumps)
        for content in ("\n" * MIB, "\u4e2d" * (MIB // 3)):
            with self.subTest(first=content[0], bytes=len(content.encode())):
                resp = self.post({"content": content, "role": "user"}, timeout=30)
                self.assertEqual(resp.status, 201, resp)
                self.assertEqual(resp.json["message"]["content"], content)

    def test_body_over_the_nginx_limit_is_a_413_json_error(self):
        state = user_state(self.user)
        body = json.dumps({"content": "x" * (8 * MIB + 10), "role": "user"})
        resp = lib.post("/api/chats/%s/messages" % self.chat["id"], data=body,
                        content_type="application/json", token=self.token, timeout=30)
        lib.assert_error_body(resp, 413, "payload_too_large")
        self.assertEqual(user_state(self.user), state)

    def test_attachments_over_256_kib_are_400_and_under_are_kept(self):
        small = {"blob": "a" * (200 * 1024), "list": [1, 2.5, None, True, {"k": "é"}]}
        resp = self.post({"content": "x", "role": "user", "attachments": small})
        self.assertEqual(resp.status, 201, resp)
        self.assertEqual(resp.json["message"]["attachments"], small)
        for value in ("text", 42, [], {}):
            with self.subTest(attachments=value):
                resp = self.post({"content": "x", "role": "user", "attachments": value})
                self.assertEqual(resp.status, 201, resp)
                self.assertEqual(resp.json["message"]["attachments"], value)
        state = user_state(self.user)
        resp = self.post({"content": "x", "role": "user",
                          "attachments": {"blob": "a" * (256 * 1024)}}, timeout=30)
        lib.assert_error_body(resp, 400, "bad_request")
        self.assertIn("attachments", resp.json["error"]["message"])
        self.assertEqual(user_state(self.user), state)

    def test_bad_bodies_are_400_naming_the_field_and_write_nothing(self):
        append(self.token, self.chat["id"], "seed")
        state = user_state(self.user)
        cases = (({"content": 5, "role": "user"}, "content"),
                 ({"content": None, "role": "user"}, "content"),
                 ({"role": "user"}, "content"),
                 ({"content": "x", "role": "user", "position": "1"}, "position"),
                 ({"content": "x", "role": "user", "position": 1.5}, "position"),
                 ({"content": "x", "role": "user", "position": -1}, "position"),
                 ({"content": "x", "role": "user", "position": 2 ** 31}, "position"),
                 ({"content": "x", "role": "user", "timestamp": "now"}, "timestamp"),
                 ({"content": "x", "role": "user", "timestamp": -5}, "timestamp"),
                 ({"content": "x", "role": "user", "id": 12}, "id"),
                 ({"content": "x", "role": "user", "id": ""}, "id"),
                 ({"content": "x", "role": "user", "id": "m" * 256}, "id"),
                 ({"content": "x", "role": "user", "chatId": "c_other"}, "chatId"),
                 ({"content": "x", "role": "user", "isDeleted": False}, "isDeleted"))
        for body, field in cases:
            with self.subTest(body=json.dumps(body)[:60]):
                resp = self.post(body)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn(field, resp.json["error"]["message"])
        for raw in (b'{"content": "\xff", "role": "user"}',
                    b'{"content": "\\udc00", "role": "user"}',
                    b"[]", b"{", b'{"content":"a","content":"b","role":"user"}'):
            with self.subTest(raw=raw):
                resp = lib.post("/api/chats/%s/messages" % self.chat["id"], data=raw,
                                content_type="application/json", token=self.token)
                lib.assert_error_body(resp, 400, "bad_request")
        resp = lib.post("/api/chats/%s/messages" % self.chat["id"], data="content=x",
                        content_type="text/plain", token=self.token)
        lib.assert_error_body(resp, 415, "unsupported_media_type")
        self.assertEqual(user_state(self.user), state)

    def test_append_to_missing_or_deleted_chat_is_404_and_writes_no_row(self):
        gone = create_chat(self.token)
        self.assertEqual(lib.request("DELETE", "/api/chats/" + gone["id"],
                                     token=self.token).status, 200)
        rows = rows_state(self.user)
        for chat_id in (lib.unique("c_missing"), gone["id"]):
            with self.subTest(chat=chat_id):
                resp = post_message(self.token, chat_id, {"content": "x", "role": "user"})
                lib.assert_error_body(resp, 404, "not_found")
        self.assertEqual(rows_state(self.user), rows)


class UpdateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user("user_msg_patch")
        cls.chat = create_chat(cls.token)

    def patch(self, message_id, body, if_match=None):
        headers = {"If-Match": if_match} if if_match is not None else None
        return lib.request("PATCH", "/api/messages/" + message_id, json_body=body,
                           headers=headers, token=self.token, timeout=30)

    def test_patch_content_answers_new_version_and_etag(self):
        msg = append(self.token, self.chat["id"], "old", attachments={"a": 1})
        resp = self.patch(msg["id"], {"content": "new"})
        self.assertEqual(resp.status, 200, resp)
        updated = resp.json["message"]
        self.assertEqual((updated["content"], updated["attachments"], updated["position"],
                          updated["role"]), ("new", {"a": 1}, msg["position"], msg["role"]))
        self.assertGreater(updated["version"], msg["version"])
        self.assertEqual(resp.header("ETag"), '"%d"' % updated["version"])
        page = lib.get("/api/chats/%s/messages" % self.chat["id"], token=self.token).json
        self.assertIn(updated, page["messages"])

    def test_patch_attachments_sets_and_clears_them(self):
        msg = append(self.token, self.chat["id"], "keep")
        resp = self.patch(msg["id"], {"attachments": [1, 2]})
        self.assertEqual((resp.status, resp.json["message"]["attachments"],
                          resp.json["message"]["content"]), (200, [1, 2], "keep"))
        resp = self.patch(msg["id"], {"attachments": None})
        self.assertEqual((resp.status, resp.json["message"]["attachments"]), (200, None))

    def test_if_match_stale_is_412_and_current_is_200(self):
        msg = append(self.token, self.chat["id"], "v1")
        current = self.patch(msg["id"], {"content": "v2"}).json["message"]
        state = user_state(self.user)
        resp = self.patch(msg["id"], {"content": "lost"}, if_match='"%d"' % msg["version"])
        lib.assert_error_body(resp, 412, "precondition_failed")
        self.assertEqual(user_state(self.user), state)
        resp = self.patch(msg["id"], {"content": "v3"}, if_match='"%d"' % current["version"])
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["message"]["content"], "v3")

    def test_bad_patches_are_400_and_change_nothing(self):
        msg = append(self.token, self.chat["id"], "keep")
        state = user_state(self.user)
        cases = (({"content": 1}, "content"), ({"content": "x" * (MIB + 1)}, "content"),
                 ({"attachments": "a" * (256 * 1024 + 1)}, "attachments"),
                 ({"role": "assistant"}, "role"), ({"position": 3}, "position"),
                 ({"chatId": "c_x"}, "chatId"))
        for body, field in cases:
            with self.subTest(field=field):
                resp = self.patch(msg["id"], body)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn(field, resp.json["error"]["message"])
        self.assertEqual(user_state(self.user), state)

    def test_patch_missing_or_deleted_message_is_404(self):
        msg = append(self.token, self.chat["id"], "bye")
        self.assertEqual(lib.request("DELETE", "/api/messages/" + msg["id"],
                                     token=self.token).status, 200)
        for mid in (msg["id"], lib.unique("m_missing")):
            with self.subTest(message=mid):
                lib.assert_error_body(self.patch(mid, {"content": "x"}), 404, "not_found")


class DeleteTest(unittest.TestCase):
    def test_delete_twice_is_200_and_the_second_writes_nothing(self):
        user, token = new_user("user_msg_del")
        chat = create_chat(token)
        keep = append(token, chat["id"], "keep")
        msg = append(token, chat["id"], "bye")
        first = lib.request("DELETE", "/api/messages/" + msg["id"], token=token)
        self.assertEqual(first.status, 200, first)
        self.assertTrue(first.json["message"]["isDeleted"])
        self.assertGreater(first.json["message"]["version"], msg["version"])
        self.assertEqual(first.header("ETag"), '"%d"' % first.json["message"]["version"])
        state = user_state(user)
        second = lib.request("DELETE", "/api/messages/" + msg["id"], token=token)
        self.assertEqual(second.status, 200, second)
        self.assertEqual(second.json["message"], first.json["message"])
        self.assertEqual(user_state(user), state)
        self.assertEqual(lib.get("/api/chats/" + chat["id"], token=token).json["messages"], [keep])
        page = lib.get("/api/chats/%s/messages" % chat["id"], token=token).json
        self.assertEqual(page["messages"], [keep])

    def test_delete_missing_message_is_404(self):
        user, token = new_user("user_msg_del")
        resp = lib.request("DELETE", "/api/messages/" + lib.unique("m_missing"), token=token)
        lib.assert_error_body(resp, 404, "not_found")


class PageTest(unittest.TestCase):
    COUNT = 25

    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user("user_msg_page")
        cls.chat = create_chat(cls.token)
        cls.messages = [append(cls.token, cls.chat["id"], "m%d" % i) for i in range(cls.COUNT)]

    def page(self, query=""):
        resp = lib.get("/api/chats/%s/messages%s" % (self.chat["id"], query), token=self.token)
        self.assertEqual(resp.status, 200, resp)
        return resp.json

    def walk(self, query):
        seen, cursor, pages = [], None, 0
        while True:
            body = self.page(query + ("&cursor=" + cursor if cursor else ""))
            seen += body["messages"]
            pages += 1
            cursor = body["nextCursor"]
            if cursor is None:
                return seen, pages
            self.assertLess(pages, 50)

    def test_default_page_has_every_message_in_order(self):
        body = self.page()
        self.assertEqual(body, {"messages": self.messages, "nextCursor": None})

    def test_limit_and_cursor_visit_every_message_once_in_order(self):
        for limit in (1, 7, 10, 24, 25, 26):
            with self.subTest(limit=limit):
                seen, pages = self.walk("?limit=%d" % limit)
                self.assertEqual(seen, self.messages)
                self.assertEqual(pages, -(-self.COUNT // limit))

    def test_after_position_starts_after_it(self):
        body = self.page("?after=4&limit=10")
        self.assertEqual([m["position"] for m in body["messages"]], list(range(5, 15)))
        rest = self.page("?limit=10&cursor=" + body["nextCursor"])
        self.assertEqual([m["position"] for m in rest["messages"]], list(range(15, 25)))
        self.assertIsNone(rest["nextCursor"])
        self.assertEqual(self.page("?after=-1")["messages"], self.messages)
        self.assertEqual(self.page("?after=24"), {"messages": [], "nextCursor": None})
        self.assertEqual(self.page("?after=1000"), {"messages": [], "nextCursor": None})

    def test_deleted_messages_are_left_out_of_pages(self):
        user, token = new_user("user_msg_page2")
        chat = create_chat(token)
        msgs = [append(token, chat["id"], "m%d" % i) for i in range(6)]
        for m in (msgs[0], msgs[3], msgs[5]):
            lib.request("DELETE", "/api/messages/" + m["id"], token=token)
        seen, cursor = [], None
        while True:
            resp = lib.get("/api/chats/%s/messages?limit=1%s"
                           % (chat["id"], "&cursor=" + cursor if cursor else ""), token=token)
            seen += [m["id"] for m in resp.json["messages"]]
            cursor = resp.json["nextCursor"]
            if not cursor:
                break
        self.assertEqual(seen, [msgs[1]["id"], msgs[2]["id"], msgs[4]["id"]])

    def test_empty_chat_has_an_empty_page(self):
        user, token = new_user("user_msg_page3")
        chat = create_chat(token)
        resp = lib.get("/api/chats/%s/messages" % chat["id"], token=token)
        self.assertEqual(resp.json, {"messages": [], "nextCursor": None})

    def test_bad_limit_after_or_cursor_is_400(self):
        for query in ("?limit=0", "?limit=abc", "?limit=-1", "?limit=100000", "?after=abc",
                      "?after=-2", "?after=1.5", "?cursor=!!!!", "?cursor=abc"):
            with self.subTest(query=query):
                resp = lib.get("/api/chats/%s/messages%s" % (self.chat["id"], query),
                               token=self.token)
                lib.assert_error_body(resp, 400, "bad_request")

    def test_missing_chat_is_404(self):
        resp = lib.get("/api/chats/%s/messages" % lib.unique("c_missing"), token=self.token)
        lib.assert_error_body(resp, 404, "not_found")


class ConcurrentAppendTest(unittest.TestCase):
    def test_8_threads_times_50_appends_give_positions_0_to_399_without_gaps(self):
        user, token = new_user("user_msg_race")
        chat = create_chat(token)

        def work(i):
            got = []
            for n in range(50):
                resp = post_message(token, chat["id"], {"content": "t%d n%d" % (i, n),
                                                        "role": "user"}, timeout=60)
                self.assertEqual(resp.status, 201, resp)
                got.append(resp.json["message"])
            return got

        per_thread = run_threads(8, work)
        answered = [m for got in per_thread for m in got]
        positions = sorted(m["position"] for m in answered)
        self.assertEqual(positions, list(range(400)), "duplicate or missing positions")
        for got in per_thread:
            mine = [m["position"] for m in got]
            self.assertEqual(mine, sorted(mine), "one client's appends went back in order")
        versions = [m["version"] for m in answered]
        self.assertEqual(len(set(versions)), 400)
        stored = lib.psql("SELECT count(*), count(DISTINCT position), min(position), "
                          "max(position) FROM messages WHERE chat_id = %s" % q(chat["id"]))
        self.assertEqual(stored, [("400", "400", "0", "399")])
        listed = lib.get("/api/chats/" + chat["id"], token=token).json["messages"]
        self.assertEqual([m["position"] for m in listed], list(range(400)))
        self.assertEqual(counter(user), max(versions))

    def test_ten_concurrent_appends_with_one_client_id_make_one_row(self):
        user, token = new_user("user_msg_race")
        chat = create_chat(token)
        mid = lib.unique("m_race")
        results = run_threads(10, lambda i: post_message(
            token, chat["id"], {"id": mid, "content": "c%d" % i, "role": "user"}, timeout=30))
        self.assertEqual(sorted(r.status for r in results), [200] * 9 + [201], results)
        created = [r for r in results if r.status == 201][0].json["message"]
        for r in results:
            if r.status == 200:
                self.assertEqual(r.header("Idempotent-Replay"), "true")
                self.assertEqual(r.json["message"], created)
        self.assertEqual(lib.psql("SELECT count(*) FROM messages WHERE id = %s" % q(mid)),
                         [("1",)])
        self.assertEqual(append(token, chat["id"], "next")["position"], 1)

    def test_concurrent_appends_at_one_explicit_position_give_one_201_and_409s(self):
        user, token = new_user("user_msg_race")
        chat = create_chat(token)
        results = run_threads(6, lambda i: post_message(
            token, chat["id"], {"content": "c%d" % i, "role": "user", "position": 7},
            timeout=30))
        self.assertEqual(sorted(r.status for r in results), [201] + [409] * 5, results)
        for r in results:
            if r.status == 409:
                lib.assert_error_body(r, 409, "conflict")
        self.assertEqual(lib.psql("SELECT count(*) FROM messages WHERE chat_id = %s"
                                  % q(chat["id"])), [("1",)])

    def test_concurrent_appends_of_one_id_by_two_users_give_one_owner(self):
        users = [new_user("user_msg_race_%d" % i) for i in range(2)]
        chats = [create_chat(token) for _, token in users]
        for attempt in range(10):
            mid = lib.unique("m_race2")
            results = run_threads(4, lambda i: post_message(
                users[i % 2][1], chats[i % 2]["id"], {"id": mid, "content": "c", "role": "user"},
                timeout=30))
            owner = lib.psql("SELECT user_id, chat_id FROM messages WHERE id = %s" % q(mid))
            with self.subTest(attempt=attempt):
                self.assertEqual(len(owner), 1)
                winner = [u for u, _ in users].index(owner[0][0])
                self.assertEqual(owner[0][1], chats[winner]["id"])
                for i, r in enumerate(results):
                    if i % 2 == winner:
                        self.assertIn(r.status, (200, 201), r)
                    else:
                        lib.assert_error_body(r, 409, "conflict")


if __name__ == "__main__":
    unittest.main()

"""Chats (API.md "Chats", DESIGN.md hard parts 1 and 3): every endpoint's
success and error paths, idempotent creates, branches, keyset pagination and
per-user versions, with real concurrency where concurrency is claimed."""
import json
import threading
import time
import unittest

import lib

CHAT_FIELDS = {"id", "userId", "title", "timestamp", "parentChatId", "branchFromMessageId",
               "branches", "isDeleted", "version", "createdAt", "updatedAt"}


def q(value):
    """A SQL string literal."""
    return "'" + str(value).replace("'", "''") + "'"


def new_user(prefix="user_chats"):
    user = lib.unique(prefix)
    return user, lib.token(user)


def create_chat(token, **fields):
    fields.setdefault("title", "a chat")
    resp = lib.post("/api/chats", fields, token=token)
    assert resp.status == 201, resp
    return resp.json["chat"]


def append(token, chat_id, content="hello", role="user", **fields):
    fields.update(content=content, role=role)
    resp = lib.post("/api/chats/%s/messages" % chat_id, fields, token=token)
    assert resp.status == 201, resp
    return resp.json["message"]


def user_state(user):
    """Everything of a user in the database, to compare before and after."""
    return (lib.psql("SELECT id, title, \"timestamp\", parent_chat_id, branch_from_message_id, "
                     "branches, is_deleted, version, updated_at FROM chats "
                     "WHERE user_id = %s ORDER BY id" % q(user)),
            lib.psql("SELECT id, chat_id, content, role, position, attachments, is_deleted, "
                     "version, updated_at FROM messages WHERE user_id = %s ORDER BY id" % q(user)),
            lib.psql("SELECT version FROM user_versions WHERE user_id = %s" % q(user)))


def counter(user):
    rows = lib.psql("SELECT version FROM user_versions WHERE user_id = %s" % q(user))
    return int(rows[0][0]) if rows else 0


def run_threads(count, target):
    """Runs target(i) in count threads that start together; returns their results
    (an exception in a thread is re-raised here)."""
    barrier = threading.Barrier(count)
    results, errors = [None] * count, []

    def run(i):
        try:
            barrier.wait(timeout=30)
            results[i] = target(i)
        except BaseException as e:  # noqa: B902 - reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    if errors:
        raise errors[0]
    return results


class CreateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user()

    def test_create_without_id_generates_one_and_answers_the_document(self):
        before = int(time.time() * 1000)
        resp = lib.post("/api/chats", {"title": "Trip plan"}, token=self.token)
        self.assertEqual(resp.status, 201, resp)
        chat = resp.json["chat"]
        self.assertEqual(set(chat), CHAT_FIELDS)
        self.assertTrue(chat["id"].startswith("c_"), chat)
        self.assertEqual((chat["userId"], chat["title"], chat["parentChatId"],
                          chat["branchFromMessageId"], chat["branches"], chat["isDeleted"]),
                         (self.user, "Trip plan", None, None, [], False))
        self.assertGreaterEqual(chat["timestamp"], before - 1000)
        self.assertLessEqual(chat["timestamp"], int(time.time() * 1000) + 1000)
        self.assertEqual(resp.header("ETag"), '"%d"' % chat["version"])
        self.assertIsNone(resp.header("Idempotent-Replay"))
        self.assertEqual(lib.psql("SELECT user_id, title, version FROM chats WHERE id = %s"
                                  % q(chat["id"])),
                         [(self.user, "Trip plan", str(chat["version"]))])

    def test_two_creates_without_id_get_different_ids(self):
        first, second = create_chat(self.token), create_chat(self.token)
        self.assertNotEqual(first["id"], second["id"])
        self.assertGreater(second["version"], first["version"])

    def test_create_with_client_id_and_timestamp_keeps_them(self):
        cid = lib.unique("c_client")
        chat = create_chat(self.token, id=cid, title="offline", timestamp=1732450000000)
        self.assertEqual((chat["id"], chat["timestamp"]), (cid, 1732450000000))
        resp = lib.get("/api/chats/" + cid, token=self.token)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["chat"], chat)

    def test_create_same_id_again_is_a_replay_that_writes_nothing(self):
        cid = lib.unique("c_replay")
        chat = create_chat(self.token, id=cid, title="first")
        state = user_state(self.user)
        resp = lib.post("/api/chats", {"id": cid, "title": "second"}, token=self.token)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header("Idempotent-Replay"), "true")
        self.assertEqual(resp.json["chat"], chat, "a replay answers the stored document")
        self.assertEqual(resp.header("ETag"), '"%d"' % chat["version"])
        self.assertEqual(user_state(self.user), state)

    def test_create_with_id_of_another_user_is_409_and_changes_nothing(self):
        other, other_token = new_user("user_chats_other")
        cid = lib.unique("c_taken")
        theirs = create_chat(other_token, id=cid, title="theirs")
        mine = user_state(self.user)
        resp = lib.post("/api/chats", {"id": cid, "title": "mine"}, token=self.token)
        lib.assert_error_body(resp, 409, "conflict")
        self.assertEqual(lib.get("/api/chats/" + cid, token=other_token).json["chat"], theirs)
        self.assertEqual(lib.psql("SELECT user_id, title FROM chats WHERE id = %s" % q(cid)),
                         [(other, "theirs")])
        self.assertEqual(user_state(self.user), mine)

    def test_title_of_500_characters_is_accepted_even_when_they_are_emoji(self):
        for title in ("x" * 500, "\U0001F600" * 500, "é" * 500, "a"):
            with self.subTest(chars=len(title), bytes=len(title.encode())):
                chat = create_chat(self.token, title=title)
                self.assertEqual(chat["title"], title)
                stored = lib.get("/api/chats/" + chat["id"], token=self.token).json["chat"]
                self.assertEqual(stored["title"], title)

    def test_title_of_0_or_501_characters_is_400(self):
        for title in ("", "x" * 501, "\U0001F600" * 501, "é" * 501):
            with self.subTest(chars=len(title)):
                resp = lib.post("/api/chats", {"title": title}, token=self.token)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn("title", resp.json["error"]["message"])

    def test_invalid_utf8_is_400(self):
        for body in (b'{"title": "\xff\xfe"}', b'{"title": "\xc0\xaf"}',
                     b'{"title": "\xed\xa0\x80"}', b'{"title": "abc\xe2\x82"}',
                     b'{"title": "\\ud800"}', b'{"title": "a\\u0000b"}'):
            with self.subTest(body=body):
                resp = lib.post("/api/chats", data=body, content_type="application/json",
                                token=self.token)
                lib.assert_error_body(resp, 400, "bad_request")

    def test_unknown_field_is_400_naming_it(self):
        resp = lib.post("/api/chats", {"title": "t", "colour": "red"}, token=self.token)
        lib.assert_error_body(resp, 400, "bad_request")
        self.assertIn("colour", resp.json["error"]["message"])

    def test_wrong_types_and_bad_values_are_400_naming_the_field(self):
        cases = (({"title": 5}, "title"), ({"title": None}, "title"), ({}, "title"),
                 ({"title": ["t"]}, "title"),
                 ({"title": "t", "timestamp": "1732450000000"}, "timestamp"),
                 ({"title": "t", "timestamp": 1.5}, "timestamp"),
                 ({"title": "t", "timestamp": -1}, "timestamp"),
                 ({"title": "t", "timestamp": True}, "timestamp"),
                 ({"title": "t", "id": 5}, "id"), ({"title": "t", "id": ""}, "id"),
                 ({"title": "t", "id": "x" * 256}, "id"), ({"title": "t", "id": "a\nb"}, "id"),
                 ({"title": "t", "parentChatId": 5}, "parentChatId"),
                 ({"title": "t", "branchFromMessageId": {}}, "branchFromMessageId"))
        for body, field in cases:
            with self.subTest(body=json.dumps(body)[:60]):
                resp = lib.post("/api/chats", body, token=self.token)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn(field, resp.json["error"]["message"])
        for raw in (b"[]", b'"title"', b"null", b"", b'{"title": "t",}',
                    b'{"title":"a","title":"b"}'):
            with self.subTest(raw=raw):
                resp = lib.post("/api/chats", data=raw, content_type="application/json",
                                token=self.token)
                lib.assert_error_body(resp, 400, "bad_request")

    def test_id_of_255_bytes_is_accepted(self):
        cid = ("c_" + lib.unique("long") + "é" * 200).encode()[:255].decode("utf-8", "ignore")
        cid += "x" * (255 - len(cid.encode()))
        self.assertEqual(len(cid.encode()), 255)
        self.assertEqual(create_chat(self.token, id=cid)["id"], cid)

    def test_rejected_creates_write_nothing(self):
        user, token = new_user()
        create_chat(token, title="only one")
        before = user_state(user)
        for body in ({"title": ""}, {"title": "t", "extra": 1}, {"title": 1},
                     {"title": "t", "parentChatId": lib.unique("c_missing")}):
            lib.post("/api/chats", body, token=token)
        lib.post("/api/chats", data=b'{"title": "\xff"}', content_type="application/json",
                 token=token)
        self.assertEqual(user_state(user), before)

    def test_create_with_parent_appends_to_its_branches_in_one_write(self):
        parent = create_chat(self.token, title="parent")
        child = create_chat(self.token, title="child", parentChatId=parent["id"],
                            branchFromMessageId="m_somewhere")
        self.assertEqual((child["parentChatId"], child["branchFromMessageId"]),
                         (parent["id"], "m_somewhere"))
        stored = lib.get("/api/chats/" + parent["id"], token=self.token).json["chat"]
        self.assertEqual(stored["branches"], [child["id"]])
        self.assertGreater(stored["version"], parent["version"])
        self.assertNotEqual(stored["version"], child["version"])

    def test_create_with_missing_or_deleted_parent_is_404_and_writes_nothing(self):
        user, token = new_user()
        gone = create_chat(token, title="gone")
        self.assertEqual(lib.request("DELETE", "/api/chats/" + gone["id"], token=token).status, 200)
        before = user_state(user)
        for parent in (lib.unique("c_missing"), gone["id"]):
            with self.subTest(parent=parent):
                cid = lib.unique("c_orphan")
                resp = lib.post("/api/chats", {"id": cid, "title": "c", "parentChatId": parent},
                                token=token)
                lib.assert_error_body(resp, 404, "not_found")
                self.assertEqual(lib.psql("SELECT count(*) FROM chats WHERE id = %s" % q(cid)),
                                 [("0",)])
        self.assertEqual(user_state(user), before)


class ListTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user()
        # two share a timestamp: ties go by id
        cls.chats = [create_chat(cls.token, id="c_list_%s_%d" % (cls.user, i), title="t%d" % i,
                                 timestamp=ts)
                     for i, ts in enumerate((1000, 3000, 2000, 3000, 500))]
        cls.expected = [c["id"] for c in sorted(cls.chats, key=lambda c: (c["timestamp"], c["id"]),
                                                 reverse=True)]

    def list(self, query=""):
        resp = lib.get("/api/chats" + query, token=self.token)
        self.assertEqual(resp.status, 200, resp)
        return resp.json

    def test_list_is_newest_first_with_ties_by_id(self):
        body = self.list()
        self.assertEqual([c["id"] for c in body["chats"]], self.expected)
        self.assertIsNone(body["nextCursor"])
        self.assertEqual(body["chats"][0], [c for c in self.chats
                                            if c["id"] == self.expected[0]][0])

    def test_limit_and_cursor_page_through_every_chat_once(self):
        for limit in (1, 2, 3, 4, 5, 6):
            with self.subTest(limit=limit):
                seen, cursor, pages = [], None, 0
                while True:
                    query = "?limit=%d" % limit + ("&cursor=" + cursor if cursor else "")
                    body = self.list(query)
                    pages += 1
                    self.assertLessEqual(len(body["chats"]), limit)
                    seen += [c["id"] for c in body["chats"]]
                    cursor = body["nextCursor"]
                    if cursor is None:
                        break
                    self.assertLess(pages, 20, "pagination does not end")
                self.assertEqual(seen, self.expected)
                self.assertEqual(pages, max(1, -(-len(self.expected) // limit)))

    def test_bad_limit_is_400(self):
        for limit in ("0", "201", "abc", "-1", "1.5", "", "10x", "99999999999999999999"):
            with self.subTest(limit=limit):
                resp = lib.get("/api/chats?limit=" + limit, token=self.token)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn("limit", resp.json["error"]["message"])

    def test_limit_bounds_1_and_200_are_accepted(self):
        self.assertEqual(len(self.list("?limit=1")["chats"]), 1)
        self.assertEqual(len(self.list("?limit=200")["chats"]), len(self.expected))

    def test_malformed_cursor_is_400(self):
        for cursor in ("!!!!", "abc", "a", "MTIz", "%ff%fe"):
            with self.subTest(cursor=cursor):
                resp = lib.get("/api/chats?cursor=" + cursor, token=self.token)
                lib.assert_error_body(resp, 400, "bad_request")

    def test_deleted_chat_is_not_listed(self):
        user, token = new_user()
        keep, drop = create_chat(token, title="keep"), create_chat(token, title="drop")
        self.assertEqual(lib.request("DELETE", "/api/chats/" + drop["id"], token=token).status, 200)
        resp = lib.get("/api/chats", token=token)
        self.assertEqual([c["id"] for c in resp.json["chats"]], [keep["id"]])


class GetTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user()

    def test_get_returns_the_chat_with_live_messages_in_message_order(self):
        chat = create_chat(self.token)
        m2 = append(self.token, chat["id"], "two", position=2)
        m0 = append(self.token, chat["id"], "zero", position=0)
        m5 = append(self.token, chat["id"], "five", "assistant", position=5)
        m1 = append(self.token, chat["id"], "one", position=1)
        self.assertEqual(lib.request("DELETE", "/api/messages/" + m1["id"],
                                     token=self.token).status, 200)
        resp = lib.get("/api/chats/" + chat["id"], token=self.token)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["chat"], chat)
        self.assertEqual(resp.json["messages"], [m0, m2, m5])
        self.assertEqual(resp.header("ETag"), '"%d"' % chat["version"])

    def test_get_chat_without_messages_has_an_empty_list(self):
        chat = create_chat(self.token)
        resp = lib.get("/api/chats/" + chat["id"], token=self.token)
        self.assertEqual(resp.json, {"chat": chat, "messages": []})

    def test_get_missing_chat_is_404_and_bad_id_is_400(self):
        lib.assert_error_body(lib.get("/api/chats/c_nope_%s" % self.user, token=self.token),
                              404, "not_found")
        lib.assert_error_body(lib.get("/api/chats/" + "x" * 256, token=self.token),
                              400, "bad_request")
        lib.assert_error_body(lib.get("/api/chats/a%01b", token=self.token), 400, "bad_request")

    def test_id_with_encoded_slash_is_one_path_segment(self):
        cid = lib.unique("c_a/b")
        create_chat(self.token, id=cid)
        resp = lib.get("/api/chats/" + cid.replace("/", "%2F"), token=self.token)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["chat"]["id"], cid)


class UpdateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user()

    def patch(self, chat_id, body, if_match=None, raw=None):
        headers = {"If-Match": if_match} if if_match is not None else None
        if raw is not None:
            return lib.request("PATCH", "/api/chats/" + chat_id, data=raw, headers=headers,
                               content_type="application/json", token=self.token)
        return lib.request("PATCH", "/api/chats/" + chat_id, json_body=body, headers=headers,
                           token=self.token)

    def test_patch_title_answers_new_version_and_etag(self):
        chat = create_chat(self.token, title="old")
        resp = self.patch(chat["id"], {"title": "new"})
        self.assertEqual(resp.status, 200, resp)
        updated = resp.json["chat"]
        self.assertEqual(updated["title"], "new")
        self.assertGreater(updated["version"], chat["version"])
        self.assertGreaterEqual(updated["updatedAt"], chat["updatedAt"])
        self.assertEqual(updated["createdAt"], chat["createdAt"])
        self.assertEqual(resp.header("ETag"), '"%d"' % updated["version"])
        self.assertEqual(lib.get("/api/chats/" + chat["id"], token=self.token).json["chat"],
                         updated)

    def test_if_match_stale_is_412_and_current_is_200(self):
        chat = create_chat(self.token, title="v1")
        current = self.patch(chat["id"], {"title": "v2"}).json["chat"]
        before = user_state(self.user)
        for stale in ('"%d"' % chat["version"], '"%d"' % (current["version"] + 1), '"0"',
                      'W/"%d"' % chat["version"]):
            with self.subTest(if_match=stale):
                resp = self.patch(chat["id"], {"title": "lost update"}, if_match=stale)
                lib.assert_error_body(resp, 412, "precondition_failed")
        self.assertEqual(user_state(self.user), before)
        for good in ('"%d"' % current["version"], ):
            resp = self.patch(chat["id"], {"title": "v3"}, if_match=good)
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.json["chat"]["title"], "v3")
            self.assertEqual(resp.header("ETag"), '"%d"' % resp.json["chat"]["version"])
        # the ETag of the answer is the next If-Match
        resp = self.patch(chat["id"], {"title": "v4"}, if_match=resp.header("ETag"))
        self.assertEqual(resp.status, 200, resp)

    def test_malformed_if_match_is_400(self):
        chat = create_chat(self.token)
        for value in ("abc", '"-1"', '"1" x', '""', "W/"):
            with self.subTest(if_match=value):
                lib.assert_error_body(self.patch(chat["id"], {"title": "x"}, if_match=value),
                                      400, "bad_request")

    def test_if_match_with_unbalanced_quotes_is_400(self):
        chat = create_chat(self.token)
        for value in ('"%d' % chat["version"], '%d"' % chat["version"]):
            with self.subTest(if_match=value):
                lib.assert_error_body(self.patch(chat["id"], {"title": "x"}, if_match=value),
                                      400, "bad_request")

    def test_patch_branches_replaces_the_list(self):
        chat = create_chat(self.token)
        resp = self.patch(chat["id"], {"branches": ["c_a", "c_b"]})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["chat"]["branches"], ["c_a", "c_b"])
        self.assertEqual(resp.json["chat"]["title"], chat["title"])
        self.assertEqual(self.patch(chat["id"], {"branches": []}).json["chat"]["branches"], [])

    def test_bad_patches_are_400_and_change_nothing(self):
        chat = create_chat(self.token, title="keep")
        before = user_state(self.user)
        cases = (({"title": ""}, "title"), ({"title": "x" * 501}, "title"),
                 ({"title": 3}, "title"), ({"title": None}, "title"),
                 ({"branches": "c_a"}, "branches"), ({"branches": [1]}, "branches"),
                 ({"branches": [""]}, "branches"), ({"branches": None}, "branches"),
                 ({"isDeleted": True}, "isDeleted"), ({"version": 99}, "version"),
                 ({"timestamp": 1}, "timestamp"))
        for body, field in cases:
            with self.subTest(body=body):
                resp = self.patch(chat["id"], body)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertIn(field, resp.json["error"]["message"])
        for raw in (b'{"title": "\xff"}', b"{", b"[]"):
            with self.subTest(raw=raw):
                lib.assert_error_body(self.patch(chat["id"], None, raw=raw), 400, "bad_request")
        self.assertEqual(user_state(self.user), before)

    def test_patch_missing_or_deleted_chat_is_404(self):
        chat = create_chat(self.token)
        self.assertEqual(lib.request("DELETE", "/api/chats/" + chat["id"],
                                     token=self.token).status, 200)
        for cid in (chat["id"], lib.unique("c_missing")):
            with self.subTest(chat=cid):
                lib.assert_error_body(self.patch(cid, {"title": "x"}), 404, "not_found")
                lib.assert_error_body(self.patch(cid, {"title": "x"}, if_match='"1"'),
                                      404, "not_found")


class DeleteTest(unittest.TestCase):
    def test_delete_twice_is_200_and_the_second_writes_nothing(self):
        user, token = new_user()
        chat = create_chat(token)
        first = lib.request("DELETE", "/api/chats/" + chat["id"], token=token)
        self.assertEqual(first.status, 200, first)
        deleted = first.json["chat"]
        self.assertTrue(deleted["isDeleted"])
        self.assertGreater(deleted["version"], chat["version"])
        self.assertEqual(first.header("ETag"), '"%d"' % deleted["version"])
        state = user_state(user)
        second = lib.request("DELETE", "/api/chats/" + chat["id"], token=token)
        self.assertEqual(second.status, 200, second)
        self.assertEqual(second.json["chat"], deleted)
        self.assertEqual(user_state(user), state, "a repeated delete must write nothing")

    def test_deleted_chat_is_gone_from_list_get_and_its_messages(self):
        user, token = new_user()
        chat = create_chat(token)
        message = append(token, chat["id"])
        self.assertEqual(lib.request("DELETE", "/api/chats/" + chat["id"], token=token).status, 200)
        self.assertEqual(lib.get("/api/chats", token=token).json["chats"], [])
        lib.assert_error_body(lib.get("/api/chats/" + chat["id"], token=token), 404, "not_found")
        lib.assert_error_body(lib.get("/api/chats/%s/messages" % chat["id"], token=token),
                              404, "not_found")
        state = user_state(user)
        resp = lib.post("/api/chats/%s/messages" % chat["id"], {"content": "x", "role": "user"},
                        token=token)
        lib.assert_error_body(resp, 404, "not_found")
        resp = lib.post("/api/chats/%s/branch" % chat["id"], {"fromMessageId": message["id"]},
                        token=token)
        lib.assert_error_body(resp, 404, "not_found")
        self.assertEqual(user_state(user)[:2], state[:2])

    def test_delete_missing_chat_is_404(self):
        user, token = new_user()
        resp = lib.request("DELETE", "/api/chats/" + lib.unique("c_missing"), token=token)
        lib.assert_error_body(resp, 404, "not_found")


class BranchTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user("user_branch")

    def make_parent(self):
        parent = create_chat(self.token, title="parent title")
        messages = [append(self.token, parent["id"], "m%d" % i, ("user", "assistant")[i % 2],
                           attachments={"n": i} if i == 2 else None, timestamp=1000 + i)
                    for i in range(5)]
        return parent, messages

    def branch(self, parent_id, body):
        return lib.post("/api/chats/%s/branch" % parent_id, body, token=self.token)

    def test_branch_copies_messages_up_to_and_including_the_point_with_new_ids(self):
        parent, messages = self.make_parent()
        self.assertEqual(lib.request("DELETE", "/api/messages/" + messages[1]["id"],
                                     token=self.token).status, 200)
        resp = self.branch(parent["id"], {"fromMessageId": messages[3]["id"]})
        self.assertEqual(resp.status, 201, resp)
        chat, copies = resp.json["chat"], resp.json["messages"]
        self.assertEqual((chat["parentChatId"], chat["branchFromMessageId"], chat["title"],
                          chat["userId"], chat["branches"], chat["isDeleted"]),
                         (parent["id"], messages[3]["id"], "parent title", self.user, [], False))
        self.assertEqual(resp.header("ETag"), '"%d"' % chat["version"])
        originals = [messages[0], messages[2], messages[3]]  # [1] deleted, [4] after the point
        self.assertEqual([(m["content"], m["role"], m["position"], m["timestamp"],
                           m["attachments"]) for m in copies],
                         [(m["content"], m["role"], m["position"], m["timestamp"],
                           m["attachments"]) for m in originals])
        self.assertTrue(all(m["chatId"] == chat["id"] and m["userId"] == self.user
                            and not m["isDeleted"] for m in copies))
        self.assertFalse({m["id"] for m in copies} & {m["id"] for m in messages})
        self.assertEqual(len({m["id"] for m in copies}), 3)
        versions = [chat["version"]] + [m["version"] for m in copies]
        self.assertEqual(len(set(versions)), len(versions))

        got = lib.get("/api/chats/" + chat["id"], token=self.token).json
        self.assertEqual(got["chat"], chat)
        self.assertEqual(got["messages"], copies)
        stored_parent = lib.get("/api/chats/" + parent["id"], token=self.token).json
        self.assertEqual(stored_parent["chat"]["branches"], [chat["id"]])
        self.assertEqual([m["id"] for m in stored_parent["messages"]],
                         [m["id"] for m in messages if m is not messages[1]],
                         "the parent's messages are untouched")
        self.assertEqual(lib.psql("SELECT count(*) FROM messages WHERE chat_id = %s"
                                  % q(chat["id"])), [("3",)])
        self.assertEqual(counter(self.user), max(versions + [stored_parent["chat"]["version"]]))

    def test_branch_with_title_and_client_id(self):
        parent, messages = self.make_parent()
        cid = lib.unique("c_branch")
        resp = self.branch(parent["id"], {"fromMessageId": messages[0]["id"], "title": "mine",
                                          "id": cid})
        self.assertEqual(resp.status, 201, resp)
        self.assertEqual((resp.json["chat"]["id"], resp.json["chat"]["title"]), (cid, "mine"))
        self.assertEqual([m["content"] for m in resp.json["messages"]], ["m0"])

    def test_branch_retried_with_the_same_id_is_a_replay_that_writes_nothing(self):
        # DESIGN.md hard part 3: a create with a client-chosen id that the user
        # already has is a replay (an offline client retrying its branch)
        parent, messages = self.make_parent()
        body = {"fromMessageId": messages[1]["id"], "id": lib.unique("c_branch_retry")}
        first = self.branch(parent["id"], body)
        self.assertEqual(first.status, 201, first)
        state = user_state(self.user)
        again = self.branch(parent["id"], body)
        self.assertEqual(again.status, 200, again)
        self.assertEqual(again.header("Idempotent-Replay"), "true")
        self.assertEqual(again.json, first.json)
        self.assertEqual(user_state(self.user), state)

    def test_branching_twice_appends_both_to_branches(self):
        parent, messages = self.make_parent()
        first = self.branch(parent["id"], {"fromMessageId": messages[4]["id"]})
        second = self.branch(parent["id"], {"fromMessageId": messages[2]["id"]})
        self.assertEqual((first.status, second.status), (201, 201))
        self.assertEqual(len(first.json["messages"]), 5)
        self.assertEqual(len(second.json["messages"]), 3)
        stored = lib.get("/api/chats/" + parent["id"], token=self.token).json["chat"]
        self.assertEqual(stored["branches"], [first.json["chat"]["id"], second.json["chat"]["id"]])

    def test_branch_errors_write_nothing(self):
        user, token = new_user("user_branch_err")
        parent = create_chat(token)
        other_chat = create_chat(token)
        msg = append(token, parent["id"], "p")
        other_msg = append(token, other_chat["id"], "o")
        deleted_msg = append(token, parent["id"], "d")
        self.assertEqual(lib.request("DELETE", "/api/messages/" + deleted_msg["id"],
                                     token=token).status, 200)
        other_user, other_token = new_user("user_branch_other")
        taken = create_chat(other_token, id=lib.unique("c_taken"))
        before = user_state(user)
        cases = (
            (parent["id"], {}, 400), (parent["id"], {"fromMessageId": 5}, 400),
            (parent["id"], {"fromMessageId": ""}, 400),
            (parent["id"], {"fromMessageId": msg["id"], "title": ""}, 400),
            (parent["id"], {"fromMessageId": msg["id"], "title": "x" * 501}, 400),
            (parent["id"], {"fromMessageId": msg["id"], "parentChatId": "x"}, 400),
            (parent["id"], {"fromMessageId": msg["id"], "id": 7}, 400),
            (parent["id"], {"fromMessageId": other_msg["id"]}, 404),
            (parent["id"], {"fromMessageId": deleted_msg["id"]}, 404),
            (parent["id"], {"fromMessageId": lib.unique("m_missing")}, 404),
            (lib.unique("c_missing"), {"fromMessageId": msg["id"]}, 404),
            (parent["id"], {"fromMessageId": msg["id"], "id": taken["id"]}, 409),
        )
        codes = {400: "bad_request", 404: "not_found", 409: "conflict"}
        for chat_id, body, status in cases:
            with self.subTest(chat=chat_id, body=body):
                resp = lib.post("/api/chats/%s/branch" % chat_id, body, token=token)
                lib.assert_error_body(resp, status, codes[status])
        self.assertEqual(user_state(user)[:2], before[:2])
        self.assertEqual(lib.psql("SELECT user_id FROM chats WHERE id = %s" % q(taken["id"])),
                         [(other_user,)])


class ConcurrentCreateTest(unittest.TestCase):
    def test_ten_concurrent_creates_with_one_client_id_make_one_row(self):
        user, token = new_user()
        cid = lib.unique("c_race")
        results = run_threads(10, lambda i: lib.post(
            "/api/chats", {"id": cid, "title": "race %d" % i}, token=token, timeout=30))
        statuses = sorted(r.status for r in results)
        self.assertEqual(statuses, [200] * 9 + [201], results)
        created = [r for r in results if r.status == 201][0]
        for r in results:
            if r.status == 200:
                self.assertEqual(r.header("Idempotent-Replay"), "true", r)
                self.assertEqual(r.json["chat"], created.json["chat"])
        self.assertEqual(lib.psql("SELECT count(*) FROM chats WHERE id = %s" % q(cid)), [("1",)])
        self.assertEqual(counter(user), created.json["chat"]["version"],
                         "replays must not take versions")

    def test_concurrent_creates_of_one_id_by_two_users_give_one_owner(self):
        users = [new_user("user_race_%d" % i) for i in range(2)]
        cid = lib.unique("c_race2")
        results = run_threads(8, lambda i: lib.post(
            "/api/chats", {"id": cid, "title": "t"}, token=users[i % 2][1], timeout=30))
        owner = lib.psql("SELECT user_id FROM chats WHERE id = %s" % q(cid))
        self.assertEqual(len(owner), 1)
        winner = [u for u, _ in users].index(owner[0][0])
        for i, r in enumerate(results):
            with self.subTest(thread=i):
                if i % 2 == winner:
                    self.assertIn(r.status, (200, 201), r)
                else:
                    lib.assert_error_body(r, 409, "conflict")
        self.assertEqual(sorted(r.status for r in results).count(201), 1)

    def test_branch_racing_another_users_create_of_its_id_is_409_and_writes_nothing(self):
        (user_a, token_a), (user_b, token_b) = new_user("user_race_a"), new_user("user_race_b")
        parent = create_chat(token_b, title="b's parent")
        point = append(token_b, parent["id"], "b's message")
        branched = []
        for attempt in range(25):
            cid = lib.unique("c_branch_race")
            results = run_threads(2, lambda i: lib.post(
                "/api/chats", {"id": cid, "title": "a's chat"}, token=token_a, timeout=30)
                if i == 0 else lib.post("/api/chats/%s/branch" % parent["id"],
                                        {"fromMessageId": point["id"], "id": cid},
                                        token=token_b, timeout=30))
            owner = lib.psql("SELECT user_id FROM chats WHERE id = %s" % q(cid))
            with self.subTest(attempt=attempt):
                self.assertEqual(len(owner), 1)
                if owner[0][0] == user_b:
                    branched.append(cid)
                    self.assertEqual(results[1].status, 201, results[1])
                    lib.assert_error_body(results[0], 409, "conflict")
                else:
                    self.assertEqual(results[0].status, 201, results[0])
                    lib.assert_error_body(results[1], 409, "conflict")
                    self.assertEqual(lib.psql("SELECT count(*) FROM messages WHERE chat_id = %s"
                                              % q(cid)), [("0",)],
                                     "b's copies went into a's chat")
        stored = lib.get("/api/chats/" + parent["id"], token=token_b).json["chat"]
        self.assertEqual(stored["branches"], branched)

    def test_concurrent_branches_from_one_parent_all_appear_in_its_branches(self):
        user, token = new_user()
        parent = create_chat(token, title="parent")
        point = append(token, parent["id"], "x")
        append(token, parent["id"], "y")
        results = run_threads(6, lambda i: lib.post(
            "/api/chats/%s/branch" % parent["id"], {"fromMessageId": point["id"]}, token=token,
            timeout=30) if i % 2 else lib.post(
            "/api/chats", {"title": "child %d" % i, "parentChatId": parent["id"]}, token=token,
            timeout=30))
        for r in results:
            self.assertEqual(r.status, 201, r)
        ids = sorted(r.json["chat"]["id"] for r in results)
        stored = lib.get("/api/chats/" + parent["id"], token=token).json["chat"]
        self.assertEqual(sorted(stored["branches"]), ids)
        self.assertEqual(len(stored["branches"]), 6)
        for r in results:
            if "messages" in r.json:
                self.assertEqual([m["content"] for m in r.json["messages"]], ["x"])


class PaginationUnderWritesTest(unittest.TestCase):
    COUNT = 250

    @classmethod
    def setUpClass(cls):
        cls.user, cls.token = new_user("user_pages")
        cls.base_ts = 1_600_000_000_000
        # three chats per timestamp: pages must split ties by id and lose none
        specs = [("c_p_%s_%03d" % (cls.user, i), cls.base_ts + i // 3) for i in range(cls.COUNT)]

        def create(i):
            for cid, ts in specs[i::4]:
                create_chat(cls.token, id=cid, title=cid, timestamp=ts)
        run_threads(4, create)
        cls.expected = [cid for cid, ts in sorted(specs, key=lambda s: (s[1], s[0]), reverse=True)]

    def test_every_chat_is_visited_exactly_once_while_newer_chats_are_created(self):
        first = lib.get("/api/chats?limit=7", token=self.token)
        self.assertEqual(first.status, 200, first)
        seen = [c["id"] for c in first.json["chats"]]
        cursor = first.json["nextCursor"]
        stop, created = threading.Event(), []

        def writer():
            n = 0
            while not stop.is_set():
                chat = create_chat(self.token, title="new %d" % n,
                                   timestamp=self.base_ts + 10_000 + n)
                created.append(chat["id"])
                n += 1

        thread = threading.Thread(target=writer)
        thread.start()
        try:
            pages = 1
            while cursor:
                # wait for the writer between pages, so that writes interleave
                target = len(created) + 1
                lib.wait_for(lambda: len(created) >= target, timeout=5, interval=0.005)
                resp = lib.get("/api/chats?limit=7&cursor=" + cursor, token=self.token)
                self.assertEqual(resp.status, 200, resp)
                seen += [c["id"] for c in resp.json["chats"]]
                cursor = resp.json["nextCursor"]
                pages += 1
                self.assertLess(pages, 100, "pagination does not end")
        finally:
            stop.set()
            thread.join(timeout=30)
        self.assertGreater(len(created), 20, "the writer must have run during the paging")
        self.assertEqual(len(seen), len(set(seen)), "a chat was visited twice")
        self.assertEqual(seen, self.expected)
        # a fresh listing has the new chats first
        fresh = lib.get("/api/chats?limit=200", token=self.token).json["chats"]
        self.assertEqual([c["id"] for c in fresh[:len(created)]], list(reversed(created))[:200])

    def test_default_limit_is_50_and_200_is_the_largest_page(self):
        body = lib.get("/api/chats", token=self.token).json
        self.assertEqual(len(body["chats"]), 50)
        self.assertIsNotNone(body["nextCursor"])
        self.assertEqual(len(lib.get("/api/chats?limit=200", token=self.token).json["chats"]), 200)


class VersionTest(unittest.TestCase):
    def test_versions_of_one_user_are_unique_increasing_and_without_gaps(self):
        user, token = new_user("user_versions")
        shared = create_chat(token, title="shared")
        seen = [shared["version"]]

        def work(i):
            own = create_chat(token, title="own %d" % i)
            versions = [own["version"]]
            for n in range(15):
                kind = n % 3
                if kind == 0:
                    resp = lib.post("/api/chats/%s/messages" % shared["id"],
                                    {"content": "t%d n%d" % (i, n), "role": "user"}, token=token,
                                    timeout=30)
                    self.assertEqual(resp.status, 201, resp)
                    versions.append(resp.json["message"]["version"])
                elif kind == 1:
                    resp = lib.request("PATCH", "/api/chats/" + own["id"],
                                       json_body={"title": "own %d %d" % (i, n)}, token=token,
                                       timeout=30)
                    self.assertEqual(resp.status, 200, resp)
                    versions.append(resp.json["chat"]["version"])
                else:
                    resp = lib.post("/api/chats", {"title": "more %d %d" % (i, n)}, token=token,
                                    timeout=30)
                    self.assertEqual(resp.status, 201, resp)
                    versions.append(resp.json["chat"]["version"])
            return versions

        per_thread = run_threads(6, work)
        for versions in per_thread:
            self.assertEqual(versions, sorted(versions), "one client's writes went back in time")
            self.assertEqual(len(versions), len(set(versions)))
            seen += versions
        self.assertEqual(len(seen), len(set(seen)), "two writes got one version")
        self.assertEqual(sorted(seen), list(range(1, len(seen) + 1)),
                         "a fresh user's versions, with nothing rolled back, have no gaps")
        self.assertEqual(counter(user), max(seen))
        stored = [int(v) for (v,) in lib.psql(
            "SELECT version FROM chats WHERE user_id = %s UNION ALL "
            "SELECT version FROM messages WHERE user_id = %s" % (q(user), q(user)))]
        self.assertEqual(len(stored), len(set(stored)))
        self.assertTrue(set(stored) <= set(seen))


if __name__ == "__main__":
    unittest.main()

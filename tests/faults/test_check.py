"""The history check must be able to fail: each test plants one error of the
kind it looks for in a small made-up history and asserts that check.py reports
it (and reports nothing for the clean history). faults.py runs these first.

    python3 -m unittest tests/faults/test_check.py
"""
import os
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "integration")]

import check  # noqa: E402
import nemesis  # noqa: E402
import workload  # noqa: E402


def attempt(status, started=1.0, ended=1.1, method="POST", path="/api/chats", replay=False):
    return workload.Attempt(method, path, started, ended, status,
                            None if status else "ConnectionResetError", replay)


def write(kind, doc_id, fields, seq, statuses, doc=None, user="u1", writer="w1"):
    w = workload.Write(writer, user, kind, doc_id, fields, seq)
    w.attempts = [attempt(s) for s in statuses]
    w.doc = doc
    return w


def chat_row(doc_id, title, version, deleted=False, user="u1"):
    return {"id": doc_id, "user_id": user, "title": title, "is_deleted": deleted,
            "version": version}


def message_row(doc_id, chat_id, content, position, version, deleted=False, user="u1"):
    return {"id": doc_id, "user_id": user, "chat_id": chat_id, "content": content,
            "position": position, "is_deleted": deleted, "version": version}


class FakeReader:
    def __init__(self, changes, user="u1"):
        self.name, self.user, self.changes = "r", user, changes


def change(table, doc_id, version, value, deleted=False):
    doc = {"isDeleted": deleted, ("content" if table == "messages" else "title"): value}
    return {"table": table, "id": doc_id, "version": version, "doc": doc}


def failures(results):
    return {name: found for name, found, _ in results if found}


class StoreCheckTest(unittest.TestCase):
    def history(self):
        """c1 created (v1), m1 appended (v2) then edited (v3, acknowledged)."""
        return [
            write("create_chat", "c1", {"title": "c1 t0"}, 1, [201],
                  {"title": "c1 t0", "version": 1}),
            write("append", "m1", {"content": "m1 v0", "chat_id": "c1"}, 2, [503, 200],
                  {"content": "m1 v0", "version": 2, "position": 0}),
            write("edit_message", "m1", {"content": "m1 v1"}, 3, [200],
                  {"content": "m1 v1", "version": 3}),
        ]

    def store(self):
        return [chat_row("c1", "c1 t0", 1)], [message_row("m1", "c1", "m1 v1", 0, 3)]

    def test_clean_history_passes(self):
        self.assertEqual(failures(check.check_store(self.history(), *self.store())), {})

    def test_lost_acknowledged_write_is_found(self):
        chats, _ = self.store()
        found = failures(check.check_store(self.history(), chats, []))
        self.assertIn("acknowledged writes are in the store (lost 0)", found)

    def test_value_older_than_the_acknowledged_edit_is_found(self):
        chats, _ = self.store()
        messages = [message_row("m1", "c1", "m1 v0", 0, 2)]
        found = failures(check.check_store(self.history(), chats, messages))
        self.assertIn("the store holds what was acknowledged", found)

    def test_unknown_outcome_may_be_either(self):
        history = self.history()
        history.append(write("edit_message", "m1", {"content": "m1 v2"}, 4, [503, None]))
        chats, messages = self.store()
        self.assertEqual(failures(check.check_store(history, chats, messages)), {})
        messages = [message_row("m1", "c1", "m1 v2", 0, 4)]
        self.assertEqual(failures(check.check_store(history, chats, messages)), {})

    def test_duplicated_write_is_found(self):
        chats, messages = self.store()
        messages.append(message_row("m_other", "c1", "m1 v1", 1, 4))
        found = failures(check.check_store(self.history(), chats, messages))
        self.assertIn("no write is duplicated (duplicated 0)", found)

    def test_refused_write_in_the_store_is_found(self):
        history = self.history()
        history.append(write("append", "m2", {"content": "m2 v0", "chat_id": "c1"}, 4, [400]))
        chats, messages = self.store()
        messages.append(message_row("m2", "c1", "m2 v0", 1, 4))
        found = failures(check.check_store(history, chats, messages))
        self.assertIn("refused writes are not in the store", found)

    def test_position_gap_is_found(self):
        history = self.history()
        history.append(write("append", "m2", {"content": "m2 v0", "chat_id": "c1"}, 4, [201],
                             {"content": "m2 v0", "version": 4, "position": 2}))
        chats, messages = self.store()
        messages.append(message_row("m2", "c1", "m2 v0", 2, 4))
        found = failures(check.check_store(history, chats, messages))
        self.assertIn("positions per chat are 0..n-1", found)

    def test_versions_going_back_for_one_writer_are_found(self):
        history = self.history()
        history[2].doc["version"] = 1
        self.assertTrue(failures(check.check_versions(history)))


class ReaderCheckTest(unittest.TestCase):
    chats = [chat_row("c1", "c1 t0", 1)]
    messages = [message_row("m1", "c1", "m1 v1", 0, 3)]

    def check(self, changes):
        return failures(check.check_readers([FakeReader(changes)], [], self.chats, self.messages))

    def test_in_order_with_a_droppable_duplicate_after_reconnect_passes(self):
        changes = [(1, 0, change("chats", "c1", 1, "c1 t0")),
                   (1, 0, change("messages", "m1", 3, "m1 v1")),
                   (2, 0, change("messages", "m1", 3, "m1 v1"))]
        self.assertEqual(self.check(changes), {})

    def test_reorder_on_one_connection_is_found(self):
        changes = [(1, 0, change("messages", "m1", 3, "m1 v1")),
                   (1, 0, change("chats", "c1", 1, "c1 t0"))]
        self.assertIn("SSE readers see versions in order, each once per connection",
                      self.check(changes))

    def test_duplicate_on_one_connection_is_found(self):
        changes = [(1, 0, change("chats", "c1", 1, "c1 t0")),
                   (1, 0, change("messages", "m1", 3, "m1 v1")),
                   (1, 0, change("messages", "m1", 3, "m1 v1"))]
        self.assertIn("SSE readers see versions in order, each once per connection",
                      self.check(changes))

    def test_unseen_lower_version_after_reconnect_is_found(self):
        changes = [(1, 0, change("messages", "m1", 3, "m1 v1")),
                   (2, 0, change("chats", "c1", 1, "c1 t0"))]
        self.assertIn("SSE readers see versions in order, each once per connection",
                      self.check(changes))

    def test_lost_change_is_found(self):
        changes = [(1, 0, change("chats", "c1", 1, "c1 t0"))]
        self.assertIn("SSE readers end with exactly the store (no change lost)",
                      self.check(changes))


class StatusCheckTest(unittest.TestCase):
    def kill(self, service, started, ended):
        fault = nemesis.Fault("kill -9 %s-svc" % service, (service,))
        fault.started, fault.ended = started, ended
        return fault

    def check(self, attempts, faults):
        return failures(check.check_statuses(attempts, faults, 20))

    def test_502_while_its_service_is_killed_passes(self):
        a = attempt(502, 10.0, 10.1, path="/api/chats")
        self.assertEqual(self.check([a], [self.kill("chats", 9.9, 10.5)]), {})

    def test_502_of_another_service_or_outside_the_window_is_found(self):
        for a, fault in ((attempt(502, 10.0, 10.1, path="/api/sync"), self.kill("chats", 9.9, 10.5)),
                         (attempt(502, 30.0, 30.1, path="/api/chats"), self.kill("chats", 9.9, 10.5))):
            with self.subTest(path=a.path, started=a.started):
                self.assertTrue(self.check([a], [fault]))

    def test_500_is_found(self):
        self.assertTrue(self.check([attempt(500)], []))

    def test_hang_is_found(self):
        self.assertTrue(self.check([attempt(None, 1.0, 21.0)], []))


if __name__ == "__main__":
    unittest.main()

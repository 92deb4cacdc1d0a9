"""Every service's /metrics counts what its names say (issue 13, item 8): the
exact deltas of a known workload, read from /svc/<name>/metrics (loopback
only, which the tests are) before and after it.

The workload: a new user creates a chat (chats-svc), appends a message
(messages-svc), asks for an unknown chat (404) and sends a method no route takes (405); each
write publishes one wake-up, which sync-svc's reader receives. Nothing in it
is an internal error. A request is counted just after its answer is sent,
so the "after" side is read until it settles (or a deadline passes) and then
compared exactly: a counter counted twice, or in the wrong place, never
reaches the expected value."""
import re
import time
import unittest

import lib

SETTLE_S = 10
SAMPLE = re.compile(r"^(chatsync_[a-z_]+)(\{[^}]*\})? (-?[0-9.e+]+)$", re.M)


def metrics(service):
    """{(name, labels): value} of one service's /metrics."""
    resp = lib.get("/svc/%s/metrics" % service)
    assert resp.status == 200, resp
    return {(m.group(1), m.group(2) or ""): float(m.group(3)) for m in SAMPLE.finditer(resp.text)}


def requests(service, route, status):
    return ("chatsync_requests_total",
            '{service="%s",route="%s",status="%d"}' % (service, route, status))


def counter(service, name):
    return (name, '{service="%s"}' % service)


class MetricsCountTheWorkloadTest(unittest.TestCase):
    maxDiff = None

    def deltas(self, before, expected):
        """The deltas of expected's keys, once they equal expected or SETTLE_S pass."""
        def read():
            now = {}
            for service in before:
                now.update(metrics(service))
            got = {key: now.get(key, 0) - before[key[1].split('"')[1]].get(key, 0)
                   for key in expected}
            return got if got == expected else None
        got = lib.wait_for(read, SETTLE_S)
        if got is None:  # show what it was at the end
            now = {}
            for service in before:
                now.update(metrics(service))
            got = {key: now.get(key, 0) - before[key[1].split('"')[1]].get(key, 0)
                   for key in expected}
        return got

    def test_requests_wakeups_and_errors_count_exactly_what_happened(self):
        services = ("chats", "messages", "sync")
        token = lib.token(lib.unique("user_metrics"))
        before = {service: metrics(service) for service in services}

        chat = lib.post("/api/chats", {"title": "metrics"}, token=token)
        self.assertEqual(chat.status, 201, chat)
        message = lib.post("/api/chats/%s/messages" % chat.json["chat"]["id"],
                           {"role": "user", "content": "counted"}, token=token)
        self.assertEqual(message.status, 201, message)
        missing = lib.get("/api/chats/no_such_chat_%d" % time.monotonic_ns(), token=token)
        self.assertEqual(missing.status, 404, missing)
        unrouted = lib.request("PUT", "/api/chats", token=token)
        self.assertEqual(unrouted.status, 405, unrouted)

        expected = {
            requests("chats", "chats_create", 201): 1,
            requests("chats", "chats_get", 404): 1,
            requests("chats", "unmatched", 405): 1,
            requests("messages", "messages_append", 201): 1,
            counter("chats", "chatsync_wakeups_published_total"): 1,
            counter("messages", "chatsync_wakeups_published_total"): 1,
            counter("sync", "chatsync_wakeups_published_total"): 0,
            counter("sync", "chatsync_wakeups_received_total"): 2,
            counter("chats", "chatsync_wakeups_received_total"): 0,
            counter("chats", "chatsync_internal_errors_total"): 0,
            counter("messages", "chatsync_internal_errors_total"): 0,
            counter("sync", "chatsync_internal_errors_total"): 0,
            counter("chats", "chatsync_redis_errors_total"): 0,
            counter("messages", "chatsync_redis_errors_total"): 0,
        }
        self.assertEqual(self.deltas(before, expected), expected)

    def test_the_old_names_are_gone(self):
        text = lib.get("/svc/chats/metrics").text
        self.assertNotIn("chatsync_db_errors_total", text)
        self.assertNotIn("chatsync_wakeups_total{", text)


if __name__ == "__main__":
    unittest.main()

"""Reads carried in one round trip (common/db_read.c): when requests wait for
a pooled connection, the reader that gets one sends the queued reads with its
own, each up to its own sync, and hands each its own answer.

Postgres is frozen (SIGSTOP) while more reads than the pool holds arrive, so
that they must queue; thawed, the queued ones ride together. Each answer must
be its own user's (a mix-up of carried results would show another user's
chat), and /metrics must say reads were carried (else nothing here tested
the carrying). Among them are reads that Postgres refuses (a cursor whose id
is not UTF-8): each must fail alone, with its 400, and the reads beside it in
the batch must still get their own answers."""
import concurrent.futures
import os
import re
import signal
import time
import unittest

import lib

# Three waves of requests this far apart freeze Postgres for 0.6 s: time for each to
# queue, well below the answer and connect timeouts of the test stack (4 s, 2 s).
WAVE_S = 0.2
# decodes to timestamp 5 and the id "\xff": the service passes it on, Postgres refuses it (22021)
REFUSED_CURSOR = "NTr_"
CLIENT_TIMEOUT_S = 60
COUNT = re.compile(r'^(chatsync_db_reads(?:_carried)?_total)\{service="([a-z]+)"\} ([0-9]+)$', re.M)


def read_counts():
    """{(metric, service): value} of chats-svc's and sync-svc's read counters."""
    counts = {}
    for service in ("chats", "sync"):
        resp = lib.get("/svc/%s/metrics" % service)
        assert resp.status == 200, resp
        for name, svc, value in COUNT.findall(resp.text):
            counts[(name, svc)] = int(value)
    return counts


class CarriedReadsTest(unittest.TestCase):
    def setUp(self):
        self.frozen = []
        self.pool_size = int(os.environ.get("DB_POOL_SIZE") or 4)
        # three times the pool on each service: most must queue behind the frozen ones
        self.users = []
        for i in range(3 * self.pool_size):
            user = lib.unique("user_carried_%d" % i)
            token = lib.token(user)
            resp = lib.post("/api/chats", {"title": "chat of " + user}, token=token)
            self.assertEqual(resp.status, 201, resp)
            self.users.append((user, token))

    def tearDown(self):
        lib.signal_all(self.frozen, signal.SIGCONT)

    def list_chats(self, user, token):
        resp = lib.get("/api/chats", token=token, timeout=CLIENT_TIMEOUT_S)
        titles = [c["title"] for c in resp.json["chats"]] if resp.status == 200 else None
        return ("list", user, resp, titles)

    def refused(self, user, token):
        resp = lib.get("/api/chats?cursor=" + REFUSED_CURSOR, token=token, timeout=CLIENT_TIMEOUT_S)
        return ("refused list", user, resp, None)

    def changes(self, user, token):
        resp = lib.get("/api/sync?cursor=0", token=token, timeout=CLIENT_TIMEOUT_S)
        titles = ([c["doc"]["title"] for c in resp.json["changes"] if c["table"] == "chats"]
                  if resp.status == 200 else None)
        return ("sync", user, resp, titles)

    @staticmethod
    def run_all(sends):
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(sends)) as pool:
            return list(pool.map(lambda send: send(), sends))

    def test_queued_reads_ride_together_and_each_gets_its_own_answer(self):
        pool_size = self.pool_size
        lists = [lambda u=u, t=t: self.list_chats(u, t) for u, t in self.users]
        changes = [lambda u=u, t=t: self.changes(u, t) for u, t in self.users]
        refused = [lambda u=u, t=t: self.refused(u, t) for u, t in self.users[:pool_size]]
        # Every pooled connection open before the freeze (a connect to the
        # frozen server would wait with it), twice over: a pool hands out a
        # connected slot first, and carrying needs fewer.
        for _ in range(2):
            for what, user, resp, _ in self.run_all(lists + changes + refused):
                self.assertEqual(resp.status, 400 if what == "refused list" else 200, resp)
        before = read_counts()
        # Sent in three waves while Postgres is frozen, so that on chats-svc the
        # refused reads queue behind 2 x pool_size good ones and ahead of the
        # last pool_size: a carrier takes them in the middle of its batch.
        waves = (lists[:2 * pool_size] + changes, refused, lists[2 * pool_size:])
        futures = []
        self.frozen = lib.postgres_pids()
        lib.signal_all(self.frozen, signal.SIGSTOP)
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(lists + changes + refused)) as pool:
            try:
                for wave in waves:
                    futures += [pool.submit(send) for send in wave]
                    time.sleep(WAVE_S)
            finally:
                lib.signal_all(self.frozen, signal.SIGCONT)
                self.frozen = []
            results = [f.result(timeout=CLIENT_TIMEOUT_S) for f in futures]
        for what, user, resp, titles in results:
            if what == "refused list":
                lib.assert_error_body(resp, 400, "bad_request")
                continue
            self.assertEqual(resp.status, 200, "%s of %s: %r" % (what, user, resp))
            self.assertEqual(titles, ["chat of " + user],
                             "%s of %s answered another user's chats" % (what, user))
        after = read_counts()
        for service in ("chats", "sync"):
            reads = (after[("chatsync_db_reads_total", service)]
                     - before[("chatsync_db_reads_total", service)])
            carried = (after[("chatsync_db_reads_carried_total", service)]
                       - before[("chatsync_db_reads_carried_total", service)])
            self.assertGreaterEqual(reads, len(self.users), "%s-svc: reads %d" % (service, reads))
            self.assertGreater(carried, 0, "%s-svc: no read was carried by another's round "
                               "trip, although %d queued" % (service, len(self.users)))


if __name__ == "__main__":
    unittest.main()

"""The cluster's promises (issue 15, point 4), against the real cluster stack
that tests/cluster/run.py starts: two service nodes behind one nginx, a Redis
Cluster, a Postgres streaming replica. Faults are real: kill -9 of processes,
a paused WAL replay. Each test leaves the stack as it found it (stack.sh
cluster up restarts what was killed)."""
import http.client
import json
import os
import signal
import subprocess
import threading
import time
import unittest

import fcgi
import lib

SERVICES = ("chats", "messages", "sync", "import")


def node_address(node):
    return "127.0.0.%d" % (node + 1)


def service_address(node, service):
    return (node_address(node), int(os.environ["SERVICE_PORT_BASE"]) + SERVICES.index(service))


def stack_up():
    done = subprocess.run(["bash", lib.STACK_SCRIPT, "cluster", "up"], capture_output=True,
                          text=True, timeout=300, env=os.environ.copy())
    if done.returncode != 0:
        raise RuntimeError("stack.sh cluster up failed:\n%s%s" % (done.stdout, done.stderr))


def read_pid(name):
    with open(os.path.join(lib.RUN_DIR, "pid", name)) as f:
        return int(f.read().strip())


def kill_node(node):
    """kill -9 of a node's four services and their supervisors (so that they stay dead)."""
    for service in SERVICES:
        for name in ("n%d-%s.supervisor.pid" % (node, service), "n%d-%s.pid" % (node, service)):
            try:
                os.kill(read_pid(name), signal.SIGKILL)
            except (OSError, ValueError):
                pass


def redis_cli(port, *args):
    return subprocess.run(["redis-cli", "-h", "127.0.0.1", "-p", str(port)] + list(args),
                          capture_output=True, text=True, timeout=10).stdout


def redis_ports():
    first = int(os.environ["REDIS_PORT"])
    return range(first, first + 6)


def master_of(key):
    """The port of the master that serves key's slot, from a node that answers."""
    for port in redis_ports():
        slot = redis_cli(port, "cluster", "keyslot", key).strip()
        if not slot.isdigit():
            continue
        for line in redis_cli(port, "cluster", "nodes").splitlines():
            fields = line.split()
            if "master" not in fields[2] or "fail" in fields[2]:
                continue
            for ranges in fields[8:]:
                low, _, high = ranges.partition("-")
                if low.isdigit() and int(low) <= int(slot) <= int(high or low):
                    return int(fields[1].split(":")[1].split("@")[0])
    return None


def wake_key(user):
    # common/hash.c: FNV-1a of the user id, 16 shards
    h = 0x811c9dc5
    for byte in user.encode():
        h = ((h ^ byte) * 0x01000193) & 0xffffffff
    return "cs:wake:{%d}" % (h % 16)


def replica_sql(sql):
    return subprocess.run(["psql", "-X", "-q", "-tA", "-h", "127.0.0.1", "-p",
                           os.environ["PG_REPLICA_PORT"], "-U", "postgres", "-d", "chatsync",
                           "-c", sql], capture_output=True, text=True, timeout=30).stdout.strip()


def create_chat(token, chat_id, address=None):
    """POST /api/chats, through nginx or to one node's chats-svc; the status and JSON."""
    body = json.dumps({"id": chat_id, "title": chat_id})
    if address is None:
        resp = lib.post("/api/chats", {"id": chat_id, "title": chat_id}, token=token, timeout=15)
        return resp.status, resp.json if resp.status < 300 else None
    status, _, payload = fcgi.request(address, "POST", "/api/chats", {
        "Authorization": "Bearer " + token, "Content-Type": "application/json"},
        body.encode())
    return status, json.loads(payload) if status < 300 else None


def synced_ids(token, cursor="0", min_version=0):
    """Every change id after cursor, through nginx, page by page."""
    ids, versions = [], []
    for _ in range(100):
        path = "/api/sync?cursor=%s&limit=1000" % cursor
        if min_version:
            path += "&minVersion=%d" % min_version
        resp = lib.get(path, token=token, timeout=15)
        assert resp.status == 200, resp
        ids += [c["id"] for c in resp.json["changes"]]
        versions += [c["version"] for c in resp.json["changes"]]
        cursor = resp.json["cursor"]
        if not resp.json["hasMore"]:
            return ids, versions, cursor
    raise AssertionError("sync did not end")


def sync_metric(name):
    """The sum of a sync-svc counter over both nodes (asked of each node directly)."""
    total = 0
    for node in (1, 2):
        _, _, body = fcgi.request(service_address(node, "sync"), "GET", "/metrics")
        for line in body.decode().splitlines():
            if line.startswith(name + "{"):
                total += int(float(line.split()[-1]))
    return total


class ClusterTest(unittest.TestCase):
    def test_a_write_on_node_1_reaches_an_event_stream_on_node_2_within_a_second(self):
        user = lib.unique("cross")
        token = lib.token(user)
        cross_id = user + "-c"
        stream = fcgi.Stream(service_address(2, "sync"), "GET", "/api/sync", {
            "Authorization": "Bearer " + token, "Accept": "text/event-stream"}, timeout=10)
        try:
            self.assertIn(b": connected", stream.read(b": connected", 10))
            time.sleep(0.3)  # the reader is positioned; the write comes after
            started = time.monotonic()
            status, _ = create_chat(token, cross_id, service_address(1, "chats"))
            self.assertEqual(status, 201)
            out = stream.read(('"%s"' % cross_id).encode(), 3)
            elapsed = time.monotonic() - started
        finally:
            stream.close()
        self.assertIn(('"%s"' % cross_id).encode(), out)
        self.assertLess(elapsed, 1.0, "the write reached node 2's stream after %.2f s" % elapsed)

    def test_a_streamed_reply_written_on_node_1_reaches_node_2_in_order_through_the_cluster(self):
        """Chunks go through the Redis Cluster: a stream script's keys share the
        user's shard slot (common/stream.c), and node 2's reader delivers them."""
        user = lib.unique("chunks")
        token = lib.token(user)
        auth = {"Authorization": "Bearer " + token, "Content-Type": "application/json"}
        status, chat = create_chat(token, user + "-c", service_address(1, "chats"))
        self.assertEqual(status, 201)
        status, _, payload = fcgi.request(
            service_address(1, "messages"), "POST", "/api/chats/%s/messages" % chat["chat"]["id"],
            auth, json.dumps({"role": "assistant", "content": "",
                              "streamState": "streaming"}).encode())
        self.assertEqual(status, 201, payload)
        message_id = json.loads(payload)["message"]["id"]
        stream = fcgi.Stream(service_address(2, "sync"), "GET", "/api/sync", {
            "Authorization": "Bearer " + token, "Accept": "text/event-stream"}, timeout=20)
        texts = ["c%d " % seq for seq in range(1, 41)]
        try:
            self.assertIn(b": connected", stream.read(b": connected", 10))
            for seq, text in enumerate(texts, 1):
                status, _, payload = fcgi.request(
                    service_address(1 + seq % 2, "messages"), "POST",
                    "/api/messages/%s/chunks" % message_id, auth,
                    json.dumps({"seq": seq, "text": text}).encode())
                self.assertEqual(status, 200, payload)
            out = stream.read(b'"seq":40,', 10).decode()
        finally:
            stream.close()
        seqs, got = [], ""
        for block in out.split("\n\n"):
            if "event: chunk" in block:
                data = json.loads(block.split("data: ", 1)[1])
                if data["messageId"] == message_id:
                    seqs.append(data["seq"])
                    got += data["text"]
        self.assertEqual(seqs, list(range(1, 41)), "chunks missing, repeated or out of order")
        self.assertEqual(got, "".join(texts))

    def test_node_1_killed_requests_go_to_node_2_and_no_acknowledged_write_is_lost(self):
        user = lib.unique("failnode")
        token = lib.token(user)
        acked, errors, stop = [], [], threading.Event()

        def write():
            i = 0
            while not stop.is_set() and i < 2000:
                chat_id = "%s-w%d" % (user, i)
                try:
                    status, _ = create_chat(token, chat_id)
                except OSError as e:
                    status = str(e)
                (acked if status in (200, 201) else errors).append((chat_id, status))
                i += 1
                time.sleep(0.01)

        writer = threading.Thread(target=write)
        writer.start()
        try:
            time.sleep(1.0)
            before = len(acked)
            kill_node(1)
            time.sleep(3.0)
        finally:
            stop.set()
            writer.join(60)
            stack_up()
        self.assertGreater(before, 0)
        self.assertGreater(len(acked) - before, 5, "node 2 served (almost) nothing after the kill")
        # one writer: at most the one request in flight at the kill fails
        self.assertLessEqual(len(errors), 1, errors)
        ids, _, _ = synced_ids(token)
        missing = sorted(set(c for c, _ in acked) - set(ids))
        self.assertEqual(missing, [], "acknowledged writes missing from sync")

    def test_a_redis_master_killed_fails_over_and_live_delivery_loses_nothing(self):
        user = lib.unique("failredis")
        token = lib.token(user)
        master = master_of(wake_key(user))
        self.assertIsNotNone(master, "no master found for the user's shard")
        http_conn = http.client.HTTPConnection("127.0.0.1", int(os.environ["HTTP_PORT"]),
                                               timeout=30)
        http_conn.request("GET", "/api/sync", headers={"Authorization": "Bearer " + token,
                                                       "Accept": "text/event-stream"})
        resp = http_conn.getresponse()
        self.assertEqual(resp.status, 200)
        received, done = [], threading.Event()

        def read_stream():
            while not done.is_set():
                line = resp.fp.readline()
                if not line:
                    return
                received.append(line)

        reader = threading.Thread(target=read_stream, daemon=True)
        reader.start()
        written = []
        try:
            time.sleep(0.5)
            with open(os.path.join(lib.RUN_DIR, "pid", "redis-%d.pid" % master)) as f:
                os.kill(int(f.read().strip()), signal.SIGKILL)
            # writes go on during the failover (cluster-node-timeout 1 s)
            for i in range(30):
                status, _ = create_chat(token, "%s-r%d" % (user, i))
                self.assertIn(status, (200, 201))
                written.append("%s-r%d" % (user, i))
                time.sleep(0.2)
            # the cluster has a new master for the shard by now
            self.assertTrue(lib.wait_for(lambda: master_of(wake_key(user)) not in (None, master),
                                         20), "no failover")
            text = lambda: b"".join(received).decode()  # noqa: E731
            self.assertTrue(lib.wait_for(lambda: all('"%s"' % c in text() for c in written), 10),
                            "writes never delivered: %s" % [c for c in written
                                                             if '"%s"' % c not in text()])
            # delivery by wake-up has resumed: a new write arrives within a second
            time.sleep(1.5)
            started = time.monotonic()
            status, _ = create_chat(token, user + "-after")
            self.assertIn(status, (200, 201))
            self.assertTrue(lib.wait_for(lambda: '"%s-after"' % user in text(), 3, 0.02))
            self.assertLess(time.monotonic() - started, 1.0)
        finally:
            done.set()
            http_conn.close()
            stack_up()  # the killed node comes back (as a replica)

    def test_paused_replica_skips_nothing_and_reads_own_writes_then_serves_again(self):
        user = lib.unique("replica")
        token = lib.token(user)
        status, first = create_chat(token, user + "-before")
        self.assertEqual(status, 201)
        _, _, cursor = synced_ids(token, min_version=first["chat"]["version"])
        replica_sql("SELECT pg_wal_replay_pause()")
        try:
            self.assertTrue(lib.wait_for(
                lambda: replica_sql("SELECT pg_get_wal_replay_pause_state()") == "paused", 10))
            versions = []
            for i in range(5):
                status, doc = create_chat(token, "%s-paused-%d" % (user, i))
                self.assertEqual(status, 201)
                versions.append(doc["chat"]["version"])
            fallbacks = sync_metric("chatsync_replica_fallbacks_total")
            # a client that passes the version it wrote reads it back (from the primary)
            ids, got, _ = synced_ids(token, cursor, min_version=versions[-1])
            self.assertEqual(ids, ["%s-paused-%d" % (user, i) for i in range(5)])
            self.assertGreater(sync_metric("chatsync_replica_fallbacks_total"), fallbacks)
            # without minVersion the replica answers what it has: a prefix, never a gap
            ids, got, _ = synced_ids(token, "0")
            everything = [first["chat"]["version"]] + versions
            self.assertEqual(got, everything[:len(got)])
            self.assertIn(user + "-before", ids)
            # the lag shows in /readyz of sync-svc
            _, _, body = fcgi.request(service_address(1, "sync"), "GET", "/readyz")
            self.assertIn(b'"replica":"up"', body)
        finally:
            replica_sql("SELECT pg_wal_replay_resume()")
        # resumed: reads with minVersion go to the replica again
        self.assertTrue(lib.wait_for(lambda: int(replica_sql(
            "SELECT coalesce(max(version), 0) FROM user_versions WHERE user_id = '%s'" % user)
            or 0) >= versions[-1], 10))
        reads, fallbacks = (sync_metric("chatsync_replica_reads_total"),
                            sync_metric("chatsync_replica_fallbacks_total"))
        ids, _, _ = synced_ids(token, cursor, min_version=versions[-1])
        self.assertEqual(ids, ["%s-paused-%d" % (user, i) for i in range(5)])
        self.assertGreater(sync_metric("chatsync_replica_reads_total"), reads)
        self.assertEqual(sync_metric("chatsync_replica_fallbacks_total"), fallbacks)

    def test_stopped_replica_costs_one_short_timeout_then_reads_go_to_the_primary(self):
        user = lib.unique("stopped")
        token = lib.token(user)
        status, first = create_chat(token, user + "-before")
        self.assertEqual(status, 201)
        # both nodes' replica pools hold a connection, as in steady use
        for _ in range(4):
            _, _, cursor = synced_ids(token, min_version=first["chat"]["version"])
        with open(os.path.join(lib.RUN_DIR, "pg", "replica", "postmaster.pid")) as f:
            postmaster = int(f.readline().strip())
        # the postmaster and every backend: a replica that accepts TCP but never answers
        stopped = [postmaster] + lib.children(postmaster)
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)
        written, seen, durations = [], [], []
        try:
            for i in range(30):
                chat_id = "%s-stopped-%d" % (user, i)
                status, doc = create_chat(token, chat_id)
                self.assertEqual(status, 201)
                written.append(chat_id)
                started = time.monotonic()
                resp = lib.get("/api/sync?cursor=%s&limit=1000&minVersion=%d"
                               % (cursor, doc["chat"]["version"]), token=token, timeout=30)
                durations.append(time.monotonic() - started)
                self.assertEqual(resp.status, 200, resp)
                seen += [c["id"] for c in resp.json["changes"]]
                cursor = resp.json["cursor"]
            # readiness says "down" without waiting on the replica each time: at
            # most one probe per SYNC_REPLICA_RETRY_MS pays its timeout (a load
            # balancer's check gives up after about a second)
            probes = []
            for _ in range(3):
                started = time.monotonic()
                status, _, body = fcgi.request(service_address(1, "sync"), "GET", "/readyz")
                probes.append(round(time.monotonic() - started, 2))
                self.assertEqual(status, 200, body)
                self.assertIn(b'"replica":"down"', body)
            self.assertLessEqual(len([p for p in probes if p >= 0.4]), 1,
                                 "/readyz with the replica stopped took %s s" % probes)
        finally:
            for pid in stopped:
                try:
                    os.kill(pid, signal.SIGCONT)
                except OSError:
                    pass
        # no gap: every write read back once, in order, through the primary
        self.assertEqual(seen, written)
        # each node pays the replica's short timeout once (SYNC_REPLICA_TIMEOUT_MS plus
        # the 1 s grace, or a connect), then skips it for SYNC_REPLICA_RETRY_MS; without
        # the skip every read would wait, without the short timeout the first would
        # wait DB_STATEMENT_TIMEOUT_MS (5 s) and more
        slow = [round(d, 2) for d in durations if d >= 1.0]
        self.assertLessEqual(len(slow), 6, "reads of 1 s or more: %s" % slow)
        self.assertLess(max(durations), 4.5, "slowest read %.2f s" % max(durations))
        # continued: after the retry time a read tries the replica again, and it serves
        reads = sync_metric("chatsync_replica_reads_total")
        self.assertTrue(lib.wait_for(
            lambda: synced_ids(token, cursor) is not None
            and sync_metric("chatsync_replica_reads_total") > reads, 20, 0.5),
            "the replica never served again after SIGCONT")


if __name__ == "__main__":
    unittest.main()

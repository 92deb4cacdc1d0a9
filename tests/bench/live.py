#!/usr/bin/env python3
"""The live path: many SSE subscribers held open, writes at a steady rate,
commit-to-delivery latency.

    live.py --port 19080 --users live_users.tsv --subscribers 5000 --rate 200
            --duration 60 --sync-pid PID [--sync-pid PID2 ...] --nginx-pid MASTER_PID

1. Opens one Server-Sent Events stream per user (GET /api/sync, Accept:
   text/event-stream, from the user's current cursor: nothing to replay),
   --connect-rate per second, and waits until each has answered 200
   (connect_s: until the last head arrived; see docs/BENCHMARKS.md on why a
   quiet stream's head can take one ping interval).
2. With all of them held, reads the RSS of sync-svc and of nginx's workers
   (VmRSS) and compares with before: memory per idle subscriber.
3. Appends messages through the API at --rate per second (open loop, as
   fixed_rate.py) to the chats of random subscribed users, each with a
   client-chosen id, and waits for every one to arrive on its user's stream.
   Delivery latency is (time the event arrives) - (time the POST was sent):
   the commit happens between the two, so this is an upper bound of
   commit-to-delivery that includes the write's own latency. The time from the
   201 coming back is reported too; it can be negative, since the service's
   publisher thread sends the wake-up while the answer goes out.
4. Counts as errors: a stream not answered 200, a stream that ends or breaks
   while held, a write not answered 201, a write never delivered within the
   grace time.

users file: user, token, chat id, cursor (tab-separated). Prints one JSON line.
"""
import argparse
import asyncio
import json
import os
import random
import resource
import time

import httpclient

GRACE_S = 10


def rss_kb(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def threads_of(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("Threads:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def children(ppid):
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % name) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2:].split()
        if int(fields[1]) == ppid:
            out.append(int(name))
    return sorted(out)


def open_fds(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return 0


def memory(sync_pids, nginx_pid):
    workers = children(nginx_pid)
    return {
        # summed over the nodes' sync-svc processes (cluster.sh passes one per node)
        "sync_rss_kb": sum(rss_kb(p) for p in sync_pids),
        "sync_threads": sum(threads_of(p) for p in sync_pids),
        "sync_threads_each": [threads_of(p) for p in sync_pids],
        "nginx_workers_rss_kb": sum(rss_kb(p) for p in workers),
        "nginx_workers": len(workers),
        # each held stream costs a worker two descriptors (client, upstream)
        "nginx_worker_fds": [open_fds(p) for p in workers],
    }


class Subscriber:
    def __init__(self, user, token, chat, cursor):
        self.user, self.token, self.chat, self.cursor = user, token, chat, cursor
        self.conn = None
        self.ok = False
        self.ended = None  # why the stream ended while it should be held
        self.events = 0


async def subscribe(sub, port, deliveries, stopping):
    """Opens the stream, then reads it until stopping is set."""
    host = "127.0.0.1:%d" % port
    raw = httpclient.build_request(
        "GET", "/api/sync?cursor=" + sub.cursor, host,
        {"Authorization": "Bearer " + sub.token, "Accept": "text/event-stream"})
    conn = sub.conn = httpclient.Connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    try:
        await conn.open()
        conn.send(raw)
        status, headers = await asyncio.wait_for(conn.read_head(), 30)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
        sub.ended = "connect: %s" % type(e).__name__
        conn.close()
        return
    if status != 200:
        sub.ended = "status_%d" % status
        conn.close()
        return
    sub.ok = True
    chunked = headers.get("transfer-encoding", "").lower() == "chunked"
    buf = b""
    try:
        while not stopping.is_set():
            if chunked:
                size = int((await conn.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    raise asyncio.IncompleteReadError(b"", None)
                data = await conn.reader.readexactly(size + 2)
                data = data[:-2]
            else:
                data = await conn.reader.read(65536)
                if not data:
                    raise asyncio.IncompleteReadError(b"", None)
            now = loop.time()
            buf += data
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                for line in event.split(b"\n"):
                    if line.startswith(b"data: "):
                        sub.events += 1
                        doc = json.loads(line[6:])
                        for change in doc.get("changes", []):
                            key = change.get("id")
                            if key in deliveries and deliveries[key] is None:
                                deliveries[key] = now
                    elif line.startswith(b"event: reauth"):
                        raise asyncio.IncompleteReadError(b"", None)
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        if not stopping.is_set():
            sub.ended = "ended: %s" % type(e).__name__
    except asyncio.CancelledError:
        pass
    finally:
        conn.close()


async def run(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    subs = []
    with open(args.users) as f:
        for line in f:
            user, token, chat, cursor = line.rstrip("\n").split("\t")
            subs.append(Subscriber(user, token, chat, cursor))
    subs = subs[: args.subscribers]
    loop = asyncio.get_running_loop()
    deliveries = {}  # message id -> arrival time (None until it arrives)
    stopping = asyncio.Event()
    out = {"subscribers_wanted": len(subs), "rate": args.rate, "duration_s": args.duration,
           "threads_setting": args.threads, "stack_kb_setting": args.stack_kb}

    await asyncio.sleep(1)
    before = memory(args.sync_pid, args.nginx_pid)
    out["memory_before"] = before

    # 1. open the streams at a steady pace (--connect-rate per second), then
    # wait until every one has answered its head (or failed)
    tasks = []
    t0 = loop.time()
    for i, sub in enumerate(subs):
        due = t0 + i / args.connect_rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(subscribe(sub, args.port, deliveries, stopping)))
    out["connect_sent_s"] = round(loop.time() - t0, 2)
    deadline = loop.time() + 60
    while loop.time() < deadline and any(not s.ok and s.ended is None for s in subs):
        await asyncio.sleep(0.05)
    for s in subs:
        if not s.ok and s.ended is None:
            s.ended = "no answer within 60 s"
    out["connect_s"] = round(loop.time() - t0, 2)
    held = [s for s in subs if s.ok and s.ended is None]
    out["subscribers_opened"] = len(held)
    refused = {}
    for s in subs:
        if not s.ok:
            refused[s.ended] = refused.get(s.ended, 0) + 1
    out["refused"] = refused

    # 2. memory with every stream idle
    await asyncio.sleep(3)
    idle = memory(args.sync_pid, args.nginx_pid)
    out["memory_held"] = idle
    n = max(1, len(held))
    out["per_subscriber_kb"] = {
        "sync": round((idle["sync_rss_kb"] - before["sync_rss_kb"]) / n, 1),
        "nginx": round((idle["nginx_workers_rss_kb"] - before["nginx_workers_rss_kb"]) / n, 1),
    }

    # 3. writes at a fixed rate to random held users
    rng = random.Random(11)
    total = int(args.rate * args.duration)
    run_id = "%x" % int(time.time())
    writes = {}  # id -> [send, ack, status]
    state = {"next": 0}
    write_errors = {}
    host = "127.0.0.1:%d" % args.port
    start = loop.time() + 0.2

    async def writer():
        conn = httpclient.Connection("127.0.0.1", args.port)
        while True:
            i = state["next"]
            if i >= total or not held:
                break
            state["next"] = i + 1
            due = start + i / args.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            sub = held[rng.randrange(len(held))]
            mid = "m_live_%s_%06d" % (run_id, i)
            body = json.dumps({"id": mid, "role": "user",
                               "content": "live bench message %d: are you still there?" % i})
            raw = httpclient.build_request(
                "POST", "/api/chats/%s/messages" % sub.chat, host,
                {"Authorization": "Bearer " + sub.token, "Content-Type": "application/json"}, body)
            deliveries[mid] = None
            record = writes[mid] = [loop.time(), None, None]
            try:
                status, _, _ = await asyncio.wait_for(conn.request(raw), 10)
            except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                write_errors["socket"] = write_errors.get("socket", 0) + 1
                conn.close()
                continue
            record[1], record[2] = loop.time(), status
            if status != 201:
                write_errors["status_%d" % status] = write_errors.get("status_%d" % status, 0) + 1
        conn.close()

    t_writes = loop.time()
    await asyncio.gather(*(writer() for _ in range(args.write_connections)))
    out["writes_elapsed_s"] = round(loop.time() - t_writes, 2)
    deadline = loop.time() + GRACE_S
    while loop.time() < deadline and any(
            deliveries[k] is None for k, w in writes.items() if w[2] == 201):
        await asyncio.sleep(0.05)

    # 4. results
    from_send, from_ack, write_lat = [], [], []
    lost = 0
    for mid, (sent, ack, status) in writes.items():
        if status != 201:
            continue
        write_lat.append(ack - sent)
        arrived = deliveries.get(mid)
        if arrived is None:
            lost += 1
            continue
        from_send.append(arrived - sent)
        from_ack.append(arrived - ack)
    still_held = sum(1 for s in held if s.ended is None)
    dropped = {}
    for s in held:
        if s.ended is not None:
            dropped[s.ended] = dropped.get(s.ended, 0) + 1
    out.update({
        "writes": len(writes),
        "writes_ok": len(write_lat),
        "write_errors": write_errors,
        "delivered": len(from_send),
        "lost": lost,
        "subscribers_held_to_end": still_held,
        "dropped": dropped,
        "delivery_from_send_ms": httpclient.summary_ms(from_send),
        "delivery_from_201_ms": httpclient.summary_ms(from_ack),
        "write_latency_ms": httpclient.summary_ms(write_lat),
        "memory_after": memory(args.sync_pid, args.nginx_pid),
    })
    out["error_count"] = (sum(refused.values()) + sum(dropped.values()) + sum(write_errors.values())
                          + lost)
    stopping.set()
    for s in subs:
        if s.conn:
            s.conn.close()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out["client_cpu_s"] = round(time.process_time(), 2)
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--subscribers", type=int, default=5000)
    p.add_argument("--rate", type=float, default=200)
    p.add_argument("--duration", type=float, default=60)
    p.add_argument("--connect-rate", type=float, default=500, help="streams opened per second")
    p.add_argument("--write-connections", type=int, default=16)
    p.add_argument("--sync-pid", type=int, required=True, action="append",
                   help="sync-svc's PID; once per node")
    p.add_argument("--nginx-pid", type=int, required=True)
    p.add_argument("--threads", type=int, default=None, help="SYNC_THREADS, for the report")
    p.add_argument("--stack-kb", type=int, default=None, help="SYNC_THREAD_STACK_KB, for the report")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()

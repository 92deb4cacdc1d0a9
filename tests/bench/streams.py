#!/usr/bin/env python3
"""Streamed assistant replies: many streams appending chunks at a steady rate
to their users' subscribed devices; chunk -> device latency.

    streams.py --port 19080 --users live_users.tsv --streams 500 --devices-per-user 2
               --chunk-rate 30 --duration 20 --pg-port 19432

1. For each of --streams users (live_users.tsv: user, token, chat, cursor):
   creates an assistant message in the streaming state, then opens
   --devices-per-user SSE streams of that user (GET /api/sync from the user's
   cursor), --connect-rate per second, and waits until each answered 200.
2. Sends chunks (POST /api/messages/{id}/chunks) at --chunk-rate per second per
   stream for --duration seconds, open loop: each stream's chunks go in order on
   one of --write-connections connections (a later chunk never overtakes an
   earlier one, which would be a gap); a connection that falls behind sends
   at once, and the rate carried is reported beside the rate asked.
3. Latency is (time the chunk event arrives on a device) - (time its POST was
   sent), for every chunk and device. Lost: a chunk answered 200 that a
   device did not get within the grace time.
4. Ends every stream (POST /end, complete) and counts Postgres's row updates
   of messages during the chunks (pg_stat_user_tables.n_tup_upd: the windows).

Prints one JSON line; "requests" is the chunks answered 200, so that
tool.py cpu-add gives CPU per chunk.
"""
import argparse
import asyncio
import json
import resource
import subprocess
import time

import httpclient

GRACE_S = 5


def pg_updates(port):
    """messages' row updates so far (statistics are flushed about once a second)."""
    out = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-h", "127.0.0.1", "-p", str(port), "-U", "chatsync",
         "-d", "chatsync", "-c",
         "SELECT n_tup_upd FROM pg_stat_user_tables WHERE relname = 'messages'"],
        capture_output=True, text=True, timeout=30)
    return int(out.stdout.strip() or 0)


class Device:
    def __init__(self, token, cursor):
        self.token, self.cursor = token, cursor
        self.conn, self.ok, self.ended, self.chunks = None, False, None, 0
        # per message: the last chunk received, and the streamSeq of the last
        # document (a window's document stands for the chunks it holds: a
        # device behind its queue gets the window instead of those chunks)
        self.last_chunk, self.covered = {}, {}


async def follow(device, port, arrivals, stopping):
    """Opens the device's stream and records when each chunk event arrives."""
    host = "127.0.0.1:%d" % port
    raw = httpclient.build_request(
        "GET", "/api/sync?cursor=" + device.cursor, host,
        {"Authorization": "Bearer " + device.token, "Accept": "text/event-stream"})
    conn = device.conn = httpclient.Connection("127.0.0.1", port)
    loop = asyncio.get_running_loop()
    try:
        await conn.open()
        conn.send(raw)
        status, headers = await asyncio.wait_for(conn.read_head(), 30)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
        device.ended = "connect: %s" % type(e).__name__
        conn.close()
        return
    if status != 200:
        device.ended = "status_%d" % status
        conn.close()
        return
    device.ok = True
    chunked = headers.get("transfer-encoding", "").lower() == "chunked"
    buf = b""
    try:
        while not stopping.is_set():
            if chunked:
                size = int((await conn.reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    raise asyncio.IncompleteReadError(b"", None)
                data = (await conn.reader.readexactly(size + 2))[:-2]
            else:
                data = await conn.reader.read(65536)
                if not data:
                    raise asyncio.IncompleteReadError(b"", None)
            now = loop.time()
            buf += data
            while b"\n\n" in buf:
                event, buf = buf.split(b"\n\n", 1)
                is_chunk = b"event: chunk" in event
                for line in event.split(b"\n"):
                    if not line.startswith(b"data: "):
                        continue
                    body = json.loads(line[6:])
                    if is_chunk:
                        device.chunks += 1
                        device.last_chunk[body["messageId"]] = body["seq"]
                        arrivals.setdefault((body["messageId"], body["seq"]), []).append(now)
                        continue
                    for change in body.get("changes", []):
                        seq = (change.get("doc") or {}).get("streamSeq")
                        if change.get("table") == "messages" and seq:
                            mid = change["id"]
                            device.covered[mid] = max(device.covered.get(mid, 0), seq)
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        if not stopping.is_set():
            device.ended = "ended: %s" % type(e).__name__
    except asyncio.CancelledError:
        pass
    finally:
        conn.close()


async def post(conn, path, token, body):
    raw = httpclient.build_request(
        "POST", path, conn_host(conn),
        {"Authorization": "Bearer " + token, "Content-Type": "application/json"}, json.dumps(body))
    status, _, answer = await asyncio.wait_for(conn.request(raw), 10)
    return status, answer


def conn_host(conn):
    return "%s:%d" % (conn.host, conn.port)


async def run(args):
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    users = []
    with open(args.users) as f:
        for line in f:
            user, token, chat, cursor = line.rstrip("\n").split("\t")
            users.append((user, token, chat, cursor))
    users = users[: args.streams]
    loop = asyncio.get_running_loop()
    run_id = "%x" % int(time.time())
    out = {"streams_wanted": len(users), "chunk_rate": args.chunk_rate,
           "devices_per_user": args.devices_per_user, "duration_s": args.duration,
           "flush_ms": args.flush_ms}

    # 1. a streaming message per user, then the devices
    streams = []  # (message id, token)
    create_errors = {}
    conn = httpclient.Connection("127.0.0.1", args.port)
    for i, (user, token, chat, cursor) in enumerate(users):
        mid = "m_stream_%s_%05d" % (run_id, i)
        try:
            status, _ = await post(conn, "/api/chats/%s/messages" % chat, token,
                                   {"id": mid, "role": "assistant", "content": "",
                                    "streamState": "streaming"})
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            conn.close()
            status = "socket"
        if status == 201:
            streams.append((mid, token))
        else:
            create_errors[str(status)] = create_errors.get(str(status), 0) + 1
    conn.close()
    out["streams_created"] = len(streams)
    arrivals = {}
    stopping = asyncio.Event()
    devices, devices_of = [], {}
    for (_, token, _, cursor) in users:
        for _ in range(args.devices_per_user):
            devices.append(Device(token, cursor))
            devices_of.setdefault(token, []).append(devices[-1])
    tasks = []
    t0 = loop.time()
    for i, device in enumerate(devices):
        delay = t0 + i / args.connect_rate - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.ensure_future(follow(device, args.port, arrivals, stopping)))
    deadline = loop.time() + 60
    while loop.time() < deadline and any(not d.ok and d.ended is None for d in devices):
        await asyncio.sleep(0.05)
    held = [d for d in devices if d.ok and d.ended is None]
    out["devices_wanted"], out["devices_opened"] = len(devices), len(held)
    await asyncio.sleep(2)  # the first pages (the creates) are in

    # 2. chunks: stream j on connection j % W, in order, at chunk_rate each
    per_stream = int(args.chunk_rate * args.duration)
    sent = {}  # (message id, seq) -> send time
    answered = {}  # status -> count
    start = loop.time() + 0.2
    updates_before = pg_updates(args.pg_port)

    async def writer(w):
        mine = [(j, streams[j]) for j in range(w, len(streams), args.write_connections)]
        wconn = httpclient.Connection("127.0.0.1", args.port)
        # chunk k of stream j is due at start + k / rate + j / (rate * streams): spread evenly
        spread = 1.0 / (args.chunk_rate * max(1, len(streams)))
        for k in range(per_stream):
            for j, (mid, token) in mine:
                due = start + k / args.chunk_rate + j * spread
                delay = due - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
                sent[(mid, k + 1)] = loop.time()
                try:
                    status, _ = await post(wconn, "/api/messages/%s/chunks" % mid, token,
                                           {"seq": k + 1, "text": "tok%d " % (k + 1)})
                except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
                    wconn.close()
                    status = "socket"
                answered[str(status)] = answered.get(str(status), 0) + 1
        wconn.close()

    await asyncio.gather(*(writer(w) for w in range(args.write_connections)))
    elapsed = loop.time() - start
    want = args.devices_per_user
    sent_per_stream = {}
    for mid, seq in sent:
        sent_per_stream[mid] = max(sent_per_stream.get(mid, 0), seq)

    def missing():
        """(chunk, device) pairs that reached the device neither as a chunk nor in a window."""
        count = 0
        for mid, token in streams:
            for d in devices_of[token]:
                if d.ok:
                    reached = max(d.last_chunk.get(mid, 0), d.covered.get(mid, 0))
                    count += max(0, sent_per_stream.get(mid, 0) - reached)
        return count

    grace = loop.time() + GRACE_S
    while loop.time() < grace and missing():
        await asyncio.sleep(0.05)
    await asyncio.sleep(1.5)  # Postgres's statistics are flushed about once a second
    updates = pg_updates(args.pg_port) - updates_before

    # 3. results: a chunk reached a device as its event, or inside a window's
    # document that device got; lost if neither
    latencies = []
    for key, when in sent.items():
        latencies.extend(t - when for t in arrivals.get(key, []))
    lost = missing()
    by_document = sum(sent_per_stream.get(mid, 0) * sum(1 for d in devices_of[token] if d.ok)
                      for mid, token in streams) - len(latencies) - lost
    ok = answered.get("200", 0)
    out.update({
        "chunks_sent": len(sent),
        "requests": ok,
        "answers": answered,
        "create_errors": create_errors,
        "chunks_elapsed_s": round(elapsed, 2),
        "chunks_per_s": round(ok / elapsed, 1) if elapsed > 0 else 0,
        "chunks_per_s_asked": round(args.chunk_rate * len(streams), 1),
        "deliveries": len(latencies),
        "delivered_in_a_window": max(0, by_document),
        "lost": lost,
        "delivery_ms": httpclient.summary_ms(latencies),
        "pg_row_updates": updates,
        "pg_updates_per_s": round(updates / elapsed, 1) if elapsed > 0 else 0,
        "devices_held_to_end": sum(1 for d in held if d.ended is None),
    })

    # 4. end every stream
    conn = httpclient.Connection("127.0.0.1", args.port)
    ended = 0
    for mid, token in streams:
        last = sum(1 for k in range(1, per_stream + 1) if (mid, k) in sent)
        try:
            status, _ = await post(conn, "/api/messages/%s/end" % mid, token,
                                   {"state": "complete", "seq": last})
        except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError):
            conn.close()
            status = "socket"
        ended += status == 200
    conn.close()
    out["streams_ended"] = ended
    out["error_count"] = (len(streams) - ended + sum(create_errors.values()) + lost +
                          sum(v for k, v in answered.items() if k != "200") +
                          len(devices) - out["devices_held_to_end"])
    stopping.set()
    for d in devices:
        if d.conn:
            d.conn.close()
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    out["client_cpu_s"] = round(time.process_time(), 2)
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--pg-port", type=int, required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--streams", type=int, default=500)
    p.add_argument("--devices-per-user", type=int, default=2)
    p.add_argument("--chunk-rate", type=float, default=30, help="chunks per second per stream")
    p.add_argument("--duration", type=float, default=20)
    p.add_argument("--connect-rate", type=float, default=500, help="streams opened per second")
    p.add_argument("--write-connections", type=int, default=50)
    p.add_argument("--flush-ms", type=int, default=250, help="STREAM_FLUSH_MS, for the report")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()

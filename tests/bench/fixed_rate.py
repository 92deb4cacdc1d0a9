#!/usr/bin/env python3
"""Fixed-rate (open-loop) load on one chatsync endpoint, for latency.

    fixed_rate.py --port 19080 --endpoint list|get|delta|append --users users.tsv
                  --rate 500 --duration 15 [--warmup 1] [--connections 32] [--series FILE]

Request i is due at start + i/rate, whatever happened before it. A free
connection takes the next due request, sleeps until it is due and sends it;
its latency runs from the time it was due, not from the time it went out, so
a stalled server is charged for every request that waited behind it (wrk's
closed loop is not: it just sends fewer). The users file and the requests are
those of endpoint.lua. Prints one JSON line: due, sent, answered, errors by
kind and status, latency percentiles in ms, and the rate achieved. --series
writes one line per answered request, "<due, s from start> <latency ms>
<status>", so that a stall can be placed in time (beside Postgres's log, for
instance); a timeout or socket error is counted in the errors only.

--warmup S sends the same load for S seconds first, on the same connections,
and reports its latencies and errors apart ("warmup"; its errors also count
in "errors", and its lines in the series have due times below 0). The first
tenths of a second after the stack sat idle through other loads were several
times slower here than the rest of a load (docs/BENCHMARKS.md); the warm-up
keeps them out of the p99 and its own figures show them.
"""
import argparse
import asyncio
import json
import random
import time

import httpclient

APPEND_BODY = ('{"content":"Could you summarise the trade-offs of the approach above in three '
               'short bullet points, please?","role":"user"}')
TIMEOUT_S = 10


def load_users(path):
    users = []
    with open(path) as f:
        for line in f:
            user, token, long_chat, append_chat, cursor = line.rstrip("\n").split("\t")
            users.append({"auth": "Bearer " + token, "long_chat": long_chat,
                          "append_chat": append_chat, "cursor": cursor})
    return users


def make_request(endpoint, user, host):
    auth = {"Authorization": user["auth"]}
    if endpoint == "list":
        return httpclient.build_request("GET", "/api/chats", host, auth)
    if endpoint == "get":
        return httpclient.build_request("GET", "/api/chats/" + user["long_chat"], host, auth)
    if endpoint == "delta":
        return httpclient.build_request("GET", "/api/sync?limit=20&cursor=" + user["cursor"], host, auth)
    if endpoint == "append":
        return httpclient.build_request(
            "POST", "/api/chats/%s/messages" % user["append_chat"], host,
            dict(auth, **{"Content-Type": "application/json"}), APPEND_BODY)
    raise SystemExit("unknown endpoint " + endpoint)


async def run(args):
    users = load_users(args.users)
    host = "127.0.0.1:%d" % args.port
    rng = random.Random(7)
    warm = int(args.rate * args.warmup)
    total = warm + int(args.rate * args.duration)
    state = {"next": 0}
    latencies, warm_latencies, errors, warm_errors, series = [], [], {}, {}, []
    sent = [0]
    loop = asyncio.get_running_loop()
    start = loop.time() + 0.2 + warm / args.rate  # of the measured part; the warm-up runs before it

    def error(kind, i):
        errors[kind] = errors.get(kind, 0) + 1
        if i < warm:
            warm_errors[kind] = warm_errors.get(kind, 0) + 1

    async def worker():
        conn = httpclient.Connection("127.0.0.1", args.port)
        while True:
            i = state["next"]
            if i >= total:
                break
            state["next"] = i + 1
            due = start + (i - warm) / args.rate
            delay = due - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            raw = make_request(args.endpoint, users[rng.randrange(len(users))], host)
            sent[0] += 1
            try:
                status, _, _ = await asyncio.wait_for(conn.request(raw), TIMEOUT_S)
            except asyncio.TimeoutError:
                error("timeout", i)
                conn.close()
                continue
            except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
                error("socket", i)
                conn.close()
                continue
            latency = loop.time() - due
            (latencies if i >= warm else warm_latencies).append(latency)
            series.append((due - start, latency, status))
            if not 200 <= status < 300:
                error("status_%d" % status, i)
        conn.close()

    t0 = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(args.connections)))
    elapsed = time.monotonic() - t0 - 0.2
    out = {
        "endpoint": args.endpoint,
        "rate": args.rate,
        "duration_s": args.duration,
        "due": total - warm,
        "sent": sent[0] - warm,
        "answered": len(latencies),
        "achieved_rate": round(sent[0] / elapsed, 1) if elapsed > 0 else None,  # warm-up included
        "errors": errors,
        "error_count": sum(errors.values()),
        "latency_ms": httpclient.summary_ms(latencies),
        "warmup": {"seconds": args.warmup, "due": warm, "answered": len(warm_latencies),
                   "errors": warm_errors, "latency_ms": httpclient.summary_ms(warm_latencies)},
        "client_cpu_s": round(time.process_time(), 2),
    }
    if args.series:
        with open(args.series, "w") as f:
            f.writelines("%.4f %.2f %d\n" % (t, lat * 1000, status) for t, lat, status in sorted(series))
        out["series"] = args.series
        out["start_unix"] = round(time.time() - (loop.time() - start), 3)
    print(json.dumps(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--rate", type=float, required=True)
    p.add_argument("--duration", type=float, required=True)
    p.add_argument("--warmup", type=float, default=0.0)
    p.add_argument("--connections", type=int, default=32)
    p.add_argument("--series")
    asyncio.run(run(p.parse_args()))


if __name__ == "__main__":
    main()

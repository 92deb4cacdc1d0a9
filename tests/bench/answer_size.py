#!/usr/bin/env python3
"""The mean body size of one chatsync endpoint's answers, in bytes, so that the
FastCGI ceiling of that endpoint is measured with answers of the same size.

    answer_size.py --port 19080 --endpoint list|get|delta|append --users users.tsv [--samples 50]

Sends the requests of fixed_rate.py (those of endpoint.lua), one at a time, for
random users of the file; prints the mean body size, an integer. Any answer
that is not 2xx is an error (exit 1): a size of error bodies prices nothing.
"""
import argparse
import asyncio
import random
import sys

import httpclient
from fixed_rate import TIMEOUT_S, load_users, make_request


async def mean_size(args):
    users = load_users(args.users)
    host = "127.0.0.1:%d" % args.port
    rng = random.Random(11)
    conn = httpclient.Connection("127.0.0.1", args.port)
    sizes = []
    try:
        for _ in range(args.samples):
            raw = make_request(args.endpoint, users[rng.randrange(len(users))], host)
            status, _, body = await asyncio.wait_for(conn.request(raw), TIMEOUT_S)
            if not 200 <= status < 300:
                sys.exit("answer_size: %s answered %d" % (args.endpoint, status))
            sizes.append(len(body))
    finally:
        conn.close()
    return round(sum(sizes) / len(sizes))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--endpoint", required=True)
    p.add_argument("--users", required=True)
    p.add_argument("--samples", type=int, default=50)
    print(asyncio.run(mean_size(p.parse_args())))


if __name__ == "__main__":
    main()

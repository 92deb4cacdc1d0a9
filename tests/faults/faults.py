#!/usr/bin/env python3
"""Faults under load, with a history check (issue 11, item 6). Standard library only.

Starts a private stack (deploy/stack.sh, run folder .run/faults, ports
FAULTS_PORT_BASE+5xx) whose services reach Postgres and Redis through proxies
this program controls (proxy.py); drives a mixed workload (workload.py) while a
nemesis (nemesis.py) injects each fault in turn; then checks the whole history
against Postgres (check.py), prints the figures and, as its last line,
"faults: N passed, M failed". Exit status 1 when a check failed.

    python3 tests/faults/faults.py [--long] [--bin DIR] [--json FILE]

--short (the default, `make test`): each fault once, about 2 minutes.
--long (`make faults`): each fault twice, more users, about 5 minutes.
The whole run has a deadline (--deadline, seconds).
"""
import argparse
import json
import os
import random
import shutil
import signal
import sys
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path[:0] = [HERE, os.path.join(REPO, "tests", "integration"), os.path.join(REPO, "tests")]

import check  # noqa: E402
import lib  # noqa: E402
import nemesis  # noqa: E402
import proxy  # noqa: E402
import run as driver  # noqa: E402  tests/run.py: the stack's environment, the sanitizer scan
import workload  # noqa: E402

RUN_DIR = os.path.join(REPO, ".run", "faults")
PROFILES = {
    "short": dict(users=3, writers=2, readers=3, rounds=1, gap_s=2.0, fault_s=3.0, down_s=2.0,
                  deadline_s=420),
    "long": dict(users=4, writers=2, readers=3, rounds=2, gap_s=4.0, fault_s=5.0, down_s=3.0,
                 deadline_s=900),
}
WRITERS_FINISH_S = 30      # after the last fault: a write still unacknowledged then is given up
READERS_CATCH_UP_S = 30    # and each reader must have seen the store's last version by then
RECOVERY_BOUND_S = 30      # liveness, not speed: "comes back at all"
SSE_PING_S = 2             # the stack's SYNC_SSE_PING_S: readers notice a dead stream sooner


class Deadline(Exception):
    pass


def ports(base):
    return {"PG_PORT": base + 532, "PG_PROXY": base + 533, "REDIS_PORT": base + 579,
            "REDIS_PROXY": base + 580, "HTTP_PORT": base + 590, "HTTPS_PORT": base + 593}


def stack_env(bin_dir, p):
    env = {k: v for k, v in os.environ.items() if k not in driver.UNSET_FOR_STACK}
    env.update(driver.STACK_ENV)
    env.update({
        "CHATSYNC_RUN_DIR": RUN_DIR, "CHATSYNC_BIN_DIR": bin_dir,
        "PG_PORT": str(p["PG_PORT"]), "REDIS_PORT": str(p["REDIS_PORT"]),
        "HTTP_PORT": str(p["HTTP_PORT"]), "HTTPS_PORT": str(p["HTTPS_PORT"]),
        "SERVICE_DATABASE_URL": "postgresql://chatsync@127.0.0.1:%d/chatsync" % p["PG_PROXY"],
        "SERVICE_REDIS_URL": "redis://127.0.0.1:%d" % p["REDIS_PROXY"],
        "SYNC_SSE_PING_S": str(SSE_PING_S),
    })
    return env


def store_rows():
    def rows(sql):
        out = lib.psql("SELECT coalesce(json_agg(t), '[]') FROM (%s) t" % sql)
        return json.loads("\n".join("\x1f".join(row) for row in out))
    chats = rows("SELECT id, user_id, title, is_deleted, version FROM chats")
    messages = rows("SELECT id, user_id, chat_id, content, position, is_deleted, version "
                    "FROM messages")
    return chats, messages


def self_test():
    """test_check.py: the history check finds each kind of error planted in it."""
    tests = unittest.TestLoader().loadTestsFromName("test_check")
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=0).run(tests)
    broken = ["%s: %s" % (t.id(), text.strip().splitlines()[-1])
              for t, text in result.failures + result.errors]
    return ("the history check finds planted errors", broken, "%d cases" % result.testsRun)


def wait_readers_caught_up(readers, timeout):
    latest = {user: int(v) for user, v in lib.psql(
        "SELECT user_id, max(version) FROM (SELECT user_id, version FROM chats UNION ALL "
        "SELECT user_id, version FROM messages) v GROUP BY user_id")}
    behind = lambda: [r for r in readers if r.last_version < latest.get(r.user, 0)]  # noqa: E731
    lib.wait_for(lambda: not behind(), timeout, 0.2)
    return ["%s: at version %d, the store at %d" % (r.name, r.last_version, latest.get(r.user, 0))
            for r in behind()]


def print_figures(faults, history, readers, profile_name):
    acked = sum(1 for w in history.writes if w.acked)
    print("\n==== faults injected: %d (%s form) ====" % (len(faults), profile_name))
    print("%-32s %7s %9s %9s %8s  %s" % ("fault", "length", "->write", "->event", "max req",
                                         "note"))
    for f in faults:
        overlapping = [a for a in history.attempts
                       if a.started <= f.ended and a.ended >= f.started and a.method != "SSE"]
        slowest = max((a.ended - a.started for a in overlapping), default=0.0)
        fmt = lambda s: "-" if s is None else "%.2f s" % s  # noqa: E731
        print("%-32s %7s %9s %9s %8s  %s" % (f.name, fmt(f.ended - f.started),
                                             fmt(f.recovery_write), fmt(f.recovery_event),
                                             fmt(slowest), f.note))
    replays = sum(1 for w in history.writes for a in w.attempts if a.acked and a.replay)
    retried = sum(1 for w in history.writes if len(w.attempts) > 1)
    print("writes: %d logical, %d acknowledged, %d given up, %d retried, %d acknowledged as "
          "a replay of a write whose first answer was lost; requests: %d" % (
              len(history.writes), acked, len(history.writes) - acked, retried, replays,
              len(history.attempts)))
    print("SSE: %d readers, %d connections (reconnects after drops: %d)" % (
        len(readers), sum(r.connection for r in readers),
        sum(max(0, r.connection - 1) for r in readers)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--short", dest="profile", action="store_const", const="short")
    form.add_argument("--long", dest="profile", action="store_const", const="long")
    parser.add_argument("--bin", default=os.path.join(REPO, "build", "asan", "bin"))
    parser.add_argument("--port-base", type=int,
                        default=int(os.environ.get("FAULTS_PORT_BASE",
                                                   os.environ.get("TEST_PORT_BASE", "25000"))))
    parser.add_argument("--deadline", type=int, help="seconds for the whole run")
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--only", action="append", default=[], metavar="TEXT",
                        help="only the faults whose name contains TEXT (repeatable)")
    parser.add_argument("--fault-seconds", type=float,
                        help="length of each delay, blackhole and pause (default: the form's)")
    args = parser.parse_args()
    profile_name = args.profile or "short"
    prof = PROFILES[profile_name]
    deadline_s = args.deadline or prof["deadline_s"]
    sys.stdout.reconfigure(line_buffering=True)

    def on_alarm(signum, frame):
        raise Deadline("the run passed its deadline of %d s" % deadline_s)
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(deadline_s)

    p = ports(args.port_base)
    env = stack_env(os.path.abspath(args.bin), p)
    pg_proxy = proxy.Proxy("postgres", p["PG_PROXY"], p["PG_PORT"], postgres=True)
    redis_proxy = proxy.Proxy("redis", p["REDIS_PROXY"], p["REDIS_PORT"])
    history = workload.History()
    stop_writes, give_up, stop_reads = threading.Event(), threading.Event(), threading.Event()
    writers, readers, faults, results = [], [], [], []
    print("faults: seed %d, %s form, deadline %d s, stack in %s (HTTP %d)" % (
        args.seed, profile_name, deadline_s, RUN_DIR, p["HTTP_PORT"]))
    started = time.monotonic()
    stack_up = False
    results.append(self_test())
    try:
        driver.stack("down", env)
        shutil.rmtree(RUN_DIR, ignore_errors=True)
        pg_proxy.start()
        redis_proxy.start()
        if driver.stack("up", env) != 0:
            raise RuntimeError("stack.sh up failed")
        stack_up = True
        driver.export_coordinates(env)

        rng = random.Random(args.seed)
        for u in range(prof["users"]):
            user = "faults_u%d" % u
            token = lib.token(user, ttl=7200)
            for d in range(prof["readers"]):
                readers.append(workload.Reader("r%d.%d" % (u, d), user, token, "device-%d" % d,
                                               history, stop_reads))
            for w in range(prof["writers"]):
                writers.append(workload.Writer("w%d.%d" % (u, w), user, token, history,
                                               stop_writes, give_up, rng.random()))
        for t in readers + writers:
            t.start()
        time.sleep(prof["gap_s"] * 2)

        nem = nemesis.Nemesis(lambda cmd: driver.stack(cmd, env, timeout=120), RUN_DIR,
                              pg_proxy, redis_proxy, args.fault_seconds or prof["fault_s"],
                              prof["down_s"])
        plan = [f for f in nem.schedule() if not args.only or any(t in f[0] for t in args.only)]
        for round_no in range(prof["rounds"]):
            for name, services, action in plan:
                print("faults: [%6.1f s] %s" % (time.monotonic() - started, name), flush=True)
                fault = nemesis.Fault(name, services)
                fault.started = time.monotonic()
                try:
                    fault.note = action() or ""
                except RuntimeError as e:
                    fault.note = "FAILED: %s" % e
                    results.append(("fault '%s' injected and ended" % name, [str(e)], ""))
                fault.ended = time.monotonic()
                faults.append(fault)
                time.sleep(prof["gap_s"])

        stop_writes.set()
        for t in writers:
            t.join(WRITERS_FINISH_S)
        give_up.set()
        for t in writers:
            t.join(workload.CLIENT_TIMEOUT_S + 5)
        behind = wait_readers_caught_up(readers, READERS_CATCH_UP_S)
        stop_reads.set()
        for t in readers:
            t.join(workload.CLIENT_TIMEOUT_S + 5)
        crashed = [t.failure for t in readers + writers if t.failure]
        crashed += ["%s still runs" % t.name for t in readers + writers if t.is_alive()]
        results.append(("clients ran to the end", crashed, "%d writers, %d readers" % (
            len(writers), len(readers))))
        results.append(("every SSE reader caught up with the store", behind, ""))

        chats, messages = store_rows()
        results += check.check_store(history.writes, chats, messages)
        results += check.check_versions(history.writes)
        results += check.check_readers(readers, history.writes, chats, messages)
        results += check.check_statuses(history.attempts, faults, workload.CLIENT_TIMEOUT_S)
        results += check.recovery(faults, history.writes, readers, RECOVERY_BOUND_S)
    except Deadline as e:
        results.append(("the run ends within its deadline", [str(e)], ""))
    except Exception as e:  # noqa: BLE001  a broken run is a failure, with its trace
        traceback.print_exc()
        results.append(("the run completes", ["%s: %s" % (type(e).__name__, e)], ""))
    finally:
        signal.alarm(0)
        stop_writes.set()
        give_up.set()
        stop_reads.set()
        pg_proxy.set_mode("pass")
        redis_proxy.set_mode("pass")
        if driver.stack("down", env) != 0:
            results.append(("stack.sh down stops everything", ["stack.sh down failed"], ""))
        pg_proxy.stop()
        redis_proxy.stop()
    if stack_up:
        scan = driver.scan_sanitizer_logs(RUN_DIR, driver.SANITIZER_MARKS["address"])
        results.append(("no sanitizer report in the service logs", scan.notes, ""))

    print_figures(faults, history, readers, profile_name)
    for note in history.notes[:20]:
        print("note: " + note)
    print("\n==== checks ====")
    passed = failed = 0
    for name, failures, detail in results:
        ok = not failures
        passed, failed = passed + ok, failed + (not ok)
        print("%s %s%s" % ("PASS" if ok else "FAIL", name, " (%s)" % detail if detail else ""))
        for line in failures[:check.MAX_SHOWN]:
            print("     " + line)
        if len(failures) > check.MAX_SHOWN:
            print("     ... and %d more" % (len(failures) - check.MAX_SHOWN))
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"profile": profile_name, "seed": args.seed,
                       "faults": [{"name": x.name, "length_s": x.ended - x.started,
                                   "recovery_write_s": x.recovery_write,
                                   "recovery_event_s": x.recovery_event, "note": x.note}
                                  for x in faults],
                       "writes": len(history.writes),
                       "acknowledged": sum(1 for w in history.writes if w.acked),
                       "requests": len(history.attempts),
                       "checks": [{"name": n, "failures": fl} for n, fl, _ in results]},
                      f, indent=1)
    print("run took %.0f s" % (time.monotonic() - started))
    print("faults: %d passed, %d failed" % (passed, failed))
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())

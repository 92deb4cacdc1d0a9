#!/usr/bin/env python3
"""Small steps of tests/bench/run.sh that are easier in Python: parsing the
tools' output into one JSON object each, the users files, the machine.

    tool.py pgbench NAME < pgbench output           -> JSON
    tool.py wrk NAME < wrk output                   -> JSON (wrk_report.lua's line, plus rps)
    tool.py redis NAME < redis-benchmark --csv      -> JSON
    tool.py last-json < any output                  -> its last JSON line (import_bench.sh)
    tool.py copy META T0 T1 T2 T3                   -> JSON of the COPY timings
    tool.py mark-reused FILE                        (sets "reused": true in a JSON file)
    tool.py user-ids META                           -> every bench user id, one per line
    tool.py users META TOKENS VERSIONS USERS LIVE   writes the users files
    tool.py cluster-users TOKENS USERS LIVE         the users files of cluster.sh's seed
    tool.py fixed-rate MAX WRK_JSON...              -> the fixed rate for an endpoint
    tool.py machine REPO QUICK ROUNDS SECONDS FIXED LIVE -> JSON
    tool.py cpu-snap FILE RUN_DIR                   CPU time used so far, per program of the bench
    tool.py cpu-add RESULT BEFORE AFTER TIME_FILE   adds "cpu" (per request) to RESULT
"""
import base64
import csv
import json
import os
import platform
import re
import subprocess
import sys
import time


def out(obj):
    print(json.dumps(obj))


def pgbench(name):
    text = sys.stdin.read()

    def num(pattern):
        m = re.search(pattern, text)
        return float(m.group(1)) if m else None

    out({"name": name, "tps": num(r"tps = ([0-9.]+)"), "clients": int(num(r"number of clients: (\d+)") or 0),
         "latency_avg_ms": num(r"latency average = ([0-9.]+) ms"),
         "transactions": num(r"number of transactions actually processed: (\d+)"),
         "errors": int(num(r"number of failed transactions: (\d+)") or 0)})


def wrk(name):
    lines = [l for l in sys.stdin.read().splitlines() if l.startswith("{")]
    if not lines:
        raise SystemExit("tool.py wrk: no JSON line from wrk (%s)" % name)
    d = json.loads(lines[-1])
    d["name"] = name
    d["rps"] = round(d["requests"] / (d["duration_us"] / 1e6), 1)
    d["bytes_per_request"] = round(d["bytes"] / max(1, d["requests"]))
    d["error_count"] = sum(d["errors"].values())
    out(d)


def redis(name):
    rows = list(csv.reader(sys.stdin.read().splitlines()))
    row = dict(zip(rows[0], rows[-1]))
    out({"name": name, "command": row["test"], "rps": float(row["rps"]),
         "p50_ms": float(row["p50_latency_ms"]), "p99_ms": float(row["p99_latency_ms"])})


def last_json():
    found = {"failed": True, "why": "no JSON line in the output"}
    for line in sys.stdin.read().splitlines():
        line = line.strip()
        if line.startswith("{"):
            try:
                found = json.loads(line)
            except ValueError:
                pass
    out(found)


def copy(meta_path, t0, t1, t2, t3):
    meta = json.load(open(meta_path))
    t0, t1, t2, t3 = map(float, (t0, t1, t2, t3))
    out({"messages": meta["messages"], "chats": meta["chats"],
         "messages_s": round(t2 - t1, 2), "total_s": round(t3 - t0, 2),
         "messages_per_s": round(meta["messages"] / (t2 - t1)),
         "rows_per_s": round((meta["messages"] + meta["chats"]) / (t3 - t0)),
         "avg_content_bytes": meta["avg_content_bytes"], "reused": False})


def mark_reused(path):
    d = json.load(open(path))
    d["reused"] = True
    json.dump(d, open(path, "w"))


def user_ids(meta_path):
    meta = json.load(open(meta_path))
    for u in range(meta["data_users"]):
        print("bench_u%04d" % u)
    for u in range(meta["live_users"]):
        print("bench_l%04d" % u)


def cursor(version):
    """common/cursor.c: base64url of "<version>:", no padding."""
    return base64.urlsafe_b64encode(b"%d:" % version).rstrip(b"=").decode()


def users(meta_path, tokens_path, versions_path, users_path, live_path):
    meta = json.load(open(meta_path))
    tokens = dict(line.rstrip("\n").split("\t") for line in open(tokens_path) if line.strip())
    versions = dict(line.rstrip("\n").split("\t") for line in open(versions_path) if line.strip())
    delta = cursor(meta["data_user_version"] - 20)  # a user's last 20 changes of the seed
    with open(users_path, "w") as f:
        for u in range(meta["data_users"]):
            user = "bench_u%04d" % u
            f.write("\t".join([user, tokens[user], meta["long_chats"][u], meta["append_chats"][u],
                               delta]) + "\n")
    with open(live_path, "w") as f:
        for u in range(meta["live_users"]):
            user = "bench_l%04d" % u
            # from the user's current version: a new stream has nothing to replay
            f.write("\t".join([user, tokens[user], meta["live_chats"][u],
                               cursor(int(versions[user]))]) + "\n")


def cluster_users(tokens_path, users_path, live_path):
    """cluster.sh's seed (its SQL): bench_uNNNN with chats c_bu<u>_0..49 at versions
    1..50, bench_lNNNNN with one chat c_bl<u> at version 1."""
    tokens = [line.rstrip("\n").split("\t") for line in open(tokens_path) if line.strip()]
    with open(users_path, "w") as data, open(live_path, "w") as live:
        for user, token in tokens:
            if user.startswith("bench_u"):
                u = int(user[7:])
                data.write("\t".join([user, token, "c_bu%d_0" % u, "c_bu%d_%d" % (u, 1 + u % 49),
                                      cursor(30)]) + "\n")
            else:
                live.write("\t".join([user, token, "c_bl%d" % int(user[7:]), cursor(1)]) + "\n")


def fixed_rate(most, *wrk_jsons):
    """Half the median closed-loop rate of the rounds, at most `most`."""
    rates = sorted(json.load(open(p))["rps"] for p in wrk_jsons)
    rps = rates[len(rates) // 2]
    print(max(50, min(int(most), int(rps / 2))))


def machine(repo, quick, rounds, seconds, fixed, live):
    def run(*cmd):
        try:
            done = subprocess.run(cmd, capture_output=True, text=True, cwd=repo, timeout=10)
            return (done.stdout.strip() or done.stderr.strip())
        except (OSError, subprocess.SubprocessError):
            return ""

    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = next(int(l.split()[1]) for l in f if l.startswith("MemTotal"))
    dirty = subprocess.run(["git", "status", "--porcelain"], capture_output=True, text=True,
                           cwd=repo).stdout.splitlines()
    out({
        "cpu": model, "nproc": os.cpu_count(), "mem_gib": round(mem / 1048576, 1),
        "kernel": platform.release(), "loadavg": open("/proc/loadavg").read().split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M %Z"),
        "commit": run("git", "rev-parse", "--short", "HEAD"), "dirty_files": len(dirty),
        "nginx": run("nginx", "-v").replace("nginx version: ", ""),
        "postgres": run("psql", "--version").replace("psql (PostgreSQL) ", "PostgreSQL "),
        "redis": run("redis-server", "--version").split(" sha=")[0],
        "wrk": run("dpkg-query", "-W", "-f=${Version}", "wrk"),
        "python": platform.python_version(),
        "quick": quick == "1", "rounds": int(rounds), "seconds_per_load": int(seconds),
        "fixed_seconds": int(fixed), "live_seconds": int(live),
        "sched_policy": os.environ.get("SCHED_POLICY", ""),
    })


# Programs whose CPU time the bench accounts for; everything else busy on the
# machine during a load is "other" (other people's work, their stacks: noise).
CPU_GROUPS = ("postgres", "nginx", "chats-svc", "messages-svc", "sync-svc", "fcgi_hello",
              "redis-server")


def read_pid(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def cpu_snap(path, run_dir):
    """Ticks per program of this bench only (the machine runs other stacks
    with the same programs), found from the run folder's pid files and their
    descendants. Children reaped by a postmaster count for postgres: pgbench's
    backends exit before the second snapshot. Also /proc/stat's totals."""
    roots = {
        "postgres": [read_pid(os.path.join(run_dir, "pg", "data", "postmaster.pid"))],
        "nginx": [read_pid(os.path.join(run_dir, "pid", "nginx.pid")),
                  read_pid(os.path.join(run_dir, "limits", "nginx.pid"))],
        "redis-server": [read_pid(os.path.join(run_dir, "pid", "redis.pid"))],
        "fcgi_hello": [read_pid(os.path.join(run_dir, "limits", "hello.pid"))],
    }
    for service in ("chats", "messages", "sync"):
        roots[service + "-svc"] = [read_pid(os.path.join(run_dir, "pid", service + ".pid"))]
    owner = {pid: g for g, pids in roots.items() for pid in pids if pid}
    procs = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % pid) as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rindex(")") + 2:].split()
        procs[int(pid)] = (int(fields[1]), int(fields[11]) + int(fields[12]),
                           int(fields[13]) + int(fields[14]))
    groups = dict.fromkeys(CPU_GROUPS, 0)
    for pid, (ppid, ticks, reaped) in procs.items():
        group, p = owner.get(pid), ppid
        while group is None and p > 1 and p in procs:
            group, p = owner.get(p), procs[p][0]
        if group is None:
            continue
        groups[group] += ticks + (reaped if group == "postgres" else 0)
    with open("/proc/stat") as f:
        cpu = [int(x) for x in f.readline().split()[1:]]
    idle = cpu[3] + cpu[4]
    with open(path, "w") as f:
        json.dump({"groups": groups, "busy": sum(cpu[:8]) - idle, "idle": idle,
                   "time": time.monotonic()}, f)


def cpu_add(result_path, before_path, after_path, time_path):
    """CPU microseconds per request (or transaction) of each program, the
    client's from GNU time's "%U %S", and of everything else busy."""
    tick = os.sysconf("SC_CLK_TCK")
    a, b = json.load(open(before_path)), json.load(open(after_path))
    result = json.load(open(result_path))
    n = result.get("requests") or result.get("transactions") or 0
    try:
        user, system = open(time_path).read().split()[-2:]
        client = float(user) + float(system)
    except (OSError, ValueError):
        client = 0.0
    seconds = {g: (b["groups"][g] - a["groups"][g]) / tick for g in CPU_GROUPS}
    seconds = {g: v for g, v in seconds.items() if v > 0}
    seconds["client"] = client
    busy = (b["busy"] - a["busy"]) / tick
    seconds["other"] = max(0.0, busy - sum(seconds.values()))
    wall = b["time"] - a["time"]
    result["cpu"] = {
        "wall_s": round(wall, 2),
        "cores_busy": round(busy / wall, 2) if wall > 0 else None,
        "us_per_request": {g: round(v * 1e6 / n, 1) for g, v in seconds.items()} if n else {},
        "cores": {g: round(v / wall, 2) for g, v in seconds.items()} if wall > 0 else {},
    }
    with open(result_path, "w") as f:
        json.dump(result, f)


COMMANDS = {
    "pgbench": pgbench, "wrk": wrk, "redis": redis, "last-json": last_json, "copy": copy,
    "mark-reused": mark_reused, "user-ids": user_ids, "users": users,
    "cluster-users": cluster_users, "fixed-rate": fixed_rate,
    "machine": machine, "cpu-snap": cpu_snap, "cpu-add": cpu_add,
}

if __name__ == "__main__":
    if len(sys.argv) < 2 or sys.argv[1] not in COMMANDS:
        raise SystemExit(__doc__)
    COMMANDS[sys.argv[1]](*sys.argv[2:])

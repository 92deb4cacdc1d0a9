#!/usr/bin/env python3
"""What a service's CPU went to, from a perf recording with call graphs.

    profile_share.py PERF_DATA PID

Reads `perf script` for the samples of PID and gives each sample to the first
part of the request path found walking its call chain from the leaf up (the
markers below), so that a futex inside the pool's wait counts as the pool, a
libpq accessor inside the JSON builder as the JSON, and a send inside the
answer's write as the answer. Prints one JSON object: the shares of all samples
that were in the kernel and that had a thread switch in their chain, each
part's share, and the top functions (the first outside the kernel) of what no
marker claimed. run.sh calls it under BENCH_PROFILE; report.py renders the table
in docs/BENCHMARKS.md.
"""
import collections
import json
import subprocess
import sys

# (part, function-name prefixes): the first frame from the leaf up that starts
# with one of them decides. Only the functions that own a part are markers, not
# the helpers they share: libpq's accessors serve the JSON builder as well as
# the round trip, cs_buf_json_string the request log, cs_json_* the token and
# the request body, so a helper's samples go to whichever owner called it.
# Names are common/'s, services/'s, libfcgi's, glibc's and the kernel's.
PARTS = [
    # loopback TCP packets handled on its time (__do_softirq before Linux 6.10)
    ("softirq", ("handle_softirqs", "__do_softirq")),
    # the semaphores are the pool's alone (common/db.c, db_read.c); a post is
    # often a tail call, its caller's frame gone from the chain. cs_db_read's own
    # turn at the pool's lock (take_reads, when not inlined) is the pool's too.
    ("pool", ("cs_db__take_or_wait", "cs_db_release", "cs_db_acquire", "take_reads",
              "__new_sem_post", "sem_post")),
    ("postgres", ("cs_db_",)),
    ("token", ("cs_auth_verify",)),
    ("json", ("put_object", "cs_document_", "append_change")),
    ("answer", ("cs_http_respond", "cs_http_error", "cs_http_stream", "write_records", "FCGX_PutStr",
                "FCGX_FFlush")),
    ("log", ("cs_request_log_", "cs_log_request_line", "writer")),
    ("wakeup", ("cs_wakeup_", "publisher", "cs_events_publish")),
    ("hub", ("read_wakeups", "watch_connections", "cs_events_read", "cs_events_tail")),
    ("next_request", ("FCGX_Accept_r",)),
    ("close", ("FCGX_Free", "FCGX_Finish_r")),
    ("body", ("cs_http_body_object",)),
]
LABELS = {
    "softirq": "loopback TCP packets handled in its time (softirq)",
    "pool": "waiting for a pooled connection, or handing one (or a carried read's answer) on",
    "postgres": "the Postgres round trip (libpq, send, poll, receive)",
    "token": "checking the token (`cs_auth_verify`)",
    "json": "building the JSON answer",
    "answer": "writing the answer (`cs_http_respond*`)",
    "log": "the request log line and its writer thread",
    "wakeup": "the wake-up publisher thread",
    "hub": "sync's Redis reader and connection watcher threads",
    "next_request": "waiting for and reading the next request (`FCGX_Accept_r`)",
    "close": "ending the request (`FCGX_Finish_r`, `FCGX_Free`)",
    "body": "reading the request body",
    "other": "the rest",
}


def frames_of(text):
    """perf script's blocks -> lists of (symbol, dso), leaf first."""
    for block in text.split("\n\n"):
        frames = []
        for line in block.splitlines():
            # a binary replaced since it started: "name (/path (deleted))"
            parts = line.strip().replace(" (deleted))", ")").split(None, 1)
            if len(parts) < 2:
                continue
            sym, _, dso = parts[1].rpartition(" (")
            frames.append((sym or parts[1], dso.rstrip(")")))
        if frames:
            yield frames


def in_kernel(dso):
    """[kernel.kallsyms] or a module's [name]; not perf's own [unknown], [vdso]."""
    return dso.startswith("[") and dso not in ("[unknown]", "[vdso]", "[vsyscall]")


def first_outside_kernel(frames):
    """The function that was running, or made the system call that was."""
    return next((sym for sym, dso in frames if not in_kernel(dso)), frames[0][0])


def part_of(frames):
    for sym, _ in frames:
        for part, prefixes in PARTS:
            if sym.startswith(prefixes):
                return part
    return "other"


def main():
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    data, pid = sys.argv[1:]
    text = subprocess.run(["perf", "script", "-i", data, "--pid", pid, "-F", "ip,sym,dso"],
                          capture_output=True, text=True, check=True).stdout
    parts, rest = collections.Counter(), collections.Counter()
    total = kernel = switching = 0
    for frames in frames_of(text):
        total += 1
        if in_kernel(frames[0][1]):
            kernel += 1
            switching += any(sym.startswith("finish_task_switch") for sym, _ in frames)
        part = part_of(frames)
        parts[part] += 1
        if part == "other":
            rest[first_outside_kernel(frames)] += 1
    if total == 0:
        raise SystemExit("profile_share.py: no samples of pid %s in %s" % (pid, data))

    def share(n):
        return round(100.0 * n / total, 1)
    print(json.dumps({
        "samples": total, "kernel": share(kernel), "switching": share(switching),
        "parts": {p: share(n) for p, n in parts.most_common()},
        "labels": LABELS,
        "rest_top": [[sym, share(n)] for sym, n in rest.most_common(6)],
    }))


if __name__ == "__main__":
    main()

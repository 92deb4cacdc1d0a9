#!/usr/bin/env python3
"""Runs the libFuzzer targets of build/fuzz (make fuzz; make test's fuzz suite).

Each target build/fuzz/fuzz_<name> runs for --seconds (libFuzzer's
-max_total_time) on a fresh copy of its seed corpus tests/fuzz/corpus/fuzz_<name>/
in build/fuzz/run/fuzz_<name>/, so that a run never writes into the repository;
with tests/fuzz/fuzz_<name>.dict as its dictionary and the libFuzzer flags of
tests/fuzz/fuzz_<name>.options (one a line, # comments) when those exist.
--jobs targets run at once. A target fails when it exits non-zero or leaves a
crash, leak, timeout or out-of-memory input in build/fuzz/run/fuzz_<name>/artifacts/:
the report names the input, which becomes a unit test in tests/unit/.

    python3 tests/fuzz/run.py [--bin build/fuzz] [--seconds 60] [--jobs 2] [-k PATTERN]...

Prints a line per target (runs, exec/s, new corpus units) and, as its last line,
"N passed, M failed"; exit status 1 when a target failed or none ran.
"""
import argparse
import concurrent.futures
import glob
import os
import re
import shutil
import subprocess
import sys

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
FUZZ_DIR = os.path.join(REPO, "tests", "fuzz")
# Startup (loading the corpus), the final statistics and a slow last input fit in this.
GRACE_S = 120
STAT = re.compile(r"^stat::(\w+):\s+(\d+)", re.M)


def targets(bin_dir, patterns=()):
    found = sorted(p for p in glob.glob(os.path.join(bin_dir, "fuzz_*"))
                   if os.path.isfile(p) and os.access(p, os.X_OK))
    return [p for p in found if not patterns or any(k in os.path.basename(p) for k in patterns)]


def options(name):
    path = os.path.join(FUZZ_DIR, name + ".options")
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.strip() for line in f if line.strip() and not line.startswith("#")]


def run_target(path, seconds):
    """Runs one target; a dict with its name, ok, statistics and a note."""
    name = os.path.basename(path)
    work = os.path.join(os.path.dirname(path), "run", name)
    corpus, artifacts = os.path.join(work, "corpus"), os.path.join(work, "artifacts")
    shutil.rmtree(work, ignore_errors=True)
    seeds = os.path.join(FUZZ_DIR, "corpus", name)
    if os.path.isdir(seeds):
        shutil.copytree(seeds, corpus)
    else:
        os.makedirs(corpus)
    os.makedirs(artifacts)
    cmd = [path, "-max_total_time=%d" % seconds, "-print_final_stats=1", "-timeout=10",
           "-rss_limit_mb=2048", "-artifact_prefix=" + artifacts + "/"]
    dictionary = os.path.join(FUZZ_DIR, name + ".dict")
    if os.path.exists(dictionary):
        cmd.append("-dict=" + dictionary)
    cmd += options(name) + [corpus]
    log_path = os.path.join(work, "log")
    result = {"name": name, "log": log_path, "stats": {}, "note": ""}
    with open(log_path, "w") as log:
        try:
            code = subprocess.run(cmd, cwd=work, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, timeout=seconds + GRACE_S).returncode
        except subprocess.TimeoutExpired:
            code, result["note"] = None, "did not stop within %d s" % (seconds + GRACE_S)
    with open(log_path, errors="replace") as f:
        output = f.read()
    result["stats"] = {k: int(v) for k, v in STAT.findall(output)}
    found = sorted(os.listdir(artifacts))
    result["ok"] = code == 0 and not found
    if found:
        result["note"] = "found " + ", ".join(os.path.join(artifacts, a) for a in found)
    elif code not in (0, None):
        result["note"] = "exit %s" % code
    if not result["ok"]:
        lines = output.splitlines()
        first = next((i for i, l in enumerate(lines)
                      if "ERROR:" in l or "broken promise" in l or "runtime error" in l),
                     max(0, len(lines) - 40))
        result["excerpt"] = "\n".join(lines[max(0, first - 3):first + 50])
    return result


def run_all(bin_dir, seconds, jobs=2, patterns=()):
    """Runs every target, --jobs at once, printing a line each; the results."""
    paths = targets(bin_dir, patterns)
    print("fuzzing %d targets in %s, %d s each, %d at a time" % (len(paths), bin_dir, seconds, jobs),
          flush=True)
    results = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        for r in pool.map(lambda p: run_target(p, seconds), paths):
            s = r["stats"]
            print("%-24s %-4s %10d runs %8d exec/s %5d new units %s" % (
                r["name"], "ok" if r["ok"] else "FAIL", s.get("number_of_executed_units", 0),
                s.get("average_exec_per_sec", 0), s.get("new_units_added", 0), r["note"]),
                flush=True)
            if not r["ok"]:
                print("---- %s ----\n%s\n----" % (r["log"], r.get("excerpt", "")), flush=True)
            results.append(r)
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(REPO, "build", "fuzz"))
    parser.add_argument("--seconds", type=int, default=60)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("-k", dest="patterns", action="append", default=[])
    args = parser.parse_args()
    results = run_all(os.path.abspath(args.bin), args.seconds, args.jobs, args.patterns)
    passed = sum(1 for r in results if r["ok"])
    failed = len(results) - passed
    print("%d passed, %d failed" % (passed, failed), flush=True)
    sys.exit(1 if failed or not results else 0)


if __name__ == "__main__":
    main()

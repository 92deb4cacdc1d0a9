#!/usr/bin/env python3
"""`make test-cluster`: the cluster stack (deploy/stack.sh cluster: 2 service
nodes on 127.0.0.2 and 127.0.0.3, a Redis Cluster of 3 masters + 3 replicas, a
Postgres streaming replica, one nginx) started privately from the sanitizer
binaries in <repo>/.run/cluster-test, tests/cluster/test_*.py run against it
(unittest), the stack stopped whatever happened, and each service log with a
sanitizer report counted as a failure. Last line: "N passed, M failed".

    python3 tests/cluster/run.py [--bin DIR] [-k PATTERN]...

Ports: TEST_PORT_BASE (default 25000) + 632 Postgres, +633 its replica,
+650..655 Redis (cluster bus +750..755), +680 HTTP, +643 HTTPS, +690..693 the
services on each node's address: none of the integration stack's or the faults
test's, so that the suites may run side by side. Standard library only.
"""
import argparse
import glob
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(REPO, "tests", "integration"))
STACK_SCRIPT = os.path.join(REPO, "deploy", "stack.sh")
RUN_DIR = os.path.join(REPO, ".run", "cluster-test")
PORT_BASE = int(os.environ.get("TEST_PORT_BASE", "25000"))

# tests/run.py, the make test driver: its sanitizer settings and marks are these too
_spec = importlib.util.spec_from_file_location("test_driver", os.path.join(REPO, "tests", "run.py"))
test_driver = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(test_driver)
STACK_ENV = {
    "CHATSYNC_RUN_DIR": RUN_DIR,
    "PG_PORT": str(PORT_BASE + 632),
    "PG_REPLICA_PORT": str(PORT_BASE + 633),
    "REDIS_PORT": str(PORT_BASE + 650),
    "HTTP_PORT": str(PORT_BASE + 680),
    "HTTPS_PORT": str(PORT_BASE + 643),
    "SERVICE_PORT_BASE": str(PORT_BASE + 690),
    "CLUSTER_NODES": "2",
    # while Redis is away, live requests re-check Postgres this often (the bridge)
    "SYNC_LIVE_RECHECK_MS": "1000",
    "SYNC_REPLICA_WAIT_MS": "200",
}
for _name in ("REDIS_CONNECT_TIMEOUT_MS", "REDIS_COMMAND_TIMEOUT_MS", "REDIS_RETRY_MS",
              "ASAN_OPTIONS", "UBSAN_OPTIONS"):
    STACK_ENV[_name] = test_driver.STACK_ENV[_name]
UNSET = test_driver.UNSET_FOR_STACK + ("CHATSYNC_LISTEN", "REDIS_CLUSTER_NODES",
                                       "DATABASE_REPLICA_URL")
SANITIZER_MARKS = test_driver.SANITIZER_MARKS["address"]


def stack(cmd, timeout=300):
    print("$ deploy/stack.sh cluster %s" % cmd, flush=True)
    try:
        return subprocess.run(["bash", STACK_SCRIPT, "cluster", cmd], timeout=timeout,
                              env=os.environ.copy()).returncode
    except subprocess.TimeoutExpired:
        print("deploy/stack.sh cluster %s: timed out after %d s" % (cmd, timeout), flush=True)
        return 1


def export_coordinates():
    out = subprocess.run(["bash", STACK_SCRIPT, "cluster", "env"], check=True,
                         capture_output=True, text=True, timeout=60).stdout
    for line in out.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            os.environ[name] = shlex.split(value)[0] if value else ""


def sanitizer_reports():
    bad = []
    for path in sorted(glob.glob(os.path.join(RUN_DIR, "log", "*.log"))):
        with open(path, errors="replace") as f:
            text = f.read()
        if any(mark in text for mark in SANITIZER_MARKS):
            bad.append(path)
    return bad


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bin", default=os.path.join(REPO, "bin"))
    parser.add_argument("-k", action="append", default=[], dest="patterns")
    args = parser.parse_args()
    for name in UNSET:
        os.environ.pop(name, None)
    os.environ.update(STACK_ENV)
    os.environ["CHATSYNC_BIN_DIR"] = os.path.abspath(args.bin)
    loader = unittest.TestLoader()
    if args.patterns:
        loader.testNamePatterns = ["*%s*" % p for p in args.patterns]
    sys.path.insert(0, HERE)
    suite = loader.discover(HERE, pattern="test_*.py", top_level_dir=HERE)
    passed = failed = 0
    if stack("down") != 0:
        print("cluster: a previous cluster stack could not be stopped", flush=True)
        return 1
    # a fresh cluster each run: no Redis nodes.conf, data or logs of an earlier one
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    try:
        if stack("up") != 0:
            print("cluster: stack.sh cluster up failed: tests not run", flush=True)
            failed += 1
        else:
            export_coordinates()
            result = unittest.TextTestRunner(verbosity=2).run(suite)
            failed += len(result.failures) + len(result.errors)
            passed += result.testsRun - len(result.failures) - len(result.errors) - len(
                result.skipped)
    finally:
        if stack("down") != 0:
            failed += 1
    reports = sanitizer_reports()
    for path in reports:
        print("sanitizer report in %s" % path, flush=True)
    failed += len(reports)
    print("cluster: %d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed or not passed else 0


if __name__ == "__main__":
    sys.exit(main())

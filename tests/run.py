#!/usr/bin/env python3
"""The `make test` driver (Python 3 standard library only).

1. runs every cmocka unit test binary build/asan/tests/test_*, then the browser
   library's unit tests (`node --test` in clients/js/, fake-indexeddb and a fake
   server, no stack), counted in the suite "js";
2. starts one private stack (deploy/stack.sh up) from the sanitizer binaries,
   in <repo>/.run/test on ports of its own, so that it runs beside a
   developer's stack;
3. runs every tests/integration/test_*.py against it (unittest), then the
   end-to-end tests of tests/e2e/ (`node --test`: the demo page in Debian's
   headless Chromium through playwright-core; screenshots in .run/test/e2e/),
   each counted in the suite "e2e" (first pass only, not again under TSan);
4. stops the stack, whatever happened;
5. counts each service log with a sanitizer report as a failure;
6. runs the faults test in its short form (tests/faults/faults.py --short: its own
   private stack, kill -9 and broken links under load, then a history check), each
   of its checks counted in the suite "faults";
7. with --fuzz DIR, runs each libFuzzer target of DIR for --fuzz-seconds
   (tests/fuzz/run.py), a target that crashes being a failure;
8. with --tsan-build DIR, does 1-5 again with DIR/tests and DIR/bin, a
   ThreadSanitizer build (make tsan alone is --sanitizer thread);
9. prints the results per suite and, as its last line, "N passed, M failed".

Exit status 1 when anything failed or nothing ran. --unit-only does step 1 alone
(`make unit`): no stack, no faults test.

    python3 tests/run.py [--bin DIR] [--unit DIR] [--sanitizer address|thread]
                         [--fuzz DIR [--fuzz-seconds S]] [--tsan-build DIR] [-k PATTERN]...
    python3 tests/run.py --unit-only [--unit DIR] [-k PATTERN]...

-k selects unit binaries, integration tests and fuzz targets whose name contains
PATTERN (unittest's -k rules); the stack starts only when an integration test is
selected or the e2e suite is; the js, e2e and faults suites run when no -k is given
or one is a part of "js" / "e2e" / "faults". Both node suites need `npm ci` in their
folder (deploy/install-deps.sh does it when node_modules is missing or stale).
"""
import argparse
import glob
import os
import re
import shlex
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "fuzz"))
import run as fuzz_runner  # noqa: E402  tests/fuzz/run.py

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
STACK_SCRIPT = os.path.join(REPO, "deploy", "stack.sh")
INTEGRATION_DIR = os.path.join(REPO, "tests", "integration")
RUN_DIR = os.path.join(REPO, ".run", "test")

# Below Linux's ephemeral range (32768-60999), so that an outgoing connection's
# local port can never hold one of them at start. TEST_PORT_BASE moves all four,
# so that two checkouts can run their suites side by side.
PORT_BASE = int(os.environ.get("TEST_PORT_BASE", "25000"))
STACK_ENV = {
    "CHATSYNC_RUN_DIR": RUN_DIR,
    "PG_PORT": str(PORT_BASE + 432),
    "REDIS_PORT": str(PORT_BASE + 379),
    "HTTP_PORT": str(PORT_BASE + 80),
    "HTTPS_PORT": str(PORT_BASE + 443),
    # The smallest stacks the config allows, so that the suites prove them
    # sufficient (tests/integration/test_hostile.py drives the deepest input).
    "CHATSYNC_THREAD_STACK_KB": "64",
    "SYNC_THREAD_STACK_KB": "64",
    # Short dependency timeouts (docs/decisions/timeouts.md), so that the
    # fault tests of test_dependencies.py stay fast; the bounds they assert
    # are computed from these.
    "DB_STATEMENT_TIMEOUT_MS": "3000",
    "DB_LOCK_TIMEOUT_MS": "1000",
    "DB_CONNECT_TIMEOUT_S": "2",
    "DB_ACQUIRE_TIMEOUT_MS": "3000",
    "REDIS_CONNECT_TIMEOUT_MS": "300",
    "REDIS_COMMAND_TIMEOUT_MS": "300",
    "REDIS_RETRY_MS": "500",
    # test_streaming.py waits for an abandoned stream to be ended
    "STREAM_IDLE_TIMEOUT_MS": "3000",
    "ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:halt_on_error=1",
    "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1",
    # A race is reported and the service goes on, so that one run shows them all.
    "TSAN_OPTIONS": "halt_on_error=0:second_deadlock_stack=1",
}
# The test stack always uses its own development issuer, key and stores.
UNSET_FOR_STACK = ("CLERK_JWT_ISSUER_DOMAIN", "CLERK_AUTHORIZED_PARTIES", "JWT_AUDIENCE",
                   "JWKS_FILE", "JWKS_URL", "DEV_KEY_FILE", "IMPORT_TOKEN", "DATABASE_URL",
                   "REDIS_URL", "CHATSYNC_HTTP", "CHATSYNC_SOCKET")
SANITIZER_MARKS = {
    "address": ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"),
    "thread": ("WARNING: ThreadSanitizer", "ERROR: ThreadSanitizer"),
}
UNIT_TIMEOUT_S = 300
FAULTS_SCRIPT = os.path.join(REPO, "tests", "faults", "faults.py")
FAULTS_TIMEOUT_S = 600  # faults.py keeps its own, shorter deadline; this is the backstop
FAULTS_RESULT = re.compile(r"^faults: (\d+) passed, (\d+) failed$")
STACK_TIMEOUT_S = 600
E2E_DIR = os.path.join(REPO, "tests", "e2e")
JS_DIR = os.path.join(REPO, "clients", "js")
JS_TIMEOUT_S = 300
E2E_TIMEOUT_S = 300
TAP_COUNT = re.compile(r"^# (pass|fail|cancelled|skipped|todo) (\d+)$")


class Suite:
    def __init__(self, name):
        self.name, self.passed, self.failed, self.skipped, self.notes = name, 0, 0, 0, []


def banner(text):
    print("\n==== %s ====" % text, flush=True)


def selected(name, patterns):
    return not patterns or any(p in name for p in patterns)


# ---- 1. unit tests ----

CMOCKA_PASSED = re.compile(r"^\[  PASSED  \] (\d+) test", re.M)
CMOCKA_FAILED = re.compile(r"^\[  FAILED  \] (\d+) test", re.M)


def run_unit(unit_dir, patterns, label=""):
    suite = Suite("unit" + label)
    binaries = sorted(p for p in glob.glob(os.path.join(unit_dir, "test_*"))
                      if os.path.isfile(p) and os.access(p, os.X_OK))
    binaries = [p for p in binaries if selected(os.path.basename(p), patterns)]
    banner("unit tests: %d binaries in %s" % (len(binaries), unit_dir))
    env = dict(os.environ, CMOCKA_MESSAGE_OUTPUT="stdout", **{
        k: v for k, v in STACK_ENV.items() if k.endswith("SAN_OPTIONS")})
    for path in binaries:
        name = os.path.basename(path)
        try:
            done = subprocess.run([path], cwd=REPO, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True, errors="replace",
                                  timeout=UNIT_TIMEOUT_S)
            output, code = done.stdout, done.returncode
        except subprocess.TimeoutExpired as e:
            output, code = (e.stdout or "") if isinstance(e.stdout, str) else "", None
            output += "\n(timed out after %d s)" % UNIT_TIMEOUT_S
        passed = sum(int(n) for n in CMOCKA_PASSED.findall(output))
        failed = sum(int(n) for n in CMOCKA_FAILED.findall(output))
        if code != 0 and failed == 0:
            failed = 1  # a crash, a sanitizer report at exit, or a timeout
            suite.notes.append("%s: exit %s with no failed test counted" % (name, code))
        if passed + failed == 0:
            failed = 1
            suite.notes.append("%s: ran no test" % name)
        suite.passed += passed
        suite.failed += failed
        if failed:
            print(output.rstrip())
        print("%-28s %d passed, %d failed" % (name, passed, failed), flush=True)
    return suite


def run_streaming(name, cmd, timeout, suite, on_line, env=None, cwd=REPO):
    """Runs cmd in the repo, its output shown as it comes and each line given to
    on_line; returns its exit status (None when it could not run), a timeout or a
    failure to start noted in suite."""
    try:
        with subprocess.Popen(cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                              errors="replace") as proc:
            try:
                for line in proc.stdout:
                    print(line, end="")
                    on_line(line)
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                suite.notes.append("%s timed out after %d s" % (name, timeout))
        return proc.returncode
    except OSError as e:
        suite.notes.append("could not run %s: %s" % (name, e))
        return None


# ---- 2-4. the stack and the integration tests ----

def stack_env(bin_dir):
    env = {k: v for k, v in os.environ.items() if k not in UNSET_FOR_STACK}
    env.update(STACK_ENV)
    env["CHATSYNC_BIN_DIR"] = bin_dir
    return env


def stack(cmd, env, timeout=STACK_TIMEOUT_S):
    """Runs stack.sh CMD, its output shown as it comes; the exit status."""
    print("$ deploy/stack.sh %s" % cmd, flush=True)
    try:
        return subprocess.run(["bash", STACK_SCRIPT, cmd], env=env, timeout=timeout,
                              stdin=subprocess.DEVNULL, stderr=subprocess.STDOUT).returncode
    except subprocess.TimeoutExpired:
        print("deploy/stack.sh %s: timed out after %d s" % (cmd, timeout), flush=True)
        return 124


def export_coordinates(env):
    """Puts the stack's coordinates (stack.sh env) and its settings into os.environ,
    where the integration tests (lib.py) find them."""
    out = subprocess.run(["bash", STACK_SCRIPT, "env"], env=env, check=True,
                         capture_output=True, text=True).stdout
    for name in UNSET_FOR_STACK:
        os.environ.pop(name, None)
    os.environ.update({k: v for k, v in env.items() if k in STACK_ENV or k == "CHATSYNC_BIN_DIR"})
    for line in out.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            os.environ[name] = shlex.split(value)[0] if value else ""


def load_integration(patterns):
    """Every test of tests/integration/test_*.py; with patterns, those whose
    dotted name (test_stack.HealthTest.test_healthz_is_200) contains one."""
    loader = unittest.TestLoader()
    if patterns:
        loader.testNamePatterns = ["*%s*" % p for p in patterns]
    if INTEGRATION_DIR not in sys.path:
        sys.path.insert(0, INTEGRATION_DIR)
    suite = unittest.TestSuite()
    for path in sorted(glob.glob(os.path.join(INTEGRATION_DIR, "test_*.py"))):
        suite.addTests(loader.loadTestsFromName(os.path.splitext(os.path.basename(path))[0]))
    return suite


def run_integration(tests, label=""):
    suite = Suite("integration" + label)
    banner("integration tests: %d" % tests.countTestCases())
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2).run(tests)
    suite.failed = len(result.failures) + len(result.errors) + len(result.unexpectedSuccesses)
    suite.skipped = len(result.skipped)
    suite.passed = result.testsRun - suite.failed - suite.skipped - len(result.expectedFailures)
    return suite


def run_node_tests(suite, cmd, cwd, timeout, env=None):
    """node --test with the TAP reporter; its summary gives the counts."""
    counts = {}

    def count(line):
        match = TAP_COUNT.match(line.strip())
        if match:
            counts[match.group(1)] = int(match.group(2))

    code = run_streaming("node --test", cmd, timeout, suite, count, env=env, cwd=cwd)
    suite.passed = counts.get("pass", 0)
    suite.failed = counts.get("fail", 0) + counts.get("cancelled", 0)
    suite.skipped = counts.get("skipped", 0) + counts.get("todo", 0)
    if code != 0 and suite.failed == 0:
        suite.failed = 1
        suite.notes.append("node --test exited with %s and counted no failure" % code)
    if suite.passed + suite.failed + suite.skipped == 0:
        suite.failed, suite.notes = 1, suite.notes + ["node --test ran no test"]
    return suite


def run_js():
    """The browser library's unit tests: node --test in clients/js/ (no stack)."""
    suite = Suite("js")
    banner("browser library unit tests: node --test in clients/js/")
    if not os.path.isdir(os.path.join(JS_DIR, "node_modules", "fake-indexeddb")):
        suite.failed, suite.notes = 1, ["clients/js/node_modules is missing: run deploy/install-deps.sh"]
        return suite
    tests = sorted(glob.glob(os.path.join(JS_DIR, "test", "*.test.js")))
    return run_node_tests(suite, ["node", "--test", "--test-timeout=60000", "--test-reporter=tap"] + tests, JS_DIR,
                          JS_TIMEOUT_S)


def run_e2e():
    """node --test tests/e2e/ against the stack whose coordinates are in
    os.environ; its TAP summary gives the counts."""
    suite = Suite("e2e")
    banner("end-to-end tests: node --test tests/e2e/ (headless Chromium)")
    for need in (os.path.join(E2E_DIR, "node_modules", "playwright-core"),
                 os.path.join(JS_DIR, "node_modules", "idb")):  # the page's import map
        if not os.path.isdir(need):
            suite.failed = 1
            suite.notes = ["%s is missing: run deploy/install-deps.sh" % os.path.relpath(need, REPO)]
            return suite
    env = dict(os.environ, E2E_ARTIFACTS_DIR=os.path.join(RUN_DIR, "e2e"))
    run_node_tests(suite, ["node", "--test", "--test-concurrency=1", "--test-timeout=120000", "--test-reporter=tap",
                           E2E_DIR], REPO, E2E_TIMEOUT_S, env=env)
    print("screenshots: %s" % env["E2E_ARTIFACTS_DIR"])
    return suite


def scan_sanitizer_logs(run_dir, marks, label=""):
    suite = Suite("sanitizers" + label)
    banner("sanitizer reports in %s/log" % run_dir)
    clean = 0  # a clean log is no test: only a report counts (as a failure)
    for path in sorted(glob.glob(os.path.join(run_dir, "log", "*.log"))):
        with open(path, errors="replace") as f:
            lines = f.read().splitlines()
        hits = [i for i, line in enumerate(lines) if any(m in line for m in marks)]
        if not hits:
            clean += 1
            continue
        suite.failed += 1
        suite.notes.append("%s: %d sanitizer report(s)" % (os.path.basename(path), len(hits)))
        first = hits[0]
        print("---- %s, line %d ----" % (path, first + 1))
        print("\n".join(lines[max(0, first - 2):first + 40]))
        print("----", flush=True)
    print("%d log files clean, %d with reports" % (clean, suite.failed))
    return suite


def run_stack_tests(bin_dir, tests, marks, label="", e2e=False):
    """Steps 2-5; returns the suites."""
    suites = []
    env = stack_env(bin_dir)
    banner("private stack in %s" % RUN_DIR)
    # A stack left by an interrupted run goes first: the test starts from nothing.
    if stack("down", env) != 0:
        setup = Suite("stack")
        setup.failed, setup.notes = 1, ["stack.sh down failed: a previous test stack still runs"]
        return [setup]
    shutil.rmtree(RUN_DIR, ignore_errors=True)
    try:
        if stack("up", env) != 0:
            setup = Suite("stack")
            setup.failed, setup.notes = 1, ["stack.sh up failed: integration tests not run"]
            suites.append(setup)
        else:
            export_coordinates(env)
            if tests.countTestCases():
                suites.append(run_integration(tests, label))
            if e2e:
                suites.append(run_e2e())
    finally:
        banner("stopping the private stack")
        if stack("down", env) != 0:
            teardown = Suite("stack")
            teardown.failed, teardown.notes = 1, ["stack.sh down failed: processes may be left"]
            suites.append(teardown)
    suites.append(scan_sanitizer_logs(RUN_DIR, marks, label))
    return suites


# ---- 6. fuzzing ----

def run_fuzz(fuzz_dir, seconds, jobs, patterns):
    suite = Suite("fuzz")
    banner("fuzz targets in %s" % fuzz_dir)
    for r in fuzz_runner.run_all(fuzz_dir, seconds, jobs, patterns):
        if r["ok"]:
            suite.passed += 1
        else:
            suite.failed += 1
            suite.notes.append("%s: %s" % (r["name"], r["note"] or "failed"))
    if suite.passed + suite.failed == 0 and not patterns:
        suite.failed, suite.notes = 1, ["no fuzz target in %s" % fuzz_dir]
    return suite


def run_pass(bin_dir, unit_dir, patterns, sanitizer, label="", e2e=False):
    """Steps 1-5 against one build; returns the suites."""
    suites = [run_unit(unit_dir, patterns, label)]
    try:
        tests = load_integration(patterns)
    except Exception as e:  # an integration file that does not even import
        broken = Suite("integration" + label)
        broken.failed, broken.notes = 1, ["could not load the integration tests: %r" % (e,)]
        return suites + [broken]
    if tests.countTestCases() or e2e:
        suites += run_stack_tests(bin_dir, tests, SANITIZER_MARKS[sanitizer], label, e2e)
    return suites


# ---- 6. the faults test ----

def run_faults(bin_dir):
    """tests/faults/faults.py --short, its output shown as it comes; its last line
    gives the counts."""
    suite = Suite("faults")
    banner("faults under load: tests/faults/faults.py --short")
    counts = None

    def count(line):
        nonlocal counts
        match = FAULTS_RESULT.match(line.strip())
        if match:
            counts = (int(match.group(1)), int(match.group(2)))

    code = run_streaming("faults.py", [sys.executable, FAULTS_SCRIPT, "--short", "--bin",
                                       bin_dir], FAULTS_TIMEOUT_S, suite, count)
    if counts:
        suite.passed, suite.failed = counts
    if code != 0 and suite.failed == 0:
        suite.failed = 1
        suite.notes.append("faults.py exited with %s and counted no failure" % code)
    return suite


# ---- 7. the report ----

def report(suites):
    banner("results")
    for suite in suites:
        print("%-18s %4d passed %4d failed %4d skipped" % (suite.name, suite.passed, suite.failed,
                                                           suite.skipped))
        for note in suite.notes:
            print("    " + note)
    passed = sum(s.passed for s in suites)
    failed = sum(s.failed for s in suites)
    print("%d passed, %d failed" % (passed, failed), flush=True)
    return 1 if failed or passed == 0 else 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bin", default=os.path.join(REPO, "build", "asan", "bin"),
                        help="service and CLI binaries (default build/asan/bin)")
    parser.add_argument("--unit", default=os.path.join(REPO, "build", "asan", "tests"),
                        help="cmocka test binaries (default build/asan/tests)")
    parser.add_argument("--sanitizer", choices=sorted(SANITIZER_MARKS), default="address",
                        help="whose reports in the service logs fail the run (default address)")
    parser.add_argument("--fuzz", metavar="DIR", help="also run the libFuzzer targets of DIR")
    parser.add_argument("--fuzz-seconds", type=int, default=20, help="per target (default 20)")
    parser.add_argument("--fuzz-jobs", type=int, default=2, help="targets at once (default 2)")
    parser.add_argument("--tsan-build", metavar="DIR",
                        help="then the unit and integration tests again with DIR/tests and "
                             "DIR/bin, a ThreadSanitizer build")
    parser.add_argument("--unit-only", action="store_true",
                        help="only the unit tests: no stack, no faults test")
    parser.add_argument("-k", dest="patterns", action="append", default=[],
                        help="only tests whose name contains this (repeatable)")
    args = parser.parse_args()
    sys.stdout.reconfigure(line_buffering=True)  # in order with the children's output

    if args.unit_only:
        sys.exit(report([run_unit(os.path.abspath(args.unit), args.patterns)]))
    bin_dir = os.path.abspath(args.bin)
    suites = [run_js()] if selected("js", args.patterns) else []
    suites += run_pass(bin_dir, os.path.abspath(args.unit), args.patterns, args.sanitizer,
                      e2e=selected("e2e", args.patterns))
    if selected("faults", args.patterns) and args.sanitizer == "address":
        suites.append(run_faults(bin_dir))
    if args.fuzz:
        suites.append(run_fuzz(os.path.abspath(args.fuzz), args.fuzz_seconds, args.fuzz_jobs,
                               args.patterns))
    if args.tsan_build:
        tsan = os.path.abspath(args.tsan_build)
        suites += run_pass(os.path.join(tsan, "bin"), os.path.join(tsan, "tests"), args.patterns,
                           "thread", "-tsan")
    sys.exit(report(suites))


if __name__ == "__main__":
    main()

"""How the stack is deployed: its ports start dependably (a client socket that
happens to hold a port is waited for, a listener is named at once), and the
services' FastCGI sockets are closed to everyone but the service and nginx
(docs/decisions/ports.md, docs/decisions/socket-permissions.md)."""
import grp
import os
import re
import shutil
import socket
import stat
import struct
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse

import lib


# `stack.sh pg-start` / `pg-stop` of a separate run folder on PORT: only
# Postgres, in a folder of its own, so that the stack under test is left alone.
def _pg_in(cmd, run_dir, port):
    env = dict(os.environ, CHATSYNC_RUN_DIR=run_dir, PG_PORT=str(port))
    return subprocess.run(["bash", lib.STACK_SCRIPT, cmd], capture_output=True, text=True,
                          timeout=90, env=env)


def _close_without_time_wait(sock):
    """A reset instead of a FIN: no TIME-WAIT keeps the port afterwards."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class PortStartTest(unittest.TestCase):
    """The start failure of issue 11: bind(2) refuses a port that a client
    socket holds as its local port, though nothing listens there."""

    @classmethod
    def setUpClass(cls):
        lib.RUN_DIR  # loads the coordinates into the environment
        # A port of this test stack's block that nothing else uses, so that no
        # former server's TIME-WAIT lies on it (which a plain bind would trip on).
        cls.port = int(os.environ["PG_PORT"]) + 2
        cls.http_port = urllib.parse.urlsplit(lib.HTTP).port

    def setUp(self):
        # under the stack's run folder: the postgres user can reach it
        self.run_dir = tempfile.mkdtemp(prefix="port-", dir=os.path.dirname(lib.RUN_DIR))
        os.chmod(self.run_dir, 0o755)  # mkdtemp's 0700 would keep postgres out

    def tearDown(self):
        _pg_in("pg-stop", self.run_dir, self.port)
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def test_a_client_socket_on_the_port_is_waited_for_and_named(self):
        # what an outgoing connection looks like when its ephemeral port equals ours
        client = socket.socket()
        client.bind(("127.0.0.1", self.port))
        client.connect(("127.0.0.1", self.http_port))
        env = dict(os.environ, CHATSYNC_RUN_DIR=self.run_dir, PG_PORT=str(self.port))
        proc = subprocess.Popen(["bash", lib.STACK_SCRIPT, "pg-start"], env=env, text=True,
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        lines, waiting = [], threading.Event()

        def read_stderr():
            for line in proc.stderr:
                lines.append(line)
                if "held by a client socket" in line:
                    waiting.set()

        reader = threading.Thread(target=read_stderr, daemon=True)
        reader.start()
        try:
            # the connection ends while the start waits for it
            waiting.wait(timeout=60)
            time.sleep(0.5)
        finally:
            _close_without_time_wait(client)
        try:
            returncode = proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            proc.kill()
            returncode = proc.wait()
        reader.join(timeout=10)
        stderr = "".join(lines)
        self.assertTrue(waiting.is_set(), "pg-start did not wait for the client socket:\n"
                        + stderr)
        self.assertEqual(returncode, 0, "pg-start failed after the client socket went:\n"
                         + stderr)
        self.assertIn("pid=%d" % os.getpid(), stderr, "the holder must be named")
        self.assertIn("is free after", stderr)

    def test_a_listener_on_the_port_fails_at_once_naming_it(self):
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen()
        try:
            started = time.monotonic()
            done = _pg_in("pg-start", self.run_dir, self.port)
            took = time.monotonic() - started
        finally:
            listener.close()
        self.assertNotEqual(done.returncode, 0, done.stderr)
        self.assertIn("port %d (PG_PORT) is in use" % self.port, done.stderr)
        self.assertIn("pid=%d" % os.getpid(), done.stderr, "the listener must be named")
        self.assertNotIn("could not bind", done.stderr, "found by the check, not by Postgres")
        # initdb takes a few seconds; no waiting on top of it for a listener
        self.assertLess(took, 30, done.stderr)


class SocketPermissionTest(unittest.TestCase):
    def test_sockets_give_others_nothing_and_nginx_still_reaches_them(self):
        sock_dir = os.path.join(lib.RUN_DIR, "sock")
        dir_mode = stat.S_IMODE(os.stat(sock_dir).st_mode)
        self.assertEqual(dir_mode & 0o007, 0, "%s is mode %04o" % (sock_dir, dir_mode))
        for name in lib.SERVICES:
            with self.subTest(service=name):
                path = os.path.join(sock_dir, name + ".sock")
                st = os.stat(path)
                self.assertTrue(stat.S_ISSOCK(st.st_mode), path)
                mode = stat.S_IMODE(st.st_mode)
                self.assertEqual(mode & 0o007, 0, "%s is mode %04o" % (path, mode))
                self.assertEqual(mode & 0o060, 0o060, "nginx's group must be able to connect")
                if os.geteuid() == 0:  # the workers run as www-data
                    self.assertEqual(st.st_gid, _gid("www-data"), path)
                # and nginx, whose workers are not the socket's owner, reaches it
                self.assertEqual(lib.get("/svc/%s/readyz" % name).status, 200)

    def test_others_cannot_connect_to_a_socket(self):
        if os.geteuid() != 0:
            self.skipTest("needs root to act as another user")
        path = os.path.join(lib.RUN_DIR, "sock", "chats.sock")
        probe = ("import socket, sys\n"
                 "s = socket.socket(socket.AF_UNIX)\n"
                 "try:\n    s.connect(sys.argv[1])\nexcept PermissionError:\n    sys.exit(3)\n")
        done = subprocess.run(["runuser", "-u", "nobody", "--", "python3", "-c", probe, path],
                              capture_output=True, text=True, timeout=30)
        self.assertEqual(done.returncode, 3, "nobody could connect to %s: %s" % (
            path, done.stderr))


class PostgresMallocTest(unittest.TestCase):
    """Postgres runs with deploy/stack.sh's malloc thresholds (PG_GLIBC_TUNABLES;
    docs/decisions/request-path.md, section 9), and docker-compose.yml gives its
    two Postgres the same."""

    @staticmethod
    def _stack_value():
        with open(lib.STACK_SCRIPT) as f:
            return re.search(r"^PG_GLIBC_TUNABLES=(\S+)$", f.read(), re.M).group(1)

    def test_postgres_and_its_backends_run_with_the_malloc_thresholds(self):
        want = "GLIBC_TUNABLES=" + self._stack_value()
        pids = lib.postgres_pids()  # the postmaster and what it forked, as it forks backends
        self.assertGreater(len(pids), 1)
        read = 0
        for pid in pids:
            try:
                with open("/proc/%d/environ" % pid, "rb") as f:
                    raw = f.read()
            except FileNotFoundError:
                continue  # a worker or backend that ended since it was listed
            # glibc's parser of the tunables cuts the value at each ':' in place
            environ = raw.replace(b"\0glibc.", b":glibc.").decode(errors="replace")
            self.assertIn(want, environ.split("\0"), "postgres pid %d" % pid)
            read += 1
        self.assertGreater(read, 1)

    def test_docker_compose_sets_the_same_thresholds_for_both_postgres(self):
        with open(os.path.join(lib.REPO, "docker-compose.yml")) as f:
            compose = f.read()
        self.assertIn("GLIBC_TUNABLES: &pg-glibc-tunables %s\n" % self._stack_value(), compose)
        self.assertEqual(compose.count("GLIBC_TUNABLES: *pg-glibc-tunables\n"), 1)


class SchedulingPolicyTest(unittest.TestCase):
    """Every process of the stack runs with deploy/stack.sh's SCHED_POLICY, batch unless
    the environment says otherwise (docs/decisions/request-path.md, section 11): Postgres
    and its backends, Redis, nginx's master and workers, each service and all its
    threads; and the production units, the images and docker-compose.yml ask for the
    same."""

    POLICIES = {"other": 0, "batch": 3}  # sched.h: SCHED_OTHER, SCHED_BATCH

    @staticmethod
    def _stack_default():
        with open(lib.STACK_SCRIPT) as f:
            return re.search(r"^SCHED_POLICY=\$\{SCHED_POLICY:-(\w+)\}$", f.read(), re.M).group(1)

    @staticmethod
    def _policy(pid, tid):
        with open("/proc/%d/task/%d/stat" % (pid, tid)) as f:
            return int(f.read().rsplit(")", 1)[1].split()[38])  # field 41, after comm

    def _pids(self):
        with open(os.path.join(lib.RUN_DIR, "pid", "nginx.pid")) as f:
            nginx = int(f.read().strip())
        with open(os.path.join(lib.RUN_DIR, "pid", "redis.pid")) as f:
            redis = int(f.read().strip())
        services = [lib.service_pid(name) for name in ("chats", "messages", "sync", "import")]
        self.assertNotIn(None, services)
        return lib.postgres_pids() + [nginx] + lib.children(nginx) + [redis] + services

    def test_every_process_and_thread_of_the_stack_runs_with_the_policy(self):
        self.assertEqual(self._stack_default(), "batch")
        want = self.POLICIES[os.environ.get("SCHED_POLICY") or self._stack_default()]
        read = 0
        for pid in self._pids():
            try:
                tids = [int(t) for t in os.listdir("/proc/%d/task" % pid)]
                for tid in tids:
                    self.assertEqual(self._policy(pid, tid), want, "pid %d, thread %d" % (pid, tid))
                    read += 1
            except OSError:  # FileNotFoundError, ProcessLookupError
                continue  # a backend or a thread that ended since it was listed
        self.assertGreater(read, 50)  # sync-svc alone runs SYNC_THREADS threads

    def test_production_units_images_and_compose_ask_for_batch(self):
        for unit in ("chatsync@.service", "chatsync-nginx.service"):
            with open(os.path.join(lib.REPO, "deploy", "systemd", unit)) as f:
                self.assertIn("\nCPUSchedulingPolicy=batch\n", f.read(), unit)
        with open(os.path.join(lib.REPO, "deploy", "Dockerfile")) as f:
            self.assertIn('\nENTRYPOINT ["chrt", "--batch", "0"]\n', f.read())
        with open(os.path.join(lib.REPO, "docker-compose.yml")) as f:
            compose = f.read()
        # Our images start with chrt; a long-running container of another image, or one that
        # sets its own entrypoint, must put chrt in front. One-shot jobs need not.
        blocks = re.split(r"^  (?=[a-z])", compose.split("\nservices:\n", 1)[1], flags=re.M)
        checked = 0
        for block in blocks:
            name = block.split(":", 1)[0]
            entrypoints = re.findall(r"^    entrypoint: (.*)$", block, re.M)
            if 'restart: "no"' in block or not (entrypoints or re.search(r"image: (postgres|redis):", block)):
                continue
            self.assertEqual(len(entrypoints), 1, name)
            self.assertTrue(entrypoints[0].startswith('["chrt", "--batch", "0", '), (name, entrypoints))
            checked += 1
        self.assertEqual(checked, 5)  # postgres, redis, postgres-replica, redis-node-1, node1


def _gid(group):
    return grp.getgrnam(group).gr_gid


if __name__ == "__main__":
    unittest.main()

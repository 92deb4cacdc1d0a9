"""CHATSYNC_LISTEN: a service listens on TCP host:port instead of a unix
socket (cluster nodes, docs/decisions/cluster.md), and refuses an ambiguous
or malformed setting at start."""
import os
import signal
import socket
import subprocess
import time
import unittest

import fcgi
import lib


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def service_env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("CHATSYNC_SOCKET", "CHATSYNC_LISTEN")}
    env.update(extra)
    return env


class ListenTest(unittest.TestCase):
    def start(self, **extra):
        proc = subprocess.Popen([os.path.join(lib.BIN_DIR, "chats-svc")], env=service_env(**extra),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT)
        self.addCleanup(self.stop, proc)
        return proc

    @staticmethod
    def stop(proc):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        proc.stdout.close()

    def test_service_answers_fastcgi_on_tcp_host_port(self):
        port = free_port()
        proc = self.start(CHATSYNC_LISTEN="127.0.0.1:%d" % port)

        def answered():
            try:
                return fcgi.request(("127.0.0.1", port), "GET", "/readyz")
            except OSError:
                return None

        result = lib.wait_for(answered, 10)
        self.assertIsNotNone(result, "chats-svc did not answer on 127.0.0.1:%d" % port)
        status, _, body = result
        self.assertEqual(status, 200, body)
        self.assertIn(b'"ready"', body)
        self.assertIsNone(proc.poll())
        proc.send_signal(signal.SIGTERM)
        self.assertEqual(proc.wait(timeout=5), 0)

    def assert_refused(self, message, **extra):
        proc = self.start(**extra)
        try:
            out, _ = proc.communicate(timeout=15)
        except subprocess.TimeoutExpired:
            self.fail("the service started with %r" % (extra,))
        self.assertNotEqual(proc.returncode, 0)
        self.assertIn(message, out.decode())

    def test_socket_and_listen_together_are_refused(self):
        self.assert_refused("exactly one is required", CHATSYNC_LISTEN="127.0.0.1:%d" % free_port(),
                            CHATSYNC_SOCKET=os.path.join(lib.RUN_DIR, "sock", "extra.sock"))

    def test_neither_socket_nor_listen_is_refused(self):
        self.assert_refused("exactly one is required")

    def test_listen_without_host_is_refused(self):
        self.assert_refused("CHATSYNC_LISTEN: expected host:port", CHATSYNC_LISTEN=":%d" % free_port())

    def test_listen_with_bad_port_is_refused(self):
        self.assert_refused("CHATSYNC_LISTEN: expected host:port", CHATSYNC_LISTEN="127.0.0.1:99999")


if __name__ == "__main__":
    unittest.main()

"""Supervision (issue 11, item 5): every service runs under deploy/supervise.sh,
so that a worker killed with SIGKILL is started again by itself, the log says
why it died, and `stack.sh down` leaves no process behind."""
import os
import signal
import time
import unittest

import lib

# Which route of each service a client uses, and what answers it without a user.
ROUTES = {"chats": "/api/chats", "messages": "/api/chats/none/messages",
          "sync": "/api/sync", "import": "/api/export?userId=none"}
BACK_WITHIN_S = 10


def log_text(name):
    with open(os.path.join(lib.RUN_DIR, "log", name + ".log"), errors="replace") as f:
        return f.read()


class KilledServiceComesBackTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.user_token = lib.token(lib.unique("user_supervision"))
        cls.import_token = os.environ.get("IMPORT_TOKEN", "")

    def route_status(self, name):
        token = self.import_token if name == "import" else self.user_token
        return lib.get(ROUTES[name], token=token, timeout=5).status

    def test_kill_9_of_each_service_is_followed_by_service_again(self):
        for name in lib.SERVICES:
            with self.subTest(service=name):
                before = lib.service_pid(name)
                supervisor = lib.supervisor_pid(name)
                self.assertTrue(before and lib.process_alive(before), "%s-svc not running" % name)
                self.assertTrue(supervisor and lib.process_alive(supervisor),
                                "%s-svc has no supervisor" % name)
                self.assertIn(self.route_status(name), (200, 404), "before the kill")

                os.kill(before, signal.SIGKILL)
                lib.wait_for(lambda: not lib.process_alive(before), timeout=5, interval=0.05)
                deadline = time.monotonic() + BACK_WITHIN_S
                status = None
                while time.monotonic() < deadline:
                    status = self.route_status(name)
                    if status in (200, 404):
                        break
                    time.sleep(0.1)
                after = lib.service_pid(name)
                self.assertIn(status, (200, 404),
                              "%s answered %s %d s after kill -9" % (ROUTES[name], status,
                                                                      BACK_WITHIN_S))
                self.assertNotEqual(after, before, "the PID of %s-svc did not change" % name)
                self.assertTrue(after and lib.process_alive(after))
                self.assertEqual(lib.supervisor_pid(name), supervisor, "the supervisor itself changed")
                self.assertIn("%s-svc (pid %d) was killed by signal SIGKILL" % (name, before),
                              log_text(name))

    def test_status_shows_service_and_supervisor(self):
        out = lib.stack("status").stdout
        for name in lib.SERVICES:
            with self.subTest(service=name):
                line = [l for l in out.splitlines() if l.startswith(name + " ")]
                self.assertEqual(len(line), 1, out)
                self.assertIn("pid %d, supervisor %d" % (lib.service_pid(name), lib.supervisor_pid(name)),
                              line[0])


if __name__ == "__main__":
    unittest.main()

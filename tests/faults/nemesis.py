"""The faults the test injects, one at a time (standard library only). Each
function does its fault and returns when it is over; the caller times it.

Every fault is real: kill -9 of Postgres (the postmaster and its backends, as a
crash of the host would), of Redis and of each service (its supervisor starts
it again), nginx's graceful reload, and the links to Postgres and Redis made
slow, dead or cut by the proxy (proxy.py) that the services connect through.
"""
import os
import signal
import time

import lib

SERVICE_BACK_WITHIN_S = 20
COMMIT_CUTS = 3


class Fault:
    def __init__(self, name, services=()):
        self.name = name
        self.services = set(services)   # killed services: their routes may answer 502/504
        self.started = self.ended = None
        self.note = ""
        self.recovery_write = self.recovery_event = None


def _read_pid(path):
    try:
        with open(path) as f:
            return int(f.readline().strip())
    except (OSError, ValueError):
        return None


def _kill9(pids):
    for pid in pids:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def _wait_gone(pids, timeout):
    return lib.wait_for(lambda: not any(lib.process_alive(p) for p in pids), timeout, 0.05)


class Nemesis:
    def __init__(self, stack, run_dir, pg_proxy, redis_proxy, fault_s, down_s):
        self.stack = stack            # stack(cmd) runs deploy/stack.sh; 0 on success
        self.run_dir = run_dir
        self.pg_proxy, self.redis_proxy = pg_proxy, redis_proxy
        self.fault_s, self.down_s = fault_s, down_s

    def schedule(self):
        """The faults in turn: (name, killed services, function)."""
        plan = [("kill -9 postgres", (), self.kill_postgres),
                ("kill -9 redis", (), self.kill_redis)]
        for name in lib.SERVICES:
            plan.append(("kill -9 %s-svc" % name, (name,),
                         lambda name=name: self.kill_service(name)))
        plan += [("nginx reload", (), self.reload_nginx),
                 ("postgres paused (SIGSTOP)", (), self.pause_postgres),
                 ("redis paused (SIGSTOP)", (), self.pause_redis),
                 ("postgres link delayed 200 ms", (), lambda: self.link(self.pg_proxy, "delay", 0.2)),
                 ("postgres link blackholed", (), lambda: self.link(self.pg_proxy, "blackhole")),
                 ("postgres connections reset", (), lambda: self.reset(self.pg_proxy)),
                 ("redis link delayed 1 s", (), lambda: self.link(self.redis_proxy, "delay", 1.0)),
                 ("redis link blackholed", (), lambda: self.link(self.redis_proxy, "blackhole")),
                 ("redis connections reset", (), lambda: self.reset(self.redis_proxy)),
                 ("postgres cut after COMMIT", (), self.cut_after_commit)]
        return plan

    def kill_postgres(self):
        victims = self._postgres_processes()
        _kill9(victims)
        if not _wait_gone(victims, 10):
            raise RuntimeError("postgres processes survived kill -9")
        time.sleep(self.down_s)
        if self.stack("pg-start") != 0:
            raise RuntimeError("stack.sh pg-start failed")
        return "%d processes killed" % len(victims)

    def _postgres_processes(self):
        pid = _read_pid(os.path.join(self.run_dir, "pg", "data", "postmaster.pid"))
        if not pid or not lib.process_alive(pid):
            raise RuntimeError("postgres is not running")
        return [pid] + lib.children(pid)

    def _redis_pid(self):
        pid = _read_pid(os.path.join(self.run_dir, "pid", "redis.pid"))
        if not pid or not lib.process_alive(pid):
            raise RuntimeError("redis is not running")
        return pid

    def _pause(self, pids):
        """SIGSTOP for the fault's length: the server keeps its connections and
        answers nothing (a stuck host, a long GC-like stall)."""
        for pid in pids:
            os.kill(pid, signal.SIGSTOP)
        try:
            time.sleep(self.fault_s)
        finally:
            for pid in pids:
                try:
                    os.kill(pid, signal.SIGCONT)
                except ProcessLookupError:
                    pass
        return "%d processes stopped" % len(pids)

    def pause_postgres(self):
        return self._pause(self._postgres_processes())

    def pause_redis(self):
        return self._pause([self._redis_pid()])

    def kill_redis(self):
        pid = self._redis_pid()
        _kill9([pid])
        _wait_gone([pid], 10)
        time.sleep(self.down_s)
        if self.stack("redis-start") != 0:
            raise RuntimeError("stack.sh redis-start failed")
        return ""

    def kill_service(self, name):
        """Ends when the supervisor's new process answers its readiness check."""
        pid = lib.service_pid(name)
        if not pid or not lib.process_alive(pid):
            raise RuntimeError("%s-svc is not running" % name)
        _kill9([pid])
        back = lib.wait_for(
            lambda: lib.service_pid(name) not in (None, pid)
            and lib.get("/svc/%s/readyz" % name, timeout=2).status == 200,
            SERVICE_BACK_WITHIN_S, 0.05)
        if not back:
            raise RuntimeError("%s-svc did not come back within %d s" % (name,
                                                                         SERVICE_BACK_WITHIN_S))
        return "pid %d -> %d" % (pid, lib.service_pid(name))

    def reload_nginx(self):
        if self.stack("reload") != 0:
            raise RuntimeError("stack.sh reload failed")
        return ""

    def link(self, proxy, mode, delay_s=0.0):
        proxy.set_mode(mode, delay_s)
        try:
            time.sleep(self.fault_s)
        finally:
            proxy.set_mode("pass")
        return ""

    def reset(self, proxy):
        return "%d connections reset" % proxy.reset_all()

    def cut_after_commit(self):
        """Arms the proxy for a few COMMITs; ends when they are cut (or after a while)."""
        before = self.pg_proxy.cuts_done
        self.pg_proxy.arm_commit_cut(COMMIT_CUTS)
        lib.wait_for(lambda: self.pg_proxy.cuts_done - before >= COMMIT_CUTS, self.fault_s * 3, 0.05)
        self.pg_proxy.arm_commit_cut(0)
        cut = self.pg_proxy.cuts_done - before
        if cut == 0:
            raise RuntimeError("no COMMIT passed the proxy while armed")
        return "%d COMMITs cut" % cut

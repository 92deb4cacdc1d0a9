"""Helpers for the integration tests: the stack's coordinates, HTTP, tokens, SQL.

The tests run against a real stack. tests/run.py starts a private one and
exports its coordinates (CHATSYNC_HTTP, CHATSYNC_RUN_DIR, CHATSYNC_BIN_DIR,
DATABASE_URL, ...); without them, this module asks `deploy/stack.sh env` for
the coordinates of the developer's stack, so that one file can be run alone:

    make up && python3 -m unittest tests/integration/test_stack.py

Standard library only.
"""
import http.client
import json
import os
import shlex
import signal
import subprocess
import time
import urllib.parse

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
STACK_SCRIPT = os.path.join(REPO, "deploy", "stack.sh")
SERVICES = ("chats", "messages", "sync", "import")


def _load_coordinates():
    if os.environ.get("CHATSYNC_HTTP"):
        return
    out = subprocess.run(["bash", STACK_SCRIPT, "env"], check=True, capture_output=True,
                         text=True, timeout=30).stdout
    for line in out.splitlines():
        if line.startswith("export "):
            name, _, value = line[len("export "):].partition("=")
            os.environ[name] = shlex.split(value)[0] if value else ""


# lib.HTTP, lib.RUN_DIR, lib.BIN_DIR, lib.DATABASE_URL: read when first used,
# so that tests/run.py can import the tests before its stack is up.
_COORDINATES = {"HTTP": "CHATSYNC_HTTP", "RUN_DIR": "CHATSYNC_RUN_DIR",
                "BIN_DIR": "CHATSYNC_BIN_DIR", "DATABASE_URL": "DATABASE_URL"}


def _coordinate(name):
    _load_coordinates()
    return os.environ[_COORDINATES[name]]


def __getattr__(name):
    if name in _COORDINATES:
        return _coordinate(name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


class Response:
    """One HTTP answer: status, headers (case-insensitive), body bytes, parsed JSON."""

    def __init__(self, status, headers, body, elapsed):
        self.status = status
        self.headers = headers
        self.body = body
        self.elapsed = elapsed
        try:
            self.json = json.loads(body) if body else None
        except ValueError:
            self.json = None

    def header(self, name, default=None):
        return self.headers.get(name, default)

    @property
    def text(self):
        return self.body.decode("utf-8", "replace")

    def __repr__(self):
        return "<Response %d %s %r>" % (self.status, self.header("Content-Type"), self.body[:300])


def request(method, path, json_body=None, data=None, token=None, headers=None,
            content_type=None, timeout=10, base=None):
    """Sends one request on a fresh connection and returns a Response.

    json_body is encoded as JSON (Content-Type application/json unless
    content_type says otherwise); data is sent as it is. token adds a bearer
    Authorization header. Never raises on an HTTP status.
    """
    url = urllib.parse.urlsplit(base or _coordinate("HTTP"))
    all_headers = dict(headers or {})
    body = data
    if json_body is not None:
        body = json.dumps(json_body).encode()
        content_type = content_type or "application/json"
    if isinstance(body, str):
        body = body.encode()
    if content_type:
        all_headers["Content-Type"] = content_type
    if token:
        all_headers["Authorization"] = "Bearer " + token
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=timeout)
    started = time.monotonic()
    try:
        try:
            conn.request(method, path, body=body, headers=all_headers)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server answered early (413) and stopped reading: read that answer
        resp = conn.getresponse()
        payload = resp.read()
        return Response(resp.status, resp.headers, payload, time.monotonic() - started)
    finally:
        conn.close()


def get(path, **kwargs):
    return request("GET", path, **kwargs)


def post(path, json_body=None, **kwargs):
    return request("POST", path, json_body=json_body, **kwargs)


def token(user_id, ttl=None):
    """A development token for user_id, from `chatsync token` of the stack's bin dir."""
    cmd = [os.path.join(_coordinate("BIN_DIR"), "chatsync"), "token", user_id]
    if ttl is not None:
        cmd += ["--ttl", str(ttl)]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=30)
    if done.returncode != 0 or not done.stdout.strip():
        raise RuntimeError("%s failed (exit %d): %s" % (" ".join(cmd), done.returncode,
                                                        done.stderr.strip()))
    return done.stdout.strip()


def unique(prefix):
    """An id no other test run uses: tests share one database."""
    return "%s_%d_%d" % (prefix, os.getpid(), time.monotonic_ns())


def psql(sql, database_url=None):
    """Runs SQL on the test database; returns the rows as tuples of strings."""
    done = subprocess.run(
        ["psql", "-X", "-q", "-A", "-t", "-F", "\x1f", "-v", "ON_ERROR_STOP=1",
         "-d", database_url or _coordinate("DATABASE_URL"), "-c", sql],
        capture_output=True, text=True, timeout=30)
    if done.returncode != 0:
        raise RuntimeError("psql failed: %s\n%s" % (sql, done.stderr.strip()))
    return [tuple(line.split("\x1f")) for line in done.stdout.splitlines() if line]


def stack(cmd, check=True, timeout=180):
    """Runs `deploy/stack.sh CMD` for the stack under test; returns CompletedProcess."""
    done = subprocess.run(["bash", STACK_SCRIPT, cmd], capture_output=True, text=True,
                          timeout=timeout, env=os.environ.copy())
    if check and done.returncode != 0:
        raise RuntimeError("stack.sh %s failed (exit %d):\n%s%s" % (
            cmd, done.returncode, done.stdout, done.stderr))
    return done


def service_pid(name):
    """The PID stack.sh recorded for a service, or None."""
    try:
        with open(os.path.join(_coordinate("RUN_DIR"), "pid", name + ".pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def supervisor_pid(name):
    """The PID of a service's supervisor (deploy/supervise.sh), or None."""
    try:
        with open(os.path.join(_coordinate("RUN_DIR"), "pid", name + ".supervisor.pid")) as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def stop_service(name, timeout=10):
    """Stops a service for good: SIGTERM to its supervisor, which stops the
    service and exits instead of restarting it (a SIGTERM to the service alone
    is a crash to the supervisor). `stack("up")` starts it again."""
    pids = [pid for pid in (supervisor_pid(name), service_pid(name)) if pid]
    if pids and process_alive(pids[0]):
        os.kill(pids[0], signal.SIGTERM)
    if not wait_for(lambda: not any(process_alive(pid) for pid in pids), timeout, 0.05):
        raise RuntimeError("%s-svc (pids %s) did not stop within %d s" % (name, pids, timeout))


def children(pid):
    """The PIDs whose parent is pid (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % entry) as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == pid:
            found.append(int(entry))
    return found


def postgres_pids():
    """The stack's postmaster and its children."""
    with open(os.path.join(_coordinate("RUN_DIR"), "pg", "data", "postmaster.pid")) as f:
        postmaster = int(f.readline().strip())
    return [postmaster] + children(postmaster)


def signal_all(pids, sig):
    """sig to each of pids that still exists."""
    for pid in pids:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


def process_alive(pid):
    """True while pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


def wake_stream_key(user_id):
    """The user's wake-up stream in Redis: FNV-1a of the id over the 16 shards
    (common/hash.c, common/events.c)."""
    h = 2166136261
    for byte in user_id.encode():
        h = ((h ^ byte) * 16777619) & 0xFFFFFFFF
    return "cs:wake:{%d}" % (h % 16)


def wait_for(predicate, timeout, interval=0.1):
    """Polls predicate until it returns a true value or timeout seconds pass;
    returns its last value."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() >= deadline:
            return value
        time.sleep(interval)


def wait_for_status(path, status, timeout, method="GET", interval=0.2, **kwargs):
    """Repeats a request until it answers status or timeout seconds pass;
    returns the last Response."""
    deadline = time.monotonic() + timeout
    while True:
        resp = request(method, path, **kwargs)
        if resp.status == status or time.monotonic() >= deadline:
            return resp
        time.sleep(interval)


def assert_error_body(resp, status, code):
    """Asserts an API.md error answer: status, JSON content type, the error
    object with code, a message and the requestId that X-Request-Id carries."""
    detail = "%r" % (resp,)
    assert resp.status == status, "want status %d, got %s" % (status, detail)
    ctype = (resp.header("Content-Type") or "").split(";")[0].strip()
    assert ctype == "application/json", "want application/json, got %r: %s" % (ctype, detail)
    assert isinstance(resp.json, dict) and isinstance(resp.json.get("error"), dict), \
        "no error object: " + detail
    error = resp.json["error"]
    assert error.get("code") == code, "want code %r, got %s" % (code, detail)
    assert isinstance(error.get("message"), str) and error["message"], "no message: " + detail
    assert error.get("requestId") and error["requestId"] == resp.header("X-Request-Id"), \
        "requestId must equal X-Request-Id %r: %s" % (resp.header("X-Request-Id"), detail)

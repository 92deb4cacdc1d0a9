"""The nginx edge (nginx/, deploy/nginx-config.sh): every profile's config
passes nginx -t; TLS 1.2/1.3 with HTTP/2, SSE over HTTP/2; the rollout split
to a legacy backend (a stand-in started here) by percentage, sticky per JWT
sub, with the X-Chat-Backend override and response header; reloads that lose
no request; the protections (413, 429, 502 as API.md bodies, import/export from
loopback only, slow clients cut off, the JSON access log).

The rollout and rate-limit tests reload the stack's nginx with other settings
(deploy/stack.sh reload) and reload it back with the stack's own environment
when they are done."""
import concurrent.futures
import glob
import hashlib
import http.client
import itertools
import json
import os
import re
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.parse
import warnings

import legacy_backend
import lib
import tokens

NGINX_CONFIG = os.path.join(lib.REPO, "deploy", "nginx-config.sh")
USERS = 2000          # distinct users for the share test
TOKENS_PER_USER = 5   # different tokens (as after refreshes) per user


def https_base():
    lib.HTTP  # the stack's coordinates in os.environ, when run alone
    return os.environ.get("CHATSYNC_HTTPS") or "https://127.0.0.1:%s" % os.environ["HTTPS_PORT"]


def tls_cert():
    return os.environ.get("CHATSYNC_TLS_CERT") or os.path.join(lib.RUN_DIR, "tls", "cert.pem")


def http_address():
    url = urllib.parse.urlsplit(lib.HTTP)
    return url.hostname, url.port


def reload_nginx(**settings):
    """deploy/stack.sh reload with the stack's environment plus settings (a
    value None removes the variable); raises when the reload fails."""
    lib.RUN_DIR  # the stack's coordinates in os.environ, when run alone
    env = os.environ.copy()
    for name, value in settings.items():
        if value is None:
            env.pop(name, None)
        else:
            env[name] = str(value)
    done = subprocess.run(["bash", lib.STACK_SCRIPT, "reload"], env=env, capture_output=True,
                          text=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError("stack.sh reload failed (exit %d):\n%s%s" % (
            done.returncode, done.stdout, done.stderr))


def restore_nginx():
    """Back to the settings the stack was started with."""
    reload_nginx()


def bucket(sub):
    """rollout.js: the first 4 bytes of SHA-1(UTF-8 sub), big-endian, mod 100."""
    return int.from_bytes(hashlib.sha1(sub.encode()).digest()[:4], "big") % 100


def expected_backend(sub, percent):
    return "new" if bucket(sub) < percent else "legacy"


def unsigned_token(sub, serial):
    """A JWT for sub that nginx can read; its signature is random bytes, so
    chatsync refuses it (401): the split never verifies, the services do."""
    now = int(time.time())
    claims = {"sub": sub, "iss": "https://chatsync.local", "iat": now + serial,
              "nbf": now, "exp": now + 3600 + serial, "jti": "%s-%d" % (sub, serial)}
    return "%s.%s.%s" % (tokens.segment({"alg": "RS256", "typ": "JWT", "kid": tokens.DEV_KID}),
                         tokens.segment(claims), tokens.b64url(os.urandom(64)))


class KeepAliveClient:
    """One HTTP/1.1 connection per thread, reopened when the server closes it."""

    def __init__(self):
        self.local = threading.local()
        self.opened = []

    def close(self):
        for conn in self.opened:
            conn.close()

    def request(self, method, path, headers=None, body=None, retry=True):
        host, port = http_address()
        conn = getattr(self.local, "conn", None)
        if conn is None:
            conn = self.local.conn = http.client.HTTPConnection(host, port, timeout=30)
            self.opened.append(conn)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            resp = conn.getresponse()
            payload = resp.read()
            if resp.will_close:
                conn.close()
            return resp.status, resp.headers, payload
        except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
            # an idle keep-alive connection the server closed (keepalive_requests):
            # what every HTTP client retries once
            conn.close()
            self.local.conn = None
            if not retry:
                raise
            return self.request(method, path, headers, body, retry=False)


def served_by(headers, payload):
    """The backend that answered, from the header, checked against the body."""
    backend = headers.get("X-Chat-Backend")
    if backend == "legacy":
        assert json.loads(payload)["backend"] == legacy_backend.MARKER, payload
    return backend


# ---- the config: every profile, docker-compose ----

class ScratchRender(unittest.TestCase):
    """A scratch folder with a certificate, and render(): the templates rendered
    into a run folder of it and checked by nginx -t (test_demo.py uses it too)."""

    @classmethod
    def setUpClass(cls):
        cls.scratch = tempfile.mkdtemp(prefix="cs-edge-")
        os.chmod(cls.scratch, 0o755)
        cls.cert = os.path.join(cls.scratch, "real-cert.pem")
        cls.key = os.path.join(cls.scratch, "real-key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2",
                        "-subj", "/CN=chat.example.com", "-keyout", cls.key, "-out", cls.cert],
                       check=True, capture_output=True, timeout=60)

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.scratch, ignore_errors=True)

    def render(self, name, **settings):
        """nginx-config.sh render + cert + check in a fresh run folder; returns
        (run folder, {file name: rendered text}, the failed step's output or None)."""
        run_dir = os.path.join(self.scratch, name)
        env = {k: v for k, v in os.environ.items()
               if k not in ("NGINX_PROFILE", "ROLLOUT_PERCENT", "LEGACY_BACKEND", "TLS_CERT",
                            "TLS_KEY", "TLS_DIR", "WRITE_RATE_LIMIT", "WRITE_RATE_BURST",
                            "READ_RATE_LIMIT", "READ_RATE_BURST", "CONN_PER_ADDRESS",
                            "HTTP2_MAX_STREAMS", "ROLLOUT_OVERRIDE_FROM",
                            "ROLLOUT_OVERRIDE_AT_ZERO", "IMPORT_ALLOW", "HTTP_LISTEN",
                            "HTTPS_LISTEN", "ERROR_LOG", "ACCESS_LOG", "DEV_KEY_FILE",
                            "CLIENTS_DIR")}
        env.update(RUN_DIR=run_dir, **settings)
        for step in ("render", "cert", "check"):
            done = subprocess.run(["bash", NGINX_CONFIG, step], env=env, capture_output=True,
                                  text=True, timeout=60)
            if done.returncode != 0:
                return run_dir, {}, "%s: %s%s" % (step, done.stdout, done.stderr)
        files = {}
        for path in glob.glob(os.path.join(run_dir, "nginx", "*")):
            if os.path.isfile(path):
                with open(path) as f:
                    files[os.path.basename(path)] = f.read()
        return run_dir, files, None


class ConfigTest(ScratchRender):
    """Renders the templates into scratch run folders and asks nginx -t."""

    def test_nginx_t_passes_for_every_profile(self):
        profiles = {
            "local": {},
            "local-rollout": {"ROLLOUT_PERCENT": "10", "LEGACY_BACKEND": "10.1.2.3:8081",
                              "IMPORT_ALLOW": "10.0.0.0/8,192.168.1.5"},
            "production": {"NGINX_PROFILE": "production", "TLS_CERT": self.cert,
                           "TLS_KEY": self.key, "ROLLOUT_PERCENT": "25",
                           "HTTPS_LISTEN": "0.0.0.0:8443"},
        }
        for name, settings in profiles.items():
            with self.subTest(profile=name):
                _, files, failed = self.render(name, **settings)
                self.assertIsNone(failed)
                self.assertIn("nginx.conf", files)

    def test_docker_image_settings_pass_nginx_t(self):
        """The nginx container renders the same templates with the Dockerfile's
        ENV and docker-compose.yml's defaults (empty values: the profile's)."""
        with open(os.path.join(lib.REPO, "deploy", "Dockerfile")) as f:
            dockerfile = f.read()
        nginx_stage = dockerfile[dockerfile.index("AS nginx"):]
        self.assertIn("libnginx-mod-http-js", nginx_stage)
        self.assertIn("COPY nginx /opt/chatsync/nginx", nginx_stage)
        self.assertIn("nginx-config.sh render", nginx_stage)
        env_block = re.search(r"^ENV (.*?)(?<!\\)\n", nginx_stage, re.S | re.M).group(1)
        image_env = dict(re.findall(r"([A-Z_]+)=(\S+)", env_block))
        image_env.pop("RUN_DIR")
        image_env.pop("ERROR_LOG")   # /dev/stderr: nginx -t here writes to a file instead
        image_env.pop("ACCESS_LOG")
        compose_env = {"NGINX_PROFILE": "local", "ROLLOUT_PERCENT": "", "WRITE_RATE_LIMIT": "",
                       "WRITE_RATE_BURST": "", "READ_RATE_LIMIT": "", "READ_RATE_BURST": "",
                       "CONN_PER_ADDRESS": "", "HTTP2_MAX_STREAMS": "", "IMPORT_ALLOW": "",
                       "ROLLOUT_OVERRIDE_FROM": "", "ROLLOUT_OVERRIDE_AT_ZERO": "",
                       "TLS_CERT": "", "TLS_KEY": "", "LEGACY_BACKEND": "127.0.0.1:8081"}
        _, files, failed = self.render("docker", **image_env, **compose_env)
        self.assertIsNone(failed)
        self.assertIn("listen 8080 default_server;", files["nginx.conf"])
        if shutil.which("docker-compose"):
            done = subprocess.run(["docker-compose", "-f", os.path.join(lib.REPO, "docker-compose.yml"),
                                   "config"], capture_output=True, text=True, timeout=60,
                                  cwd=lib.REPO)
            self.assertEqual(done.returncode, 0, done.stderr)
            self.assertIn("target: nginx", done.stdout)
            self.assertIn("ROLLOUT_PERCENT", done.stdout)

    def test_production_has_hsts_and_the_given_certificate(self):
        _, files, failed = self.render("production-hsts", NGINX_PROFILE="production",
                                       TLS_CERT=self.cert, TLS_KEY=self.key, ROLLOUT_PERCENT="10")
        self.assertIsNone(failed)
        self.assertIn("include profile-production.conf;", files["nginx.conf"])
        self.assertIn("max-age=63072000", files["profile-production.conf"])
        self.assertIn("ssl_certificate     %s;" % self.cert, files["tls.conf"])
        self.assertIn("ssl_certificate_key %s;" % self.key, files["tls.conf"])
        self.assertIn("js_var $chatsync_rollout_percent 10;", files["rollout.conf"])
        _, files, failed = self.render("local-no-hsts")
        self.assertIsNone(failed)
        self.assertIn("include profile-local.conf;", files["nginx.conf"])
        self.assertNotIn("max-age", files["profile-local.conf"])

    def test_production_sends_hsts_over_https_only(self):
        """A scratch nginx from the production render (no services behind it:
        its answers are errors.conf's 502, which carry the headers too)."""
        ports = []
        for _ in range(2):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                ports.append(probe.getsockname()[1])
        run_dir, _, failed = self.render(
            "production-live", NGINX_PROFILE="production", TLS_CERT=self.cert, TLS_KEY=self.key,
            ROLLOUT_PERCENT="100", HTTP_LISTEN="127.0.0.1:%d" % ports[0],
            HTTPS_LISTEN="127.0.0.1:%d" % ports[1])
        self.assertIsNone(failed)
        nginx = subprocess.Popen(["nginx", "-g", "daemon off;", "-p", os.path.join(run_dir, "nginx"),
                                  "-e", os.path.join(run_dir, "log", "nginx-error.log"),
                                  "-c", os.path.join(run_dir, "nginx", "nginx.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            ctx = ssl.create_default_context(cafile=self.cert)
            ctx.check_hostname = False

            def answer(https):
                conn = (http.client.HTTPSConnection("127.0.0.1", ports[1], context=ctx, timeout=5)
                        if https else http.client.HTTPConnection("127.0.0.1", ports[0], timeout=5))
                try:
                    conn.request("GET", "/healthz")
                    resp = conn.getresponse()
                    return resp.status, resp.getheader("Strict-Transport-Security"), \
                        resp.getheader("X-Chat-Backend")
                except OSError:
                    return None
                finally:
                    conn.close()

            over_https = lib.wait_for(lambda: answer(True), timeout=10)
            self.assertEqual(over_https, (502, "max-age=63072000; includeSubDomains", "new"))
            self.assertEqual(answer(False), (502, None, "new"))
        finally:
            nginx.terminate()
            _, errors = nginx.communicate(timeout=15)
        self.assertEqual(nginx.returncode, 0, errors)

    def test_production_refuses_to_guess_certificate_or_percentage(self):
        run_dir, _, failed = self.render("production-no-cert", NGINX_PROFILE="production",
                                         ROLLOUT_PERCENT="10")
        self.assertIn("TLS_CERT", failed or "")
        self.assertFalse(os.path.exists(os.path.join(run_dir, "tls")), "no self-signed in production")
        _, _, failed = self.render("production-no-percent", NGINX_PROFILE="production",
                                   TLS_CERT=self.cert, TLS_KEY=self.key)
        self.assertIn("ROLLOUT_PERCENT", failed or "")

    def test_bad_settings_are_refused_by_name(self):
        for name, value in (("ROLLOUT_PERCENT", "101"), ("ROLLOUT_PERCENT", "ten"),
                            ("LEGACY_BACKEND", "http://x:1/;evil"), ("WRITE_RATE_LIMIT", "fast"),
                            ("READ_RATE_LIMIT", "1r/h"), ("READ_RATE_BURST", "-1"),
                            ("CONN_PER_ADDRESS", "0"), ("CONN_PER_ADDRESS", "70000"),
                            ("HTTP2_MAX_STREAMS", "many"), ("ROLLOUT_OVERRIDE_FROM", "any"),
                            ("ROLLOUT_OVERRIDE_FROM", "10.0.0.0/8; default 1"),
                            ("ROLLOUT_OVERRIDE_AT_ZERO", "yes"),
                            ("IMPORT_ALLOW", "0.0.0.0/0; allow all"), ("NGINX_PROFILE", "staging")):
            with self.subTest(setting=name, value=value):
                _, _, failed = self.render("bad", **{name: value})
                self.assertIn(name, failed or "")

    def test_override_header_is_trusted_from_loopback_locally_and_from_no_one_in_production(self):
        def trusted(files):
            geo = re.search(r"geo \$chatsync_override_trusted \{(.*?)\}", files["rollout.conf"],
                            re.S).group(1)
            return sorted(e for e in (line.split("#")[0].strip() for line in geo.splitlines()) if e)

        _, files, failed = self.render("override-local")
        self.assertIsNone(failed)
        self.assertEqual(trusted(files), ["127.0.0.1 1; ::1 1;", "default 0;"])
        self.assertIn("js_var $chatsync_override_at_zero off;", files["rollout.conf"])
        _, files, failed = self.render("override-production", NGINX_PROFILE="production",
                                       TLS_CERT=self.cert, TLS_KEY=self.key, ROLLOUT_PERCENT="0")
        self.assertIsNone(failed)
        self.assertEqual(trusted(files), ["default 0;"])
        self.assertIn("js_var $chatsync_override_at_zero off;", files["rollout.conf"])

    def test_production_limits_are_the_documented_defaults(self):
        _, files, failed = self.render("limits-production", NGINX_PROFILE="production",
                                       TLS_CERT=self.cert, TLS_KEY=self.key, ROLLOUT_PERCENT="10")
        self.assertIsNone(failed)
        limits = files["limits.conf"]
        self.assertIn("zone=chatsync_writes:10m rate=30r/s;", limits)
        self.assertIn("zone=chatsync_reads:10m rate=50r/s;", limits)
        self.assertIn("limit_req zone=chatsync_reads burst=500 nodelay;", limits)
        self.assertIn("limit_conn chatsync_per_address 128;", limits)
        self.assertIn("limit_conn_status 429;", limits)
        self.assertIn("http2_max_concurrent_streams 32;", limits)

    def test_rendered_config_keeps_import_and_export_to_loopback(self):
        _, files, failed = self.render("loopback")
        self.assertIsNone(failed)
        geo = re.search(r"geo \$chatsync_import_allowed \{(.*?)\}", files["limits.conf"], re.S).group(1)
        entries = [line.split("#")[0].strip() for line in geo.splitlines()]
        self.assertEqual(sorted(e for e in entries if e), ["127.0.0.1 1;", "::1       1;", "default   0;"])
        location = re.search(r"location ~ \^/api/\(import\|export\)\$ \{(.*?)\n\}",
                             files["routes.conf"], re.S).group(1)
        self.assertIn("if ($chatsync_import_allowed = 0) { return 403; }", location)
        self.assertIn('fastcgi_param HTTP_PROXY        "";', files["fastcgi.conf"])


# ---- TLS, HTTP/2, SSE ----

class TlsTest(unittest.TestCase):
    def curl(self, *args, timeout=20):
        return subprocess.run(["curl", "-sS", "--cacert", tls_cert()] + list(args),
                              capture_output=True, text=True, timeout=timeout)

    def test_http2_and_tls13_negotiate(self):
        done = self.curl("--http2", "-v", "-o", "/dev/null", "-w", "%{http_version} %{http_code}",
                         https_base() + "/healthz")
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertEqual(done.stdout, "2 200")
        self.assertRegex(done.stderr, r"SSL connection using TLSv1\.3")
        self.assertIn("ALPN: server accepted h2", done.stderr)

    def test_tls12_negotiates_and_tls11_is_refused_by_the_server(self):
        host, port = urllib.parse.urlsplit(https_base()).hostname, urllib.parse.urlsplit(https_base()).port

        def handshake(version):
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            ctx.load_verify_locations(tls_cert())
            ctx.check_hostname = False
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")  # the client may offer TLS 1.1
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)  # TLSv1_1: that is the point
                ctx.minimum_version = ctx.maximum_version = version
            with socket.create_connection((host, port), timeout=10) as raw:
                with ctx.wrap_socket(raw) as tls:
                    return tls.version()

        self.assertEqual(handshake(ssl.TLSVersion.TLSv1_2), "TLSv1.2")
        with self.assertRaises(ssl.SSLError) as refused:
            handshake(ssl.TLSVersion.TLSv1_1)
        # the server's alert, not a client that could not even offer TLS 1.1
        self.assertIn("PROTOCOL_VERSION", str(refused.exception).upper())

    def test_sse_streams_multiplex_over_one_http2_connection_unbuffered(self):
        token = lib.token(lib.unique("user_edge_sse"))
        with tempfile.TemporaryDirectory() as folder:
            outputs = [os.path.join(folder, "stream%d" % i) for i in (1, 2)]
            args = ["curl", "-sS", "-v", "--cacert", tls_cert(), "--http2", "-Z", "-N",
                    "--max-time", "6", "-H", "Accept: text/event-stream",
                    "-H", "Authorization: Bearer " + token]
            for i, out in enumerate(outputs):
                args += ["-o", out, https_base() + "/api/sync?cursor=0&tab=%d" % i]
            streams = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                       text=True)
            try:
                time.sleep(1.5)  # both streams open and waiting
                created = lib.post("/api/chats", {"title": "live over h2"}, token=token)
                self.assertEqual(created.status, 201, created)
                posted = time.monotonic()
                chat_id = created.json["chat"]["id"]

                def both_have_it():
                    for out in outputs:
                        with open(out, errors="replace") as f:
                            if chat_id not in f.read():
                                return False
                    return True

                arrived = lib.wait_for(both_have_it, timeout=3, interval=0.05)
                latency = time.monotonic() - posted
            finally:
                _, verbose = streams.communicate(timeout=20)
            self.assertTrue(arrived, "the event did not reach both streams within 3 s (nginx "
                                     "buffering?)\n" + verbose[-2000:])
            self.assertLess(latency, 3.0)
            for out in outputs:
                with open(out) as f:
                    self.assertIn("event: changes", f.read())
        self.assertIn("using HTTP/2", verbose)
        self.assertEqual(verbose.count("* Connected to"), 1, "two connections:\n" + verbose[-2000:])
        self.assertRegex(verbose, r"Multiplexed connection found|Re-using existing connection")


# ---- the rollout ----

class RolloutTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.legacy = legacy_backend.LegacyBackend().start()
        cls.client = KeepAliveClient()

    @classmethod
    def tearDownClass(cls):
        cls.client.close()
        try:
            restore_nginx()
        finally:
            cls.legacy.stop()

    def set_percent(self, percent):
        reload_nginx(ROLLOUT_PERCENT=percent, LEGACY_BACKEND=self.legacy.address)

    def backend_for(self, token=None, cookie=None, path="/api/chats?limit=1", headers=None):
        all_headers = dict(headers or {})
        if token:
            all_headers["Authorization"] = "Bearer " + token
        if cookie:
            all_headers["Cookie"] = "theme=dark; __session=%s" % cookie
        status, resp_headers, payload = self.client.request("GET", path, all_headers)
        backend = served_by(resp_headers, payload)
        if backend == "new":
            self.assertIn(status, (200, 401), payload)
        return backend

    def route_users(self, users):
        """{user: [backend of each of its TOKENS_PER_USER requests]}; every
        fifth token goes in the __session cookie instead of the header."""
        jobs = [(user, serial) for user in users for serial in range(TOKENS_PER_USER)]

        def one(job):
            user, serial = job
            token = unsigned_token(user, serial)
            if serial == TOKENS_PER_USER - 1:
                return user, self.backend_for(cookie=token)
            return user, self.backend_for(token=token)

        seen = {user: [] for user in users}
        with concurrent.futures.ThreadPoolExecutor(max_workers=16) as pool:
            for user, backend in pool.map(one, jobs):
                seen[user].append(backend)
        return seen

    def test_share_is_within_3_points_and_sticky_at_10_and_25_percent(self):
        users = ["edge_user_%04d" % i for i in range(USERS)]  # fixed: the share is deterministic
        on_new = {}
        for percent in (10, 25):
            with self.subTest(percent=percent):
                self.set_percent(percent)
                seen = self.route_users(users)
                flipped = [u for u, backends in seen.items() if len(set(backends)) != 1]
                self.assertEqual(flipped, [], "users whose tokens went to different backends")
                on_new[percent] = {u for u, backends in seen.items() if backends[0] == "new"}
                share = 100.0 * len(on_new[percent]) / len(users)
                self.assertLessEqual(abs(share - percent), 3.0, "share %.1f%% at %d%%" % (share, percent))
                wrong = [u for u in users if seen[u][0] != expected_backend(u, percent)]
                self.assertEqual(wrong, [], "not the documented bucket (docs/rollout.md)")
        # raising the percentage moves users to chatsync, never back
        self.assertLessEqual(on_new[10], on_new[25])

    def test_override_header_forces_either_backend(self):
        self.set_percent(25)
        new_user = next(u for u in ("edge_override_%d" % i for i in range(1000))
                        if expected_backend(u, 25) == "new")
        legacy_user = next(u for u in ("edge_override_%d" % i for i in range(1000))
                           if expected_backend(u, 25) == "legacy")
        self.assertEqual(self.backend_for(token=unsigned_token(new_user, 0)), "new")
        self.assertEqual(self.backend_for(token=unsigned_token(legacy_user, 0)), "legacy")
        self.assertEqual(self.backend_for(token=unsigned_token(new_user, 0),
                                          headers={"X-Chat-Backend": "legacy"}), "legacy")
        # a real token of a legacy user, forced to chatsync, is served by it
        real = lib.token(legacy_user)
        resp = lib.get("/api/chats", token=real, headers={"X-Chat-Backend": "new"})
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header("X-Chat-Backend"), "new")
        self.assertIn("chats", resp.json)
        # without a token, both ways too
        self.assertEqual(self.backend_for(headers={"X-Chat-Backend": "legacy"}), "legacy")
        self.assertEqual(self.backend_for(headers={"X-Chat-Backend": "new"}), "new")
        # anything else is no override
        self.assertEqual(self.backend_for(token=unsigned_token(legacy_user, 1),
                                          headers={"X-Chat-Backend": "newest"}), "legacy")

    def test_override_header_from_an_untrusted_address_changes_nothing(self):
        new_user = next(u for u in ("edge_untrusted_%d" % i for i in range(1000))
                        if expected_backend(u, 25) == "new")
        legacy_user = next(u for u in ("edge_untrusted_%d" % i for i in range(1000))
                           if expected_backend(u, 25) == "legacy")
        for percent in (25, 0):
            reload_nginx(ROLLOUT_PERCENT=percent, LEGACY_BACKEND=self.legacy.address,
                         ROLLOUT_OVERRIDE_FROM="none", ROLLOUT_OVERRIDE_AT_ZERO="on")
            for user in (new_user, legacy_user):
                want = expected_backend(user, percent)
                for forced in ("new", "legacy"):
                    with self.subTest(percent=percent, user=user, forced=forced):
                        self.assertEqual(self.backend_for(token=unsigned_token(user, 0),
                                                          headers={"X-Chat-Backend": forced}), want)
            with self.subTest(percent=percent, token=None):
                self.assertEqual(self.backend_for(headers={"X-Chat-Backend": "new"}),
                                 "legacy" if percent == 0 else "new")
        # at 0 % a real token of a chatsync user, forced to chatsync, still reaches legacy
        real = lib.token(new_user)
        resp = lib.get("/api/chats", token=real, headers={"X-Chat-Backend": "new"})
        self.assertEqual(resp.header("X-Chat-Backend"), "legacy", resp)

    def test_override_at_zero_percent_only_when_configured(self):
        user = "edge_rollback_user"
        self.set_percent(0)  # the stack's own trust: loopback, not at zero
        self.assertEqual(self.backend_for(token=unsigned_token(user, 0),
                                          headers={"X-Chat-Backend": "new"}), "legacy")
        self.assertEqual(self.backend_for(headers={"X-Chat-Backend": "new"}), "legacy")
        reload_nginx(ROLLOUT_PERCENT=0, LEGACY_BACKEND=self.legacy.address,
                     ROLLOUT_OVERRIDE_AT_ZERO="on")
        self.assertEqual(self.backend_for(token=unsigned_token(user, 0),
                                          headers={"X-Chat-Backend": "new"}), "new")
        self.assertEqual(self.backend_for(token=unsigned_token(user, 0)), "legacy")

    def test_zero_percent_sends_everyone_to_legacy_and_100_everyone_to_chatsync(self):
        users = ["edge_all_%03d" % i for i in range(200)]
        for percent, want in ((0, "legacy"), (100, "new")):
            with self.subTest(percent=percent):
                self.set_percent(percent)
                seen = self.route_users(users)
                others = [u for u, backends in seen.items() if set(backends) != {want}]
                self.assertEqual(others, [])
                self.assertEqual(self.backend_for(), want, "a request without a token")

    def test_every_split_route_and_method_goes_to_legacy_for_a_legacy_user(self):
        self.set_percent(0)
        token = unsigned_token("edge_routes", 0)
        paths = [("GET", "/api/chats"), ("POST", "/api/chats"), ("GET", "/api/chats/c%2F1"),
                 ("PATCH", "/api/chats/c1"), ("POST", "/api/chats/c1/branch"),
                 ("POST", "/api/chats/c1/messages"), ("PATCH", "/api/messages/m1"),
                 ("DELETE", "/api/messages/m1"), ("GET", "/api/sync?cursor=0&live=1"),
                 ("GET", "/api/sync-status"), ("PUT", "/api/sync-status/dev1"),
                 ("GET", "/api/no-such-route")]
        for method, path in paths:
            with self.subTest(method=method, path=path):
                status, headers, payload = self.client.request(
                    method, path, {"Authorization": "Bearer " + token, "X-Request-Id": "rid-" + method,
                                   "Content-Type": "application/json"},
                    body=b"{}" if method in ("POST", "PATCH", "PUT") else None)
                if path == "/api/no-such-route":  # not a route: nginx's 404, never split
                    self.assertEqual((status, headers.get("X-Chat-Backend")), (404, "new"))
                    continue
                self.assertEqual(status, 200, payload)
                self.assertEqual(headers.get("X-Chat-Backend"), "legacy")
                answer = json.loads(payload)
                # the request as the client sent it, with nginx's request id
                self.assertEqual((answer["method"], answer["path"]), (method, path))
                self.assertEqual(answer["requestId"], "rid-" + method)
                self.assertEqual(headers.get("X-Request-Id"), "rid-" + method)
                self.assertEqual(answer["forwardedFor"], "127.0.0.1")

    def test_health_metrics_svc_import_and_export_are_never_split(self):
        self.set_percent(0)
        token = unsigned_token("edge_never_split", 0)
        for path in ("/healthz", "/readyz", "/metrics", "/svc/sync/healthz", "/api/export",
                     "/api/import"):
            with self.subTest(path=path):
                status, headers, payload = self.client.request(
                    "GET", path, {"Authorization": "Bearer " + token, "X-Chat-Backend": "legacy"})
                self.assertEqual(headers.get("X-Chat-Backend"), "new", payload)
                self.assertNotIn(legacy_backend.MARKER.encode(), payload)

    def test_legacy_down_is_502_json_saying_legacy(self):
        gone = legacy_backend.LegacyBackend().start()
        address = gone.address
        gone.stop()  # nothing listens there now
        reload_nginx(ROLLOUT_PERCENT=0, LEGACY_BACKEND=address)
        for path in ("/api/chats", "/api/sync?cursor=0"):
            with self.subTest(path=path):
                resp = lib.get(path, token=unsigned_token("edge_down", 0))
                lib.assert_error_body(resp, 502, "unavailable")
                self.assertEqual(resp.header("X-Chat-Backend"), "legacy")
                self.assertEqual(resp.header("Retry-After"), "1")

    def test_live_path_reaches_legacy_over_http2(self):
        self.set_percent(0)
        done = subprocess.run(["curl", "-sS", "--http2", "--cacert", tls_cert(), "-N", "-D", "-",
                               "--max-time", "10", "-H", "Accept: text/event-stream",
                               https_base() + "/api/sync?cursor=0"],
                              capture_output=True, text=True, timeout=20)
        self.assertEqual(done.returncode, 0, done.stderr)
        self.assertTrue(done.stdout.startswith("HTTP/2 200"), done.stdout)
        self.assertIn("x-chat-backend: legacy", done.stdout.lower())
        self.assertIn("event: legacy", done.stdout)

    def test_reload_under_load_loses_no_request(self):
        self.set_percent(10)
        # the load runs until the last reload is done (a reload's time depends on
        # the machine's load: a fixed number of requests could end before it),
        # bounded by a cap on the requests sent
        request_cap, workers = 50000, 12
        users = ["edge_load_%03d" % i for i in range(300)]
        tokens_by_user = {u: unsigned_token(u, 0) for u in users}
        sent = itertools.count()
        stop = threading.Event()
        results, failures = [], []
        lock = threading.Lock()

        def worker():
            host, port = http_address()
            while not stop.is_set():
                i = next(sent)
                if i >= request_cap:
                    return
                user = users[i % len(users)]
                # a fresh connection per request: nothing to retry, so any
                # refused or dropped connection is a lost request
                conn = http.client.HTTPConnection(host, port, timeout=30)
                try:
                    path = "/healthz" if i % 10 == 0 else "/api/chats?limit=1"
                    conn.request("GET", path, headers={"Authorization": "Bearer " + tokens_by_user[user]})
                    resp = conn.getresponse()
                    resp.read()
                    with lock:
                        results.append((resp.status, resp.getheader("X-Chat-Backend")))
                except Exception as e:  # noqa: BLE001 - every failure is the finding
                    with lock:
                        failures.append("%s: %r" % (user, e))
                finally:
                    conn.close()

        threads = [threading.Thread(target=worker) for _ in range(workers)]
        for t in threads:
            t.start()
        reloads = 0
        try:
            for percent in (25, 10, 25, 10, 25):
                time.sleep(0.3)
                self.set_percent(percent)
                reloads += 1
            time.sleep(0.3)
        finally:
            stop.set()
            for t in threads:
                t.join(timeout=120)
        self.assertEqual([t for t in threads if t.is_alive()], [])
        # the load lasted until after the last reload: the cap did not end it
        self.assertLess(len(results) + len(failures), request_cap)
        self.assertEqual(reloads, 5)
        self.assertEqual(failures, [], "%d requests lost" % len(failures))
        bad = [r for r in results if r[0] not in (200, 401) or r[1] not in ("new", "legacy")]
        self.assertEqual(bad, [])


# ---- protection ----

def non_loopback_address():
    """An IPv4 address of this host that is not loopback, or None."""
    done = subprocess.run(["ip", "-4", "-o", "addr", "show"], capture_output=True, text=True,
                          timeout=10)
    for match in re.finditer(r"inet (\d+\.\d+\.\d+\.\d+)/", done.stdout):
        if not match.group(1).startswith("127."):
            return match.group(1)
    return None


def request_from(source, method, path, headers=None):
    """One request to nginx's HTTP port from the local address source."""
    host, port = http_address()
    conn = http.client.HTTPConnection(host, port, timeout=10, source_address=(source, 0))
    try:
        conn.request(method, path, headers=headers or {})
        resp = conn.getresponse()
        return lib.Response(resp.status, resp.headers, resp.read(), 0)
    finally:
        conn.close()


class ProtectionTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.token = lib.token(lib.unique("user_edge"))

    def test_body_over_8_mib_is_413_json(self):
        body = b'{"title":"' + b"x" * (9 * 1024 * 1024) + b'"}'
        resp = lib.post("/api/chats", data=body, content_type="application/json",
                        token=self.token, timeout=30)
        lib.assert_error_body(resp, 413, "payload_too_large")
        self.assertEqual(resp.header("X-Chat-Backend"), "new")

    def test_message_of_1_mib_content_escaped_to_2_mib_is_admitted(self):
        chat = lib.post("/api/chats", {"title": "big"}, token=self.token)
        self.assertEqual(chat.status, 201, chat)
        content = '"' * (1024 * 1024)  # 1 MiB of content, 2 MiB of JSON
        resp = lib.post("/api/chats/%s/messages" % urllib.parse.quote(chat.json["chat"]["id"], safe=""),
                        {"content": content, "role": "user"}, token=self.token, timeout=60)
        self.assertEqual(resp.status, 201, resp)

    def test_writes_over_the_rate_are_429_json_and_reads_are_counted_apart(self):
        reload_nginx(WRITE_RATE_LIMIT="1r/m", WRITE_RATE_BURST="3")
        try:
            statuses = []
            for _ in range(8):
                resp = lib.post("/api/chats", {"title": "rate"}, token=self.token)
                statuses.append(resp.status)
                if resp.status == 429:
                    lib.assert_error_body(resp, 429, "rate_limited")
            # the rate's one plus a burst of 3 at most (earlier writes of this
            # address may have used some), then only refusals
            allowed = statuses.index(429) if 429 in statuses else len(statuses)
            self.assertTrue(1 <= allowed <= 4, statuses)
            self.assertEqual(statuses, [201] * allowed + [429] * (8 - allowed))
            reads = [lib.get("/api/chats?limit=1", token=self.token).status for _ in range(20)]
            self.assertEqual(set(reads), {200})
        finally:
            restore_nginx()
        self.assertEqual(lib.post("/api/chats", {"title": "after"}, token=self.token).status, 201)

    def test_reads_over_the_rate_are_429_json_and_writes_and_health_are_counted_apart(self):
        reload_nginx(READ_RATE_LIMIT="1r/m", READ_RATE_BURST="3")
        try:
            statuses = []
            for i in range(8):
                # a percent-encoded path is the same path: it is counted too
                path = ("/api/chats?limit=1", "/%61pi/sync?cursor=0", "/api/sync-status")[i % 3]
                resp = lib.get(path, token=self.token)
                statuses.append(resp.status)
                if resp.status == 429:
                    lib.assert_error_body(resp, 429, "rate_limited")
                    self.assertEqual(resp.header("Retry-After"), "1", resp)
            allowed = statuses.index(429) if 429 in statuses else len(statuses)
            self.assertTrue(1 <= allowed <= 4, statuses)
            self.assertEqual(statuses, [200] * allowed + [429] * (8 - allowed))
            self.assertEqual(lib.post("/api/chats", {"title": "write"}, token=self.token).status, 201)
            self.assertEqual({lib.get("/healthz").status for _ in range(5)}, {200})
        finally:
            restore_nginx()
        self.assertEqual(lib.get("/api/chats?limit=1", token=self.token).status, 200)

    def test_requests_in_progress_per_address_over_the_limit_are_429_json(self):
        reload_nginx(CONN_PER_ADDRESS="3")
        host, port = http_address()
        held = []
        try:
            cursor = lib.get("/api/sync?cursor=0", token=self.token)
            self.assertEqual(cursor.status, 200, cursor)
            # Four long-polls (in progress for 30 s): nginx counts a request until
            # it has read the service's end of it, a moment after the client has
            # its answer, so one of them may meet the cursor request still
            # counted; at least three are then in progress, whichever it is.
            time.sleep(0.3)
            for _ in range(4):
                conn = http.client.HTTPConnection(host, port, timeout=45)
                conn.request("GET", "/api/sync?live=1&timeout=30&cursor=%s" % urllib.parse.quote(
                    cursor.json["cursor"], safe=""), headers={"Authorization": "Bearer " + self.token})
                held.append(conn)

            def refused():
                resp = lib.get("/api/chats?limit=1", token=self.token)
                return resp if resp.status == 429 else None

            resp = lib.wait_for(refused, timeout=10, interval=0.2)
            self.assertIsNotNone(resp, "a fourth request in progress was not refused")
            lib.assert_error_body(resp, 429, "rate_limited")
            self.assertEqual(resp.header("Retry-After"), "1", resp)
            for conn in held:
                conn.close()
            held = []
            # the closed ones no longer count
            self.assertEqual(lib.wait_for_status("/api/chats?limit=1", 200, timeout=5,
                                                 token=self.token).status, 200)
        finally:
            for conn in held:
                conn.close()
            restore_nginx()

    def test_import_export_and_metrics_from_a_non_loopback_address_are_403(self):
        source = non_loopback_address()
        if source is None:
            self.skipTest("this host has no non-loopback address to connect from")
        for method, path in (("POST", "/api/import"), ("GET", "/api/export"), ("GET", "/metrics"),
                             ("GET", "/svc/import/metrics")):
            with self.subTest(path=path):
                resp = request_from(source, method, path)
                lib.assert_error_body(resp, 403, "forbidden")
        # the same address reaches the API, and loopback reaches export
        self.assertEqual(request_from(source, "GET", "/healthz").status, 200)
        self.assertNotEqual(lib.get("/api/export").status, 403)

    def test_slow_client_is_cut_off_after_the_header_timeout(self):
        host, port = http_address()
        with socket.create_connection((host, port), timeout=30) as sock:
            sock.sendall(b"GET /api/chats HTTP/1.1\r\nHost: x\r\n")  # and then nothing
            started = time.monotonic()
            try:
                data = sock.recv(4096)
            except ConnectionResetError:
                data = b""
            took = time.monotonic() - started
        # nginx closes the connection (client_header_timeout 10 s); it sends no 408
        self.assertEqual(data, b"")
        self.assertLess(took, 15.0)
        self.assertEqual(lib.get("/healthz").status, 200)

    def test_access_log_is_json_with_request_id_status_upstream_time_and_backend(self):
        rid = lib.unique("edge-log")
        self.assertEqual(lib.get("/healthz", headers={"X-Request-Id": rid}).status, 200)
        log = os.path.join(lib.RUN_DIR, "log", "nginx-access.log")

        def line():
            with open(log) as f:
                return next((json.loads(entry) for entry in f if rid in entry), None)

        entry = lib.wait_for(line, timeout=5)
        self.assertIsNotNone(entry)
        self.assertEqual(entry["requestId"], rid)
        self.assertEqual(entry["status"], 200)
        self.assertEqual(entry["backend"], "new")
        self.assertRegex(entry["upstreamTime"], r"^\d+\.\d{3}$")



if __name__ == "__main__":
    unittest.main()

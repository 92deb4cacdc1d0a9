"""The demo page and the development sign-in (nginx/routes-local.conf,
nginx/dev-token.js; docs/decisions/dev-sign-in.md).

Locally: nginx serves clients/demo/ at / and clients/js/ at /js/ with cache
headers and a CSP whose script hash is the page's import map; GET /dev/token
answers a token for any user that the API accepts, with the claims of
`chatsync token`, and refuses bad arguments. In production: the route, the page
and the library do not exist (the rendered config has none of them, and a
scratch nginx of that render answers 404 JSON)."""
import base64
import glob
import hashlib
import os
import re
import socket
import subprocess
import time
import unittest
import urllib.parse

import lib
import test_edge
import tokens

DEMO = os.path.join(lib.REPO, "clients", "demo")


def dev_token(user, ttl=None, method="GET"):
    query = {"as": user}
    if ttl is not None:
        query["ttl"] = str(ttl)
    return lib.request(method, "/dev/token?" + urllib.parse.urlencode(query))


class DevTokenTest(unittest.TestCase):
    """GET /dev/token on the running (local profile) stack."""

    def test_token_is_accepted_by_the_api_for_that_user(self):
        user = lib.unique("dev_sign_in")
        resp = dev_token(user)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header("Cache-Control"), "no-store")
        self.assertEqual(resp.json["userId"], user)
        token = resp.json["token"]
        chat_id = lib.unique("c_dev")
        made = lib.post("/api/chats", {"id": chat_id, "title": "signed in by nginx"}, token=token)
        self.assertEqual(made.status, 201, made)
        self.assertEqual(made.json["chat"]["userId"], user)
        # the same user through `chatsync token` sees it: one identity
        listed = lib.get("/api/chats", token=lib.token(user))
        self.assertEqual([c["id"] for c in listed.json["chats"]], [chat_id])

    def test_claims_are_those_of_chatsync_token(self):
        before = int(time.time())
        resp = dev_token("claims-user", ttl=90)
        self.assertEqual(resp.status, 200, resp)
        ours = tokens.decode(resp.json["token"])
        cli = tokens.decode(lib.token("claims-user", ttl=90))
        self.assertEqual(ours.header, cli.header)
        self.assertEqual(sorted(ours.claims), sorted(cli.claims))
        self.assertEqual(ours.claims["iss"], cli.claims["iss"])
        self.assertEqual(ours.claims["sub"], "claims-user")
        self.assertEqual(ours.claims["exp"] - ours.claims["iat"], 90)
        self.assertEqual(resp.json["expiresAt"], ours.claims["exp"])
        self.assertGreaterEqual(ours.claims["iat"], before - 1)

    def test_default_lifetime_is_short(self):
        claims = tokens.decode(dev_token("short-lived").json["token"]).claims
        self.assertLessEqual(claims["exp"] - claims["iat"], 3600)

    def test_unicode_user_ids_are_decoded(self):
        resp = dev_token("ünï cøde/ü")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(tokens.decode(resp.json["token"]).claims["sub"], "ünï cøde/ü")

    def test_expired_token_is_refused_by_the_api(self):
        token = dev_token("expiring", ttl=1).json["token"]
        self.assertEqual(lib.get("/api/chats", token=token).status, 200)
        # the services allow 5 s of clock leeway (common/auth_rules.c)
        lib.wait_for(lambda: lib.get("/api/chats", token=token).status == 401, timeout=15)
        self.assertEqual(lib.get("/api/chats", token=token).status, 401)

    def test_bad_arguments_are_400_bodies(self):
        for query in ("", "as=", "as=a&as=b", "as=" + "x" * 256, "as=%01", "as=a&ttl=0",
                      "as=a&ttl=3601", "as=a&ttl=ten", "as=a&ttl=1&ttl=2"):
            with self.subTest(query=query):
                resp = lib.get("/dev/token?" + query)
                lib.assert_error_body(resp, 400, "bad_request")
                self.assertNotIn("token", resp.json)

    def test_other_methods_are_405(self):
        resp = dev_token("someone", method="POST")
        lib.assert_error_body(resp, 405, "method_not_allowed")
        self.assertEqual(resp.header("Allow"), "GET, HEAD")

    def test_the_key_file_is_readable_by_the_master_only(self):
        path = os.path.join(lib.RUN_DIR, "nginx", "dev-token.json")
        self.assertEqual(os.stat(path).st_mode & 0o777, 0o600)


class DemoFilesTest(unittest.TestCase):
    """The demo page and the library's folder on the running stack."""

    def test_page_is_served_with_csp_and_cache_headers(self):
        resp = lib.get("/")
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.header("Content-Type"), "text/html; charset=utf-8")
        self.assertIn(b'<script type="module" src="/app.js">', resp.body)
        self.assertEqual(resp.header("Cache-Control"), "no-cache")
        self.assertEqual(resp.header("X-Content-Type-Options"), "nosniff")
        self.assertTrue(resp.header("ETag"))
        csp = resp.header("Content-Security-Policy")
        self.assertIn("default-src 'self'", csp)
        self.assertIn("connect-src 'self'", csp)
        self.assertNotIn("unsafe-inline", csp)
        self.assertNotIn("unsafe-eval", csp)
        # the import map is an inline script: its hash must be allowed
        with open(os.path.join(DEMO, "index.html"), "rb") as f:
            maps = re.findall(rb'<script type="importmap">(.*?)</script>', f.read(), re.S)
        self.assertEqual(len(maps), 1)
        digest = base64.b64encode(hashlib.sha256(maps[0]).digest()).decode()
        self.assertIn("'sha256-%s'" % digest, csp)
        again = lib.get("/", headers={"If-None-Match": resp.header("ETag")})
        self.assertEqual(again.status, 304)

    def test_modules_and_styles_have_their_types(self):
        for path, ctype in (("/app.js", "text/javascript; charset=utf-8"),
                            ("/client.js", "text/javascript; charset=utf-8"),
                            ("/style.css", "text/css; charset=utf-8")):
            with self.subTest(path=path):
                resp = lib.get(path)
                self.assertEqual(resp.status, 200, resp)
                self.assertEqual(resp.header("Content-Type"), ctype)

    def test_library_folder_serves_files_but_not_other_packages(self):
        for path in ("/js/node_modules/", "/js/node_modules/left-pad/index.js", "/js/.npmrc",
                     "/.gitignore", "/no-such-file.js"):
            with self.subTest(path=path):
                lib.assert_error_body(lib.get(path), 404, "not_found")
        js = os.path.join(lib.REPO, "clients", "js")
        present = sorted(glob.glob(os.path.join(js, "*.js")))
        if present:  # once the library is there
            name = os.path.basename(present[0])
            resp = lib.get("/js/" + name)
            self.assertEqual(resp.status, 200, resp)
            self.assertEqual(resp.header("Content-Type"), "text/javascript; charset=utf-8")
        idb = os.path.join(js, "node_modules", "idb", "build", "index.js")
        if os.path.exists(idb):
            self.assertEqual(lib.get("/js/node_modules/idb/build/index.js").status, 200)

    def test_api_routes_are_unchanged(self):
        lib.assert_error_body(lib.get("/api/no-such-route"), 404, "not_found")
        lib.assert_error_body(lib.get("/api/chats"), 401, "unauthorized")
        self.assertEqual(lib.get("/healthz").status, 200)
        self.assertNotIn("Content-Security-Policy", lib.get("/healthz").headers)


class ProductionProfileTest(test_edge.ScratchRender):
    """The production render has no development sign-in, demo or library."""

    def rendered(self, name, **settings):
        run_dir, files, failed = self.render(name, **settings)
        self.assertIsNone(failed)
        return run_dir, files

    def production(self, name, **settings):
        return self.rendered(name, NGINX_PROFILE="production", TLS_CERT=self.cert,
                             TLS_KEY=self.key, ROLLOUT_PERCENT="100",
                             # a key lying where the local profile would take it
                             DEV_KEY_FILE=tokens.dev_key_file(), **settings)

    def test_rendered_config_has_no_dev_route_key_or_files(self):
        # first a local render in the same folder: nothing of it may stay
        run_dir, local = self.rendered("render", DEV_KEY_FILE=tokens.dev_key_file())
        self.assertIn("location = /dev/token", local["routes-local.conf"])
        self.assertTrue(os.path.exists(os.path.join(run_dir, "nginx", "dev-token.json")))
        _, files = self.production("render")
        self.assertFalse(os.path.exists(os.path.join(run_dir, "nginx", "dev-token.json")))
        active = {name: text for name, text in files.items() if name.endswith(".conf")
                  and name not in ("routes-local.conf", "profile-local.conf")}
        self.assertIn("include routes-production.conf;", active["routes.conf"])
        self.assertIn("include profile-production.conf;", active["nginx.conf"])
        for name, text in active.items():
            code = "\n".join(line.split("#", 1)[0] for line in text.splitlines())
            with self.subTest(file=name):
                for needle in ("/dev/token", "devtoken", "chatsync_dev_key", "dev-token",
                               "clients/demo", "clients/js", "/js/"):
                    self.assertNotIn(needle, code)

    def test_scratch_nginx_answers_404_for_the_dev_route_and_the_demo(self):
        ports = []
        for _ in range(2):
            with socket.socket() as probe:
                probe.bind(("127.0.0.1", 0))
                ports.append(probe.getsockname()[1])
        run_dir, _ = self.production("live", HTTP_LISTEN="127.0.0.1:%d" % ports[0],
                        HTTPS_LISTEN="127.0.0.1:%d" % ports[1])
        nginx = subprocess.Popen(["nginx", "-g", "daemon off;", "-p", os.path.join(run_dir, "nginx"),
                                  "-e", os.path.join(run_dir, "log", "nginx-error.log"),
                                  "-c", os.path.join(run_dir, "nginx", "nginx.conf")],
                                 stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        base = "http://127.0.0.1:%d" % ports[0]

        def answer(path):
            try:
                return lib.get(path, base=base, timeout=5)
            except OSError:
                return None

        try:
            self.assertIsNotNone(lib.wait_for(lambda: answer("/healthz"), timeout=10))
            for path in ("/dev/token?as=alice", "/dev/token?as=alice&ttl=60", "/",
                         "/?as=alice", "/index.html", "/app.js", "/js/index.js"):
                with self.subTest(path=path):
                    resp = answer(path)
                    lib.assert_error_body(resp, 404, "not_found")
                    self.assertNotIn(b"token\":", resp.body)
                    self.assertNotIn("Content-Security-Policy", resp.headers)
        finally:
            nginx.terminate()
            _, errors = nginx.communicate(timeout=15)
        self.assertEqual(nginx.returncode, 0, errors)


if __name__ == "__main__":
    unittest.main()

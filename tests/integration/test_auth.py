"""Auth through nginx (API.md "Auth", DESIGN.md hard part 5, docs/auth.md).

Every refused token is a real development token with exactly one thing
changed and, where the change is in the header or the claims, signed again
with the stack's own key (tokens.py): so each 401 here is for that one thing,
and the control test shows that the same re-signing without a change passes.
"""
import json
import os
import subprocess
import time
import unittest

import lib
import tokens

INVALID_TOKEN = 'Bearer error="invalid_token"'
# Headers that may differ between two otherwise identical answers.
VARYING_HEADERS = {"date", "x-request-id"}
DROP = object()  # a claim to leave out of a forged token


def assert_401(test, resp):
    lib.assert_error_body(resp, 401, "unauthorized")
    test.assertEqual(resp.header("WWW-Authenticate"), INVALID_TOKEN, resp)


def now():
    return int(time.time())


class TokenCheckTest(unittest.TestCase):
    """GET /api/chats with one defect per token; all are 401, the control is 200."""

    @classmethod
    def setUpClass(cls):
        cls.user = lib.unique("user_auth")
        cls.good = lib.token(cls.user, ttl=3600)
        cls.base = tokens.decode(cls.good)

    def claims(self, **changes):
        claims = dict(self.base.claims)
        for name, value in changes.items():
            if value is DROP:
                claims.pop(name, None)
            else:
                claims[name] = value
        return claims

    def forge(self, **changes):
        return tokens.sign_rs(tokens.DEV_KID, self.claims(**changes))

    def get(self, token):
        return lib.get("/api/chats", token=token)

    def assert_refused(self, token):
        assert_401(self, self.get(token))

    def test_valid_token_is_200(self):
        resp = self.get(self.good)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json, {"chats": [], "nextCursor": None})

    def test_resigned_token_without_changes_is_200(self):
        # the control for every forged token below
        forged = self.forge()
        self.assertEqual(forged, self.good, "tokens.py must reproduce `chatsync token` exactly")
        resp = self.get(self.forge(jti="control"))
        self.assertEqual(resp.status, 200, resp)

    def test_expired_token_is_401(self):
        self.assert_refused(self.forge(iat=now() - 3600, nbf=now() - 3600, exp=now() - 60))

    def test_token_accepted_before_exp_is_401_after_it_even_when_cached(self):
        # a verified token is cached until exp (docs/auth.md): the cache must
        # not outlive it. The leeway is 5 s.
        exp = now() + 2
        token = self.forge(jti="cached", exp=exp)
        self.assertEqual(self.get(token).status, 200)
        self.assertEqual(self.get(token).status, 200)  # now from the cache
        time.sleep(max(0, exp + 5 - time.time()) + 1.5)
        self.assert_refused(token)

    def test_exp_missing_is_401(self):
        self.assert_refused(self.forge(exp=DROP))

    def test_exp_as_string_is_401(self):
        self.assert_refused(self.forge(exp=str(now() + 600)))

    def test_exp_as_float_is_401(self):
        for exp in (float(now() + 600), now() + 600.5):
            with self.subTest(exp=exp):
                self.assert_refused(self.forge(exp=exp))

    def test_exp_null_is_401(self):
        self.assert_refused(self.forge(exp=None))

    def test_nbf_in_the_future_is_401(self):
        self.assert_refused(self.forge(nbf=now() + 120))

    def test_nbf_as_string_is_401(self):
        self.assert_refused(self.forge(nbf=str(now() - 10)))

    def test_iat_in_the_future_is_401(self):
        self.assert_refused(self.forge(iat=now() + 120))

    def test_wrong_issuer_is_401(self):
        issuer = self.base.claims["iss"]
        host = issuer.split("://", 1)[1]
        for iss in ("https://evil.example", "http://" + host, host, issuer + "/",
                    issuer.upper(), "", DROP):
            with self.subTest(iss=iss):
                self.assert_refused(self.forge(iss=iss))

    def test_missing_or_empty_sub_is_401(self):
        for sub in (DROP, "", 42):
            with self.subTest(sub=sub):
                self.assert_refused(self.forge(sub=sub))

    def test_azp_and_aud_are_not_checked_when_not_configured(self):
        # The test stack sets neither CLERK_AUTHORIZED_PARTIES nor JWT_AUDIENCE
        # (tests/run.py unsets them); AuthorizedPartyAudienceTest restarts
        # chats-svc with both set to test the refusals.
        resp = self.get(self.forge(azp="https://evil.example", aud="someone-else"))
        self.assertEqual(resp.status, 200, resp)

    def test_tampered_payload_is_401(self):
        claims = self.claims(sub=self.user + "_other")
        tampered = "%s.%s.%s" % (self.base.raw_header, tokens.segment(claims),
                                 self.base.raw_signature)
        self.assert_refused(tampered)

    def test_tampered_signature_is_401(self):
        for index in (0, len(self.base.signature) // 2, len(self.base.signature) - 1):
            with self.subTest(byte=index):
                sig = bytearray(self.base.signature)
                sig[index] ^= 0x01
                tampered = "%s.%s.%s" % (self.base.raw_header, self.base.raw_payload,
                                         tokens.b64url(bytes(sig)))
                self.assert_refused(tampered)

    def test_truncated_or_missing_signature_is_401(self):
        head_payload = self.base.raw_header + "." + self.base.raw_payload
        for token in (head_payload + ".", head_payload, head_payload + "." +
                      tokens.b64url(self.base.signature[:-1])):
            with self.subTest(token=token[-20:]):
                self.assert_refused(token)

    def test_alg_none_is_401(self):
        for alg in ("none", "None", "NONE"):
            header = {"alg": alg, "typ": "JWT", "kid": tokens.DEV_KID}
            unsigned = tokens.segment(header) + "." + self.base.raw_payload
            for token in (unsigned + ".", unsigned + "." + self.base.raw_signature):
                with self.subTest(alg=alg, signed=not token.endswith(".")):
                    self.assert_refused(token)

    def test_hs256_signed_with_the_public_key_is_401(self):
        pems = tokens.public_pems()
        # the secret an attacker would use is the JWKS's own key: same modulus
        with open(tokens.jwks_file()) as f:
            jwks = json.load(f)
        self.assertIn(tokens.jwk_modulus_b64(tokens.dev_key_file()),
                      [k["n"] for k in jwks["keys"]])
        for pem in pems:
            with self.subTest(pem=pem[:30] + b"..." + pem[-5:]):
                self.assert_refused(tokens.sign_hs256(tokens.DEV_KID, self.claims(), pem))

    def test_rs512_signed_with_the_dev_key_is_401(self):
        # a correct RS512 signature by the trusted key: refused only because
        # RS512 is not in the allow-list (JWT_ALGORITHMS default RS256)
        for alg in ("RS512", "RS384"):
            with self.subTest(alg=alg):
                self.assert_refused(tokens.sign_rs(tokens.DEV_KID, self.claims(), alg=alg))

    def test_unknown_kid_with_garbage_signature_is_401(self):
        header = {"alg": "RS256", "typ": "JWT", "kid": lib.unique("no-such-kid")}
        token = (tokens.segment(header) + "." + self.base.raw_payload + "." +
                 tokens.b64url(os.urandom(256)))
        self.assert_refused(token)

    def test_header_tricks_are_401(self):
        claims = self.claims()
        for extra in ({"typ": "JWS"}, {"crit": ["exp"]}, {"kid": ""}, {"kid": None}):
            with self.subTest(header=extra):
                self.assert_refused(tokens.sign_rs(tokens.DEV_KID, claims, header_extra=extra))

    def test_missing_malformed_or_non_bearer_authorization_is_401(self):
        cases = (None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Token " + self.good,
                 "Bearer not.a.jwt", "Bearer " + self.good + " extra",
                 "Bearer " + self.good + "=")
        for value in cases:
            with self.subTest(authorization=(value or "")[:30]):
                headers = {"Authorization": value} if value is not None else {}
                assert_401(self, lib.get("/api/chats", headers=headers))

    def test_refused_token_is_401_on_every_service(self):
        expired = self.forge(exp=now() - 60)
        for method, path, body in (("GET", "/api/chats", None),
                                   ("POST", "/api/chats", {"title": "x"}),
                                   ("GET", "/api/chats/c_x", None),
                                   ("PATCH", "/api/chats/c_x", {"title": "x"}),
                                   ("DELETE", "/api/chats/c_x", None),
                                   ("POST", "/api/chats/c_x/branch", {"fromMessageId": "m"}),
                                   ("GET", "/api/chats/c_x/messages", None),
                                   ("POST", "/api/chats/c_x/messages",
                                    {"content": "x", "role": "user"}),
                                   ("PATCH", "/api/messages/m_x", {"content": "x"}),
                                   ("DELETE", "/api/messages/m_x", None),
                                   ("GET", "/api/sync", None),
                                   ("GET", "/api/sync-status", None)):
            with self.subTest(method=method, path=path):
                assert_401(self, lib.request(method, path, json_body=body, token=expired))


class CookieTest(unittest.TestCase):
    """The __session cookie authenticates reads only (API.md: no CSRF on writes)."""

    @classmethod
    def setUpClass(cls):
        cls.user = lib.unique("user_cookie")
        cls.token = lib.token(cls.user)
        resp = lib.post("/api/chats", {"title": "cookie chat"}, token=cls.token)
        assert resp.status == 201, resp
        cls.chat = resp.json["chat"]
        resp = lib.post("/api/chats/%s/messages" % cls.chat["id"],
                        {"content": "hi", "role": "user"}, token=cls.token)
        assert resp.status == 201, resp
        cls.message = resp.json["message"]

    def cookie(self, token=None):
        return {"Cookie": "theme=dark; __session=%s; other=1" % (token or self.token)}

    def test_cookie_authenticates_get_on_chats_and_messages(self):
        resp = lib.get("/api/chats", headers=self.cookie())
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual([c["id"] for c in resp.json["chats"]], [self.chat["id"]])
        resp = lib.get("/api/chats/" + self.chat["id"], headers=self.cookie())
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual(resp.json["chat"]["userId"], self.user)
        resp = lib.get("/api/chats/%s/messages" % self.chat["id"], headers=self.cookie())
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual([m["id"] for m in resp.json["messages"]], [self.message["id"]])

    def test_cookie_with_a_bad_token_is_401(self):
        expired = tokens.sign_rs(tokens.DEV_KID, dict(tokens.decode(self.token).claims,
                                                      exp=now() - 60))
        assert_401(self, lib.get("/api/chats", headers=self.cookie(expired)))

    def test_writes_with_only_the_cookie_are_401_and_write_nothing(self):
        before = self.rows()
        cid, mid = self.chat["id"], self.message["id"]
        for method, path, body in (("POST", "/api/chats", {"title": "via cookie"}),
                                   ("PATCH", "/api/chats/" + cid, {"title": "via cookie"}),
                                   ("DELETE", "/api/chats/" + cid, None),
                                   ("POST", "/api/chats/%s/branch" % cid, {"fromMessageId": mid}),
                                   ("POST", "/api/chats/%s/messages" % cid,
                                    {"content": "via cookie", "role": "user"}),
                                   ("PATCH", "/api/messages/" + mid, {"content": "via cookie"}),
                                   ("DELETE", "/api/messages/" + mid, None)):
            with self.subTest(method=method, path=path):
                assert_401(self, lib.request(method, path, json_body=body, headers=self.cookie()))
        self.assertEqual(self.rows(), before)

    def rows(self):
        user = self.user.replace("'", "''")
        return (lib.psql("SELECT id, title, version, is_deleted, branches FROM chats "
                         "WHERE user_id = '%s' ORDER BY id" % user),
                lib.psql("SELECT id, content, version, is_deleted FROM messages "
                         "WHERE user_id = '%s' ORDER BY id" % user),
                lib.psql("SELECT version FROM user_versions WHERE user_id = '%s'" % user))


def sql_text(value):
    return "'" + value.replace("'", "''") + "'"


class OwnershipTest(unittest.TestCase):
    """User B, on every endpoint, gets for A's ids exactly what a missing id
    gets (404), and A's data is unchanged afterwards."""

    @classmethod
    def setUpClass(cls):
        cls.user_a, cls.user_b = lib.unique("user_owner_a"), lib.unique("user_owner_b")
        cls.token_a, cls.token_b = lib.token(cls.user_a), lib.token(cls.user_b)
        resp = lib.post("/api/chats", {"title": "A's secret"}, token=cls.token_a)
        assert resp.status == 201, resp
        cls.chat_a = resp.json["chat"]
        cls.messages_a = []
        for i in range(3):
            resp = lib.post("/api/chats/%s/messages" % cls.chat_a["id"],
                            {"content": "a%d" % i, "role": "user"}, token=cls.token_a)
            assert resp.status == 201, resp
            cls.messages_a.append(resp.json["message"])
        resp = lib.post("/api/chats", {"title": "B's own"}, token=cls.token_b)
        assert resp.status == 201, resp
        cls.chat_b = resp.json["chat"]

    def snapshot(self):
        chat = lib.get("/api/chats/" + self.chat_a["id"], token=self.token_a)
        page = lib.get("/api/chats/%s/messages" % self.chat_a["id"], token=self.token_a)
        listing = lib.get("/api/chats", token=self.token_a)
        user = sql_text(self.user_a)
        return (chat.status, chat.json, page.status, page.json, listing.json,
                lib.psql("SELECT id, title, \"timestamp\", branches, is_deleted, version, "
                         "updated_at FROM chats WHERE user_id = %s ORDER BY id" % user),
                lib.psql("SELECT id, chat_id, content, position, attachments, is_deleted, "
                         "version, updated_at FROM messages WHERE user_id = %s ORDER BY id" % user),
                lib.psql("SELECT version FROM user_versions WHERE user_id = %s" % user),
                lib.psql("SELECT count(*) FROM messages WHERE chat_id = %s"
                         % sql_text(self.chat_a["id"])))

    def cases(self):
        """(name, method, path for A's document, path for a missing one, body)."""
        chat_a, msg_a = self.chat_a["id"], self.messages_a[1]["id"]
        missing_chat, missing_msg = lib.unique("c_missing"), lib.unique("m_missing")
        # ids of the same length, so that even Content-Length must match
        missing_chat = (missing_chat + "x" * len(chat_a))[:len(chat_a)]
        missing_msg = (missing_msg + "x" * len(msg_a))[:len(msg_a)]
        return (
            ("get chat", "GET", "/api/chats/%s", chat_a, missing_chat, None),
            ("patch chat", "PATCH", "/api/chats/%s", chat_a, missing_chat, {"title": "pwned"}),
            ("delete chat", "DELETE", "/api/chats/%s", chat_a, missing_chat, None),
            ("branch", "POST", "/api/chats/%s/branch", chat_a, missing_chat,
             {"fromMessageId": msg_a}),
            ("messages page", "GET", "/api/chats/%s/messages", chat_a, missing_chat, None),
            ("messages after", "GET", "/api/chats/%s/messages?after=0&limit=1", chat_a,
             missing_chat, None),
            ("append", "POST", "/api/chats/%s/messages", chat_a, missing_chat,
             {"content": "pwned", "role": "assistant"}),
            ("append at a position", "POST", "/api/chats/%s/messages", chat_a, missing_chat,
             {"content": "pwned", "role": "user", "position": 1}),
            ("patch message", "PATCH", "/api/messages/%s", msg_a, missing_msg,
             {"content": "pwned"}),
            ("patch message attachments", "PATCH", "/api/messages/%s", msg_a, missing_msg,
             {"attachments": {"x": 1}}),
            ("delete message", "DELETE", "/api/messages/%s", msg_a, missing_msg, None),
        )

    def assert_same_404(self, name, make_request):
        theirs = make_request(0)
        missing = make_request(1)
        lib.assert_error_body(theirs, 404, "not_found")
        lib.assert_error_body(missing, 404, "not_found")
        strip = lambda r: {k.lower(): v for k, v in r.headers.items()
                           if k.lower() not in VARYING_HEADERS}
        self.assertEqual(strip(theirs), strip(missing), name)
        body_a, body_m = dict(theirs.json["error"]), dict(missing.json["error"])
        body_a.pop("requestId")
        body_m.pop("requestId")
        self.assertEqual(body_a, body_m, name)

    def test_other_users_ids_are_404_like_missing_ids_on_every_endpoint(self):
        before = self.snapshot()
        for name, method, pattern, theirs, missing, body in self.cases():
            for if_match in (None, '"%d"' % self.chat_a["version"], '"1"'):
                if if_match and method != "PATCH":
                    continue
                with self.subTest(name, if_match=if_match):
                    def send(which, pattern=pattern, method=method, body=body,
                             ids=(theirs, missing), if_match=if_match):
                        headers = {"X-Request-Id": "rid-%d-%s" % (which, "0" * 20)}
                        if if_match:
                            headers["If-Match"] = if_match
                        return lib.request(method, pattern % ids[which], json_body=body,
                                           token=self.token_b, headers=headers)
                    self.assert_same_404(name, send)
        self.assertEqual(self.snapshot(), before, "user B changed user A's data")

    def test_other_users_chat_is_not_in_the_list(self):
        resp = lib.get("/api/chats?limit=200", token=self.token_b)
        self.assertEqual(resp.status, 200, resp)
        self.assertEqual([c["id"] for c in resp.json["chats"]], [self.chat_b["id"]])

    def test_other_users_chat_as_parent_is_404_like_a_missing_one(self):
        before = self.snapshot()
        missing = (lib.unique("c_missing") + "x" * 80)[:len(self.chat_a["id"])]

        def send(which):
            return lib.post("/api/chats", {"title": "child",
                                           "parentChatId": (self.chat_a["id"], missing)[which]},
                            token=self.token_b,
                            headers={"X-Request-Id": "rid-%d-%s" % (which, "0" * 20)})
        self.assert_same_404("create with parentChatId", send)
        self.assertEqual(self.snapshot(), before)

    def test_branching_own_chat_from_other_users_message_is_404(self):
        before = self.snapshot()
        resp = lib.post("/api/chats/%s/branch" % self.chat_b["id"],
                        {"fromMessageId": self.messages_a[0]["id"]}, token=self.token_b)
        lib.assert_error_body(resp, 404, "not_found")
        self.assertEqual(self.snapshot(), before)


class BodyUserIdTest(unittest.TestCase):
    """A userId in a body that is not the token's sub is 400 and writes nothing;
    the token's own sub is accepted."""

    @classmethod
    def setUpClass(cls):
        cls.user = lib.unique("user_bodyid")
        cls.token = lib.token(cls.user)
        resp = lib.post("/api/chats", {"title": "mine"}, token=cls.token)
        assert resp.status == 201, resp
        cls.chat = resp.json["chat"]
        resp = lib.post("/api/chats/%s/messages" % cls.chat["id"],
                        {"content": "m", "role": "user"}, token=cls.token)
        assert resp.status == 201, resp
        cls.message = resp.json["message"]

    def rows(self):
        user = sql_text(self.user)
        return (lib.psql("SELECT count(*), max(version) FROM chats WHERE user_id = %s" % user),
                lib.psql("SELECT count(*), max(version) FROM messages WHERE user_id = %s" % user),
                lib.psql("SELECT version FROM user_versions WHERE user_id = %s" % user))

    def requests(self, user_id):
        cid, mid = self.chat["id"], self.message["id"]
        return (("POST", "/api/chats", {"title": "t", "userId": user_id}),
                ("PATCH", "/api/chats/" + cid, {"title": "t", "userId": user_id}),
                ("POST", "/api/chats/%s/branch" % cid, {"fromMessageId": mid, "userId": user_id}),
                ("POST", "/api/chats/%s/messages" % cid,
                 {"content": "c", "role": "user", "userId": user_id}),
                ("PATCH", "/api/messages/" + mid, {"content": "c", "userId": user_id}))

    def test_other_user_id_in_body_is_400_and_writes_nothing(self):
        before = self.rows()
        for other in (self.user + "x", "", None, 7, [self.user]):
            for method, path, body in self.requests(other):
                with self.subTest(method=method, path=path, userId=other):
                    resp = lib.request(method, path, json_body=body, token=self.token)
                    lib.assert_error_body(resp, 400, "bad_request")
                    self.assertIn("userId", resp.json["error"]["message"])
        self.assertEqual(self.rows(), before)

    def test_own_user_id_in_body_is_accepted(self):
        for method, path, body in self.requests(self.user):
            with self.subTest(method=method, path=path):
                resp = lib.request(method, path, json_body=body, token=self.token)
                self.assertIn(resp.status, (200, 201), resp)
                doc = resp.json.get("chat") or resp.json.get("message")
                self.assertEqual(doc["userId"], self.user)


class AuthorizedPartyAudienceTest(unittest.TestCase):
    """With CLERK_AUTHORIZED_PARTIES and JWT_AUDIENCE set, azp and aud are
    required. The test stack sets neither, so this class restarts chats-svc
    with both (stack.sh up starts only what is missing, with the environment
    it is given) and puts the usual chats-svc back afterwards."""

    PARTIES = "https://app.chatsync.test, http://localhost:3000/"
    AUDIENCE = "chatsync-api"

    @classmethod
    def restart_chats(cls, extra_env):
        lib.stop_service("chats")
        env = {k: v for k, v in os.environ.items()
               if k not in ("CLERK_AUTHORIZED_PARTIES", "JWT_AUDIENCE")}
        env.update(extra_env)
        done = subprocess.run(["bash", lib.STACK_SCRIPT, "up"], env=env, capture_output=True,
                              text=True, timeout=180)
        if done.returncode != 0:
            raise RuntimeError("stack.sh up failed:\n%s%s" % (done.stdout, done.stderr))

    @classmethod
    def setUpClass(cls):
        cls.addClassCleanup(cls.restart_chats, {})
        cls.restart_chats({"CLERK_AUTHORIZED_PARTIES": cls.PARTIES,
                           "JWT_AUDIENCE": cls.AUDIENCE})
        cls.user = lib.unique("user_azp")
        cls.base = dict(tokens.decode(lib.token(cls.user)).claims)
        cls.base.pop("azp", None)
        cls.base.pop("aud", None)

    def forge(self, **claims):
        all_claims = dict(self.base)
        all_claims.update({k: v for k, v in claims.items() if v is not DROP})
        return tokens.sign_rs(tokens.DEV_KID, all_claims)

    def test_listed_azp_and_matching_aud_are_200(self):
        for azp in ("https://app.chatsync.test", "http://localhost:3000"):
            for aud in (self.AUDIENCE, ["other", self.AUDIENCE]):
                with self.subTest(azp=azp, aud=aud):
                    resp = lib.get("/api/chats", token=self.forge(azp=azp, aud=aud))
                    self.assertEqual(resp.status, 200, resp)

    def test_wrong_or_missing_azp_is_401(self):
        for azp in (DROP, "https://evil.example", "https://app.chatsync.test/",
                    "https://app.chatsync.test.evil.example", "", ["https://app.chatsync.test"]):
            with self.subTest(azp=azp):
                assert_401(self, lib.get("/api/chats",
                                         token=self.forge(azp=azp, aud=self.AUDIENCE)))

    def test_wrong_or_missing_aud_is_401(self):
        for aud in (DROP, "other", ["other"], [], "chatsync-api-x", ""):
            with self.subTest(aud=aud):
                assert_401(self, lib.get("/api/chats", token=self.forge(
                    azp="https://app.chatsync.test", aud=aud)))


class JwksRotationTest(unittest.TestCase):
    """A key added to the JWKS file is trusted without a restart. A verifier
    reloads the file on an unknown kid at most once per 30 s per process, so
    the test polls each service for up to 40 s."""

    WAIT_S = 40

    def setUp(self):
        self.jwks_path = tokens.jwks_file()
        with open(self.jwks_path, "rb") as f:
            self.original = f.read()
        self.addCleanup(tokens.write_atomically, self.jwks_path, self.original)

    def test_new_key_in_jwks_file_is_picked_up_without_restart(self):
        pids = {name: lib.service_pid(name) for name in lib.SERVICES}
        user = lib.unique("user_rotated")
        kid = lib.unique("rotated")
        claims = dict(tokens.decode(lib.token(user)).claims)
        paths = {"chats": "/api/chats", "messages": "/api/chats/c_none/messages",
                 "sync": "/api/sync-status"}
        with tokens.TemporaryKey() as key_file:
            token = tokens.sign_rs(kid, claims, key_file=key_file)
            # not trusted before the rotation (asked of sync-svc only: each
            # refusal of an unknown kid costs that process its next 30 s reload)
            assert_401(self, lib.get(paths["sync"], token=token))

            jwks = json.loads(self.original)
            jwks["keys"].append(tokens.jwk(kid, key_file))
            tokens.write_atomically(self.jwks_path, json.dumps(jwks).encode())

            answers, deadline = {}, time.monotonic() + self.WAIT_S
            while len(answers) < len(paths) and time.monotonic() < deadline:
                for name, path in paths.items():
                    if name not in answers:
                        resp = lib.get(path, token=token)
                        if resp.status != 401:
                            answers[name] = resp
                time.sleep(1)
        for name in paths:
            with self.subTest(service=name):
                self.assertIn(name, answers, "%s-svc still refuses the rotated key after %d s"
                              % (name, self.WAIT_S))
                expected = 404 if name == "messages" else 200
                self.assertEqual(answers[name].status, expected, answers[name])
        self.assertEqual(answers["chats"].json, {"chats": [], "nextCursor": None})
        # the old key still works, and nothing was restarted
        self.assertEqual(lib.get("/api/chats", token=lib.token(user)).status, 200)
        self.assertEqual({name: lib.service_pid(name) for name in lib.SERVICES}, pids)


if __name__ == "__main__":
    unittest.main()

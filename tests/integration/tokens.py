"""Forging JWTs for the auth tests (Python standard library plus the openssl CLI).

The standard library cannot sign with RSA, so RSA signatures come from
`openssl dgst -<digest> -sign KEY` (PKCS#1 v1.5, which is what RS256/384/512
are); HS256 is plain `hmac`. A test takes a real development token from
lib.token, changes one thing in it and signs the result again, so that the
token it sends is refused for exactly that one thing:

    base = tokens.decode(lib.token("user_1"))
    claims = dict(base.claims, exp=int(time.time()) - 60)
    bad = tokens.sign_rs(tokens.DEV_KID, claims)          # the stack's own key
"""
import base64
import hashlib
import hmac
import json
import os
import subprocess
import tempfile
import time

import lib

DEV_KID = "dev-1"  # cli/token.c


def b64url(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def segment(obj):
    """A JSON object as a compact base64url segment."""
    return b64url(json.dumps(obj, separators=(",", ":")))


class Token:
    """A compact JWS taken apart: header, claims (dicts), signature bytes."""

    def __init__(self, text):
        self.text = text
        head, payload, sig = text.split(".")
        self.raw_header, self.raw_payload, self.raw_signature = head, payload, sig
        self.header = json.loads(b64url_decode(head))
        self.claims = json.loads(b64url_decode(payload))
        self.signature = b64url_decode(sig)


def decode(text):
    return Token(text)


def dev_key_file():
    return os.path.join(lib.RUN_DIR, "dev", "dev-key.pem")


def jwks_file():
    return os.path.join(lib.RUN_DIR, "dev", "jwks.json")


def openssl(*args, data=None):
    done = subprocess.run(("openssl",) + args, input=data, capture_output=True, timeout=60)
    if done.returncode != 0:
        raise RuntimeError("openssl %s failed: %s" % (" ".join(args), done.stderr.decode()))
    return done.stdout


def rsa_sign(signing_input, key_file, digest="sha256"):
    """PKCS#1 v1.5 signature of signing_input (str) with the PEM key in key_file."""
    return openssl("dgst", "-" + digest, "-sign", key_file, data=signing_input.encode())


def compose(header, claims, sign):
    """header.payload.signature, where sign(signing_input) -> bytes."""
    signing_input = segment(header) + "." + segment(claims)
    return signing_input + "." + b64url(sign(signing_input))


def sign_rs(kid, claims, key_file=None, alg="RS256", header_extra=None):
    """A token signed with an RSA key (default: the stack's development key)."""
    digest = {"RS256": "sha256", "RS384": "sha384", "RS512": "sha512"}[alg]
    header = {"alg": alg, "typ": "JWT", "kid": kid}
    header.update(header_extra or {})
    key_file = key_file or dev_key_file()
    return compose(header, claims, lambda data: rsa_sign(data, key_file, digest))


def sign_hs256(kid, claims, secret):
    header = {"alg": "HS256", "typ": "JWT", "kid": kid}
    return compose(header, claims,
                   lambda data: hmac.new(secret, data.encode(), hashlib.sha256).digest())


def public_pems(key_file=None):
    """The public half of a key as PEM, in the encodings an attacker would try
    as an HMAC secret: SubjectPublicKeyInfo and PKCS#1, with and without the
    final newline."""
    key_file = key_file or dev_key_file()
    spki = openssl("pkey", "-in", key_file, "-pubout")
    pkcs1 = openssl("rsa", "-in", key_file, "-RSAPublicKey_out")
    return [spki, spki.rstrip(b"\n"), pkcs1, pkcs1.rstrip(b"\n")]


def jwk_modulus_b64(key_file):
    """The key's modulus n as JWK base64url (big-endian, no leading zero)."""
    out = openssl("rsa", "-in", key_file, "-noout", "-modulus").decode().strip()
    n = bytes.fromhex(out.split("=", 1)[1])
    return b64url(n.lstrip(b"\x00"))


def new_rsa_key(directory, bits=2048):
    """A fresh RSA key in directory; returns its PEM file path."""
    path = os.path.join(directory, "key-%d.pem" % time.monotonic_ns())
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:%d" % bits, "-out", path)
    return path


def jwk(kid, key_file, alg="RS256"):
    return {"kty": "RSA", "kid": kid, "use": "sig", "alg": alg, "n": jwk_modulus_b64(key_file),
            "e": b64url((65537).to_bytes(3, "big"))}


class TemporaryKey:
    """A new RSA key in a temporary folder: `with TemporaryKey() as path:`."""

    def __enter__(self):
        self._dir = tempfile.TemporaryDirectory()
        return new_rsa_key(self._dir.name)

    def __exit__(self, *exc):
        self._dir.cleanup()


def write_atomically(path, data):
    """Replaces path by data in one rename, so that a service never reads half a file."""
    tmp = "%s.tmp.%d" % (path, os.getpid())
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)

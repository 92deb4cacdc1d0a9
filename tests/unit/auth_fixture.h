/*
 * auth_fixture.h - what the verifier's unit tests (test_auth.c, test_jwks.c)
 * share: three RSA keys made once per group (cli_devkeys_make), a fresh
 * temporary JWKS file and verifier per test, and tokens built here.
 *
 * Tokens with the standard header are signed by cli_devkeys_sign (the
 * dev-token path); forged ones (alg none, HS256, RS512, odd headers) by
 * forge() below. Everything is static inline: each test file is its own
 * binary and uses only a part of it.
 */
#ifndef TEST_AUTH_FIXTURE_H
#define TEST_AUTH_FIXTURE_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "auth.h"
#include "devkeys.h"

#define NOW 1700000000LL
#define ISSUER "https://clerk.example.com"

struct test_key {
	char *pem; /* private, PKCS#8 */
	char *jwk; /* public JWK object text */
	EVP_PKEY *pkey;
};

static struct test_key k1, k2, k3;
static char *k1_public_pem;

struct fixture {
	char dir[64];
	char jwks[128];
	struct cs_auth *auth;
	char err[256];
};

/* ---- building tokens ---- */

static inline void b64url(char *out, const unsigned char *in, size_t len)
{
	static const char a[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = len - i;

		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = a[v >> 18];
		out[o++] = a[(v >> 12) & 63];
		if (left > 1)
			out[o++] = a[(v >> 6) & 63];
		if (left > 2)
			out[o++] = a[v & 63];
	}
	out[o] = '\0';
}

static inline char *b64url_str(const char *s)
{
	char *out = malloc(strlen(s) / 3 * 4 + 8);

	assert_non_null(out);
	b64url(out, (const unsigned char *)s, strlen(s));
	return out;
}

/*
 * input (the "header.payload" text, used as given) and its signature as `how`
 * says: "RS256"/"RS512" with key, "HS256" with secret as the HMAC key, "none"
 * with an empty signature.
 */
static inline char *sign_input(const char *input, const char *how, EVP_PKEY *key,
			       const char *secret)
{
	size_t input_len = strlen(input);
	char *token = malloc(input_len + 2048);
	unsigned char sig[1024];
	size_t sig_len = 0;

	assert_non_null(token);
	if (strcmp(how, "HS256") == 0) {
		unsigned int n = 0;

		assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret),
				     (const unsigned char *)input, input_len, sig, &n));
		sig_len = n;
	} else if (strcmp(how, "none") != 0) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		sig_len = sizeof sig;
		assert_int_equal(EVP_DigestSignInit_ex(
					 ctx, NULL, strcmp(how, "RS512") == 0 ? "SHA512" : "SHA256",
					 NULL, NULL, key, NULL),
				 1);
		assert_int_equal(
			EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, input_len),
			1);
		EVP_MD_CTX_free(ctx);
	}
	memcpy(token, input, input_len);
	token[input_len] = '.';
	b64url(token + input_len + 1, sig, sig_len);
	return token;
}

/* A token of header and payload (JSON or not, whatever alg the header claims), signed as `how` says. */
static inline char *forge(const char *header, const char *payload, const char *how, EVP_PKEY *key,
			  const char *secret)
{
	char *h = b64url_str(header), *p = b64url_str(payload), *input = NULL, *token;

	assert_true(asprintf(&input, "%s.%s", h, p) >= 0);
	token = sign_input(input, how, key, secret);
	free(input);
	free(h);
	free(p);
	return token;
}

/* Claims as JSON text; the default set is valid at NOW. */
static inline char *claims_with(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static inline char *claims_with(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

static inline char *valid_claims(void)
{
	return claims_with(
		"{\"sub\":\"user_1\",\"iss\":\"%s\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
		ISSUER, NOW - 10, NOW - 10, NOW + 3600);
}

/* A standard RS256 token by the production signer. */
static inline char *sign(const struct test_key *k, const char *kid, const char *claims)
{
	char *token = NULL, err[256];

	assert_int_equal(
		cli_devkeys_sign(k->pem, strlen(k->pem), kid, claims, &token, err, sizeof err), 0);
	return token;
}

static inline char *sign_claims(char *claims) /* takes claims */
{
	char *token = sign(&k1, "k1", claims);

	free(claims);
	return token;
}

/* ---- fixtures ---- */

static inline void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static inline void write_jwks(const char *path, const char *jwk_a, const char *jwk_b,
			      const char *jwk_c)
{
	char *doc = NULL;

	assert_true(asprintf(&doc, "{\"keys\":[%s%s%s%s%s]}", jwk_a, jwk_b ? "," : "",
			     jwk_b ? jwk_b : "", jwk_c ? "," : "", jwk_c ? jwk_c : "") >= 0);
	write_file(path, doc);
	free(doc);
}

static inline struct cs_auth_config base_config(const struct fixture *f)
{
	struct cs_auth_config cfg = { .issuer = "clerk.example.com",
				      .jwks_file = f->jwks,
				      .leeway_s = -1 };

	return cfg;
}

static inline struct cs_auth *new_auth(const struct cs_auth_config *cfg)
{
	struct cs_auth *auth = NULL;
	char err[256] = "";

	if (cs_auth_new(cfg, &auth, err, sizeof err) != 0)
		fail_msg("cs_auth_new: %s", err);
	return auth;
}

static inline int setup(void **state)
{
	struct fixture *f = calloc(1, sizeof *f);
	struct cs_auth_config cfg;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_auth.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->jwks, sizeof f->jwks, "%s/jwks.json", f->dir);
	write_jwks(f->jwks, k1.jwk, NULL, NULL);
	cfg = base_config(f);
	f->auth = new_auth(&cfg);
	*state = f;
	return 0;
}

static inline int teardown(void **state)
{
	struct fixture *f = *state;

	cs_auth_free(f->auth);
	unlink(f->jwks);
	rmdir(f->dir);
	free(f);
	return 0;
}

static inline void make_key(struct test_key *k, const char *kid)
{
	char err[256];
	BIO *bio;

	assert_int_equal(cli_devkeys_make(kid, &k->pem, &k->jwk, err, sizeof err), 0);
	bio = BIO_new_mem_buf(k->pem, -1);
	k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k->pkey);
}

static inline int group_setup(void **state)
{
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long len;

	(void)state;
	make_key(&k1, "k1");
	make_key(&k2, "k2");
	make_key(&k3, "k3");
	assert_int_equal(PEM_write_bio_PUBKEY(bio, k1.pkey), 1);
	len = BIO_get_mem_data(bio, &data);
	k1_public_pem = strndup(data, (size_t)len);
	BIO_free(bio);
	return 0;
}

static inline void free_key(struct test_key *k)
{
	free(k->pem);
	free(k->jwk);
	EVP_PKEY_free(k->pkey);
}

static inline int group_teardown(void **state)
{
	(void)state;
	free_key(&k1);
	free_key(&k2);
	free_key(&k3);
	free(k1_public_pem);
	return 0;
}

/* Verifies at now; the result, with the user and error kept in f. */
static inline int verify_at(struct fixture *f, const char *token, long long now,
			    struct cs_auth_user *user)
{
	struct cs_auth_user ignored;

	f->err[0] = '\0';
	return cs_auth_verify(f->auth, token, strlen(token), now, user ? user : &ignored, f->err,
			      sizeof f->err);
}

/* Rejected, and for the reason expected: why is a part of the error message. */
static inline void assert_rejected(struct fixture *f, char *token,
				   const char *why) /* takes token */
{
	struct cs_auth_user user = { "untouched", 42 };

	assert_int_equal(verify_at(f, token, NOW, &user), -1);
	if (!strstr(f->err, why))
		fail_msg("rejected for \"%s\", expected \"%s\"", f->err, why);
	assert_string_equal(user.sub, "untouched"); /* out is written only on success */
	free(token);
}

static inline void assert_accepted(struct fixture *f, char *token) /* takes token */
{
	struct cs_auth_user user;

	if (verify_at(f, token, NOW, &user) != 0)
		fail_msg("rejected: %s", f->err);
	free(token);
}

/* A JSON array nested depth levels deep: "[[...]]". */
static inline char *nested_array(int depth)
{
	char *s = malloc((size_t)depth * 2 + 1);
	int i;

	assert_non_null(s);
	for (i = 0; i < depth; i++) {
		s[i] = '[';
		s[depth * 2 - 1 - i] = ']';
	}
	s[depth * 2] = '\0';
	return s;
}

#endif

/*
 * test_auth.c - the token verifier against tokens built here: every way a
 * token must be refused, the key set's refresh and the cache, and where a
 * request's token may come from.
 *
 * Keys are made once (cs_auth_dev_keypair); each test writes its own JWKS file
 * in a fresh temporary directory and makes its own verifier. Tokens with the
 * standard header are signed by cs_auth_sign_rs256 (the dev-token path);
 * forged ones (alg none, HS256, RS512, odd headers) by forge() below.
 */
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
	char *pem;      /* private, PKCS#8 */
	char *jwk;      /* public JWK object text */
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

static void b64url(char *out, const unsigned char *in, size_t len)
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

static char *b64url_str(const char *s)
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
static char *sign_input(const char *input, const char *how, EVP_PKEY *key, const char *secret)
{
	size_t input_len = strlen(input);
	char *token = malloc(input_len + 2048);
	unsigned char sig[1024];
	size_t sig_len = 0;

	assert_non_null(token);
	if (strcmp(how, "HS256") == 0) {
		unsigned int n = 0;

		assert_non_null(HMAC(EVP_sha256(), secret, (int)strlen(secret), (const unsigned char *)input,
				     input_len, sig, &n));
		sig_len = n;
	} else if (strcmp(how, "none") != 0) {
		EVP_MD_CTX *ctx = EVP_MD_CTX_new();

		sig_len = sizeof sig;
		assert_int_equal(EVP_DigestSignInit_ex(ctx, NULL, strcmp(how, "RS512") == 0 ? "SHA512" : "SHA256",
						       NULL, NULL, key, NULL), 1);
		assert_int_equal(EVP_DigestSign(ctx, sig, &sig_len, (const unsigned char *)input, input_len), 1);
		EVP_MD_CTX_free(ctx);
	}
	memcpy(token, input, input_len);
	token[input_len] = '.';
	b64url(token + input_len + 1, sig, sig_len);
	return token;
}

/* A token of header and payload (JSON or not, whatever alg the header claims), signed as `how` says. */
static char *forge(const char *header, const char *payload, const char *how, EVP_PKEY *key,
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
static char *claims_with(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *claims_with(const char *fmt, ...)
{
	va_list ap;
	char *s = NULL;

	va_start(ap, fmt);
	assert_true(vasprintf(&s, fmt, ap) >= 0);
	va_end(ap);
	return s;
}

static char *valid_claims(void)
{
	return claims_with("{\"sub\":\"user_1\",\"iss\":\"%s\",\"iat\":%lld,\"nbf\":%lld,\"exp\":%lld}",
			   ISSUER, NOW - 10, NOW - 10, NOW + 3600);
}

/* A standard RS256 token by the production signer. */
static char *sign(const struct test_key *k, const char *kid, const char *claims)
{
	char *token = NULL, err[256];

	assert_int_equal(cli_devkeys_sign(k->pem, strlen(k->pem), kid, claims, &token, err, sizeof err), 0);
	return token;
}

static char *sign_claims(char *claims) /* takes claims */
{
	char *token = sign(&k1, "k1", claims);

	free(claims);
	return token;
}

/* ---- fixtures ---- */

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_true(fputs(text, f) >= 0);
	assert_int_equal(fclose(f), 0);
}

static void write_jwks(const char *path, const char *jwk_a, const char *jwk_b, const char *jwk_c)
{
	char *doc = NULL;

	assert_true(asprintf(&doc, "{\"keys\":[%s%s%s%s%s]}", jwk_a, jwk_b ? "," : "", jwk_b ? jwk_b : "",
			     jwk_c ? "," : "", jwk_c ? jwk_c : "") >= 0);
	write_file(path, doc);
	free(doc);
}

static struct cs_auth_config base_config(const struct fixture *f)
{
	struct cs_auth_config cfg = { .issuer = "clerk.example.com", .jwks_file = f->jwks, .leeway_s = -1 };

	return cfg;
}

static struct cs_auth *new_auth(const struct cs_auth_config *cfg)
{
	struct cs_auth *auth = NULL;
	char err[256] = "";

	if (cs_auth_new(cfg, &auth, err, sizeof err) != 0)
		fail_msg("cs_auth_new: %s", err);
	return auth;
}

static int setup(void **state)
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

static int teardown(void **state)
{
	struct fixture *f = *state;

	cs_auth_free(f->auth);
	unlink(f->jwks);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void make_key(struct test_key *k, const char *kid)
{
	char err[256];
	BIO *bio;

	assert_int_equal(cli_devkeys_make(kid, &k->pem, &k->jwk, err, sizeof err), 0);
	bio = BIO_new_mem_buf(k->pem, -1);
	k->pkey = PEM_read_bio_PrivateKey(bio, NULL, NULL, NULL);
	BIO_free(bio);
	assert_non_null(k->pkey);
}

static int group_setup(void **state)
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

static void free_key(struct test_key *k)
{
	free(k->pem);
	free(k->jwk);
	EVP_PKEY_free(k->pkey);
}

static int group_teardown(void **state)
{
	(void)state;
	free_key(&k1);
	free_key(&k2);
	free_key(&k3);
	free(k1_public_pem);
	return 0;
}

/* Verifies at now; the result, with the user and error kept in f. */
static int verify_at(struct fixture *f, const char *token, long long now, struct cs_auth_user *user)
{
	struct cs_auth_user ignored;

	f->err[0] = '\0';
	return cs_auth_verify(f->auth, token, strlen(token), now, user ? user : &ignored, f->err,
			      sizeof f->err);
}

/* Rejected, and for the reason expected: why is a part of the error message. */
static void assert_rejected(struct fixture *f, char *token, const char *why) /* takes token */
{
	struct cs_auth_user user = { "untouched", 42 };

	assert_int_equal(verify_at(f, token, NOW, &user), -1);
	if (!strstr(f->err, why))
		fail_msg("rejected for \"%s\", expected \"%s\"", f->err, why);
	assert_string_equal(user.sub, "untouched"); /* out is written only on success */
	free(token);
}

static void assert_accepted(struct fixture *f, char *token) /* takes token */
{
	struct cs_auth_user user;

	if (verify_at(f, token, NOW, &user) != 0)
		fail_msg("rejected: %s", f->err);
	free(token);
}

/* ---- the valid token ---- */

static void test_verify_accepts_valid_token_and_returns_sub(void **state)
{
	struct fixture *f = *state;
	char *token = sign_claims(valid_claims());
	struct cs_auth_user user;

	assert_int_equal(verify_at(f, token, NOW, &user), 0);
	assert_string_equal(user.sub, "user_1");
	assert_int_equal(user.exp, NOW + 3600);
	free(token);
}

/* ---- time claims ---- */

static void test_verify_rejects_expired_token(void **state)
{
	assert_rejected(*state, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld}",
							ISSUER, NOW - 60)), "expired");
}

static void test_verify_applies_leeway_to_exp(void **state)
{
	struct fixture *f = *state;

	/* default leeway 5 s: 4 s past exp passes, 5 s past does not */
	assert_accepted(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW - 4)));
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW - 5)), "expired");
}

static void test_verify_rejects_missing_exp(void **state)
{
	assert_rejected(*state, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\"}", ISSUER)), "no exp claim");
}

static void test_verify_rejects_string_exp(void **state)
{
	assert_rejected(*state, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":\"%lld\"}",
							ISSUER, NOW + 3600)), "exp claim is not an integer");
}

static void test_verify_rejects_float_exp(void **state)
{
	assert_rejected(*state, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld.0}",
							ISSUER, NOW + 3600)), "exp claim is not an integer");
}

static void test_verify_rejects_null_exp(void **state)
{
	assert_rejected(*state, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":null}", ISSUER)), "exp claim is not an integer");
}

static void test_verify_rejects_nbf_in_future(void **state)
{
	struct fixture *f = *state;

	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"nbf\":%lld,\"exp\":%lld}",
						   ISSUER, NOW + 60, NOW + 3600)), "not valid yet");
	/* within the leeway is fine */
	assert_accepted(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"nbf\":%lld,\"exp\":%lld}",
						   ISSUER, NOW + 3, NOW + 3600)));
}

static void test_verify_rejects_string_nbf(void **state)
{
	assert_rejected(*state, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"nbf\":\"0\",\"exp\":%lld}",
							ISSUER, NOW + 3600)), "nbf claim is not an integer");
}

static void test_verify_rejects_iat_in_future(void **state)
{
	assert_rejected(*state, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
							ISSUER, NOW + 60, NOW + 3600)), "issued in the future");
}

/* ---- issuer, subject, azp, aud ---- */

static void test_verify_rejects_wrong_issuer(void **state)
{
	struct fixture *f = *state;

	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"https://evil.example.com\",\"exp\":%lld}",
						   NOW + 3600)), "issuer");
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s.evil.com\",\"exp\":%lld}",
						   ISSUER, NOW + 3600)), "issuer");
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"exp\":%lld}", NOW + 3600)), "issuer");
}

static void test_verify_accepts_issuer_configured_with_or_without_https(void **state)
{
	struct fixture *f = *state;
	const char *forms[] = { "clerk.example.com", "https://clerk.example.com", "https://clerk.example.com/" };
	size_t i;

	for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		struct cs_auth_config cfg = base_config(f);

		cfg.issuer = forms[i];
		cs_auth_free(f->auth);
		f->auth = new_auth(&cfg);
		assert_accepted(f, sign_claims(valid_claims()));
		/* the token's iss itself must be the full https:// form */
		assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"clerk.example.com\",\"exp\":%lld}",
							   NOW + 3600)), "issuer");
	}
}

static void test_verify_rejects_missing_or_empty_sub(void **state)
{
	struct fixture *f = *state;

	assert_rejected(f, sign_claims(claims_with("{\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 3600)), "no sub claim");
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 3600)), "no sub claim");
	assert_rejected(f, sign_claims(claims_with("{\"sub\":42,\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 3600)), "no sub claim");
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"a\\nb\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 3600)), "sub claim is not a usable user id");
}

static void test_verify_rejects_duplicate_claims(void **state)
{
	assert_rejected(*state, sign_claims(claims_with("{\"sub\":\"a\",\"sub\":\"b\",\"iss\":\"%s\",\"exp\":%lld}",
							ISSUER, NOW + 3600)), "payload");
}

static void use_parties(struct fixture *f)
{
	struct cs_auth_config cfg = base_config(f);

	cfg.authorized_parties = "https://app.example.com, http://localhost:3000/";
	cs_auth_free(f->auth);
	f->auth = new_auth(&cfg);
}

static void test_verify_accepts_authorized_azp(void **state)
{
	struct fixture *f = *state;

	use_parties(f);
	assert_accepted(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"azp\":\"http://localhost:3000\",\"exp\":%lld}",
						   ISSUER, NOW + 3600)));
}

static void test_verify_rejects_unauthorized_azp(void **state)
{
	struct fixture *f = *state;

	use_parties(f);
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"azp\":\"https://evil.example.com\",\"exp\":%lld}",
						   ISSUER, NOW + 3600)), "azp is not an authorized party");
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"azp\":[\"https://app.example.com\"],\"exp\":%lld}",
						   ISSUER, NOW + 3600)), "azp is not an authorized party");
}

static void test_verify_rejects_missing_azp_when_parties_configured(void **state)
{
	struct fixture *f = *state;

	use_parties(f);
	assert_rejected(f, sign_claims(valid_claims()), "no azp claim");
}

static void use_audience(struct fixture *f)
{
	struct cs_auth_config cfg = base_config(f);

	cfg.audience = "convex";
	cs_auth_free(f->auth);
	f->auth = new_auth(&cfg);
}

static void test_verify_checks_audience_string_or_array(void **state)
{
	struct fixture *f = *state;

	use_audience(f);
	assert_accepted(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"aud\":\"convex\",\"exp\":%lld}",
						   ISSUER, NOW + 3600)));
	assert_accepted(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"aud\":[\"x\",\"convex\"],\"exp\":%lld}",
						   ISSUER, NOW + 3600)));
}

static void test_verify_rejects_wrong_or_missing_audience(void **state)
{
	struct fixture *f = *state;

	use_audience(f);
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"aud\":\"other\",\"exp\":%lld}",
						   ISSUER, NOW + 3600)), "audience does not match");
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"aud\":[\"other\"],\"exp\":%lld}",
						   ISSUER, NOW + 3600)), "audience does not match");
	assert_rejected(f, sign_claims(valid_claims()), "no aud claim");
}

/* ---- signatures and algorithms ---- */

static void test_verify_rejects_tampered_payload(void **state)
{
	struct fixture *f = *state;
	char *good = sign_claims(valid_claims());
	char *claims = claims_with("{\"sub\":\"admin\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 3600);
	char *payload = b64url_str(claims);
	char *dot1 = strchr(good, '.'), *dot2 = strchr(dot1 + 1, '.');
	char *forged = NULL;

	assert_true(asprintf(&forged, "%.*s.%s%s", (int)(dot1 - good), good, payload, dot2) >= 0);
	assert_rejected(f, forged, "signature is invalid");
	free(good);
	free(claims);
	free(payload);
}

static void test_verify_rejects_tampered_signature(void **state)
{
	struct fixture *f = *state;
	char *token = sign_claims(valid_claims());
	char *sig = strrchr(token, '.') + 1;

	sig[10] = sig[10] == 'A' ? 'B' : 'A';
	assert_rejected(f, token, "signature is invalid");
}

static void test_verify_rejects_token_signed_by_another_key(void **state)
{
	char *claims = valid_claims();

	assert_rejected(*state, sign(&k2, "k1", claims), "signature is invalid"); /* k2's signature under k1's kid */
	free(claims);
}

static void test_verify_rejects_alg_none(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();

	assert_rejected(f, forge("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, "none", NULL, NULL), "algorithm is not allowed");
	assert_rejected(f, forge("{\"alg\":\"None\",\"kid\":\"k1\"}", claims, "none", NULL, NULL), "algorithm is not allowed");
	/* an RS256 header with the signature left off */
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims, "none", NULL, NULL), "signature is not base64url");
	free(claims);
}

static void test_verify_rejects_hs256_signed_with_public_key(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();

	assert_rejected(f, forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, "HS256", NULL,
				 k1_public_pem), "algorithm is not allowed");
	/* the same HMAC under a header that claims RS256 */
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, "HS256", NULL,
				 k1_public_pem), "signature has the wrong length");
	free(claims);
}

static void test_new_rejects_algorithms_other_than_rsa(void **state)
{
	struct fixture *f = *state;
	const char *lists[] = { "HS256", "RS256,none", "ES256", " , " };
	size_t i;

	for (i = 0; i < sizeof lists / sizeof lists[0]; i++) {
		struct cs_auth_config cfg = base_config(f);
		struct cs_auth *auth = NULL;
		char err[256] = "";

		cfg.algorithms = lists[i];
		assert_int_equal(cs_auth_new(&cfg, &auth, err, sizeof err), -1);
		assert_null(auth);
		assert_true(err[0] != '\0');
	}
}

static void test_verify_rejects_rs512_when_only_rs256_allowed(void **state)
{
	char *claims = valid_claims();

	assert_rejected(*state, forge("{\"alg\":\"RS512\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, "RS512", k1.pkey,
				      NULL), "algorithm is not allowed");
	free(claims);
}

static void test_verify_accepts_rs512_when_allowed_by_config(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_config cfg = base_config(f);
	char *claims = valid_claims();

	/* a JWK without alg may serve any allowed algorithm */
	{
		json_t *jwk = json_loads(k1.jwk, 0, NULL);
		char *text;

		json_object_del(jwk, "alg");
		text = json_dumps(jwk, JSON_COMPACT);
		write_jwks(f->jwks, text, NULL, NULL);
		free(text);
		json_decref(jwk);
	}
	cfg.algorithms = "RS256, RS512";
	cs_auth_free(f->auth);
	f->auth = new_auth(&cfg);
	assert_accepted(f, forge("{\"alg\":\"RS512\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, "RS512", k1.pkey, NULL));
	/* a header that says RS512 over an RS256 signature fails */
	assert_rejected(f, forge("{\"alg\":\"RS512\",\"kid\":\"k1\"}", claims, "RS256", k1.pkey, NULL), "signature is invalid");
	free(claims);
}

static void test_verify_rejects_algorithm_other_than_the_jwk_alg(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_config cfg = base_config(f);
	char *claims = valid_claims();

	cfg.algorithms = "RS256,RS512"; /* k1's JWK says alg RS256 */
	cs_auth_free(f->auth);
	f->auth = new_auth(&cfg);
	assert_rejected(f, forge("{\"alg\":\"RS512\",\"kid\":\"k1\"}", claims, "RS512", k1.pkey, NULL), "not for its algorithm");
	free(claims);
}

static void test_verify_rejects_typ_other_than_jwt(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();

	assert_rejected(f, forge("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", claims, "RS256", k1.pkey, NULL), "typ is not JWT");
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"typ\":1,\"kid\":\"k1\"}", claims, "RS256", k1.pkey, NULL), "typ is not JWT");
	assert_accepted(f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims, "RS256", k1.pkey, NULL));
	free(claims);
}

/* A JSON array nested depth levels deep: "[[...]]". */
static char *nested_array(int depth)
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

/* A header or payload of 32 levels is read; of 33, refused before jansson sees it. */
static void test_verify_bounds_the_nesting_of_header_and_payload(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims(), *deep31 = nested_array(31), *deep32 = nested_array(32);
	char *header = NULL, *payload = NULL;

	assert_true(asprintf(&header, "{\"alg\":\"RS256\",\"kid\":\"k1\",\"x\":%s}", deep31) >= 0);
	assert_accepted(f, forge(header, claims, "RS256", k1.pkey, NULL));
	free(header);
	assert_true(asprintf(&header, "{\"alg\":\"RS256\",\"kid\":\"k1\",\"x\":%s}", deep32) >= 0);
	assert_rejected(f, forge(header, claims, "RS256", k1.pkey, NULL), "token header");
	free(header);
	claims[strlen(claims) - 1] = '\0';
	assert_true(asprintf(&payload, "%s,\"x\":%s}", claims, deep32) >= 0);
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", payload, "RS256", k1.pkey, NULL), "payload");
	free(payload);
	free(claims);
	free(deep31);
	free(deep32);
}

struct deep_verify {
	struct fixture *f;
	char *token;
	int rc;
};

static void *verify_on_small_stack(void *arg)
{
	struct deep_verify *v = arg;

	v->rc = verify_at(v->f, v->token, NOW, NULL);
	return NULL;
}

/*
 * The crash of issue 11: a forged header 2,000 levels deep, verified on a
 * 64 KiB worker stack, is refused instead of overflowing it.
 */
static void test_verify_refuses_a_deep_forged_header_on_a_64_kib_stack(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims(), *header = malloc(6 * 2000 + 64);
	struct deep_verify v = { f, NULL, 0 };
	pthread_attr_t attr;
	pthread_t thread;
	size_t n = 0;
	int i;

	assert_non_null(header);
	for (i = 0; i < 2000; i++)
		n += (size_t)sprintf(header + n, "{\"a\":");
	sprintf(header + n, "1");
	v.token = forge(header, claims, "RS256", k1.pkey, NULL);
	assert_int_equal(pthread_attr_init(&attr), 0);
	assert_int_equal(pthread_attr_setstacksize(&attr, 64 * 1024), 0);
	assert_int_equal(pthread_create(&thread, &attr, verify_on_small_stack, &v), 0);
	assert_int_equal(pthread_join(thread, NULL), 0);
	assert_int_equal(v.rc, -1);
	assert_non_null(strstr(f->err, "token header"));
	pthread_attr_destroy(&attr);
	free(v.token);
	free(header);
	free(claims);
}

/* A JWKS nested past its bound is refused as a whole, like any malformed key set. */
static void test_jwks_nested_too_deep_is_refused(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_config cfg = base_config(f);
	char *deep = nested_array(40), *jwk = NULL, *claims = valid_claims();

	assert_true(asprintf(&jwk, "{\"kty\":\"RSA\",\"x\":%s}", deep) >= 0);
	write_jwks(f->jwks, jwk, k1.jwk, NULL);
	cs_auth_free(f->auth);
	f->auth = new_auth(&cfg);
	assert_rejected(f, sign_claims(claims), "");
	assert_non_null(strstr(f->err, "nested deeper"));
	write_jwks(f->jwks, k1.jwk, NULL, NULL);
	free(jwk);
	free(deep);
}

static void test_verify_rejects_crit_header(void **state)
{
	char *claims = valid_claims();

	assert_rejected(*state, forge("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}", claims, "RS256",
				      k1.pkey, NULL), "crit");
	free(claims);
}

static void test_verify_ignores_jku_and_x5u(void **state)
{
	char *claims = valid_claims();

	/* signed by k2, pointing at a key set that would hold k2: still only our JWKS counts */
	assert_rejected(*state, forge("{\"alg\":\"RS256\",\"kid\":\"k1\",\"jku\":\"https://evil.example.com/jwks.json\","
				      "\"x5u\":\"https://evil.example.com/cert.pem\"}",
				      claims, "RS256", k2.pkey, NULL), "signature is invalid");
	free(claims);
}

/* ---- kid and the key set ---- */

static void test_verify_rejects_unknown_kid_with_garbage_signature(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();
	char *h = b64url_str("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"secret-kid-xyz\"}");
	char *p = b64url_str(claims), *token = NULL;

	assert_true(asprintf(&token, "%s.%s.Z2FyYmFnZQ", h, p) >= 0);
	assert_int_equal(verify_at(f, token, NOW, NULL), -1);
	assert_null(strstr(f->err, "secret-kid-xyz")); /* nothing of the token in the message */
	free(token);
	free(h);
	free(p);
	free(claims);
}

static void test_verify_rejects_header_without_kid(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();

	assert_rejected(f, forge("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims, "RS256", k1.pkey, NULL), "no usable kid");
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":\"\"}", claims, "RS256", k1.pkey, NULL), "no usable kid");
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":7}", claims, "RS256", k1.pkey, NULL), "no usable kid");
	free(claims);
}

static void test_verify_rejects_overlong_kid(void **state)
{
	char header[512], kid[300], *claims = valid_claims();

	memset(kid, 'k', sizeof kid - 1);
	kid[sizeof kid - 1] = '\0';
	snprintf(header, sizeof header, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", kid);
	assert_rejected(*state, forge(header, claims, "RS256", k1.pkey, NULL), "no usable kid");
	free(claims);
}

static void test_verify_rejects_jwks_key_of_wrong_type(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_config cfg = base_config(f);
	const char *ec = "{\"kty\":\"EC\",\"kid\":\"k1\",\"use\":\"sig\",\"crv\":\"P-256\","
			 "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
			 "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";

	write_jwks(f->jwks, ec, NULL, NULL);
	cs_auth_free(f->auth);
	f->auth = new_auth(&cfg);
	assert_rejected(f, sign_claims(valid_claims()), "not an rsa key");

	/* beside a good key, the EC key is skipped and the good key still works */
	write_jwks(f->jwks, ec, k2.jwk, NULL);
	cs_auth_free(f->auth);
	f->auth = new_auth(&cfg);
	{
		char *claims = valid_claims();

		assert_accepted(f, sign(&k2, "k2", claims));
		assert_rejected(f, sign(&k1, "k1", claims), "no signing key matches");
		free(claims);
	}
}

static void test_verify_rejects_when_jwks_is_unusable(void **state)
{
	struct fixture *f = *state;
	const char *docs[] = { "", "not json", "{\"keys\":{}}", "[]",
			       "{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}" };
	size_t i;

	for (i = 0; i < sizeof docs / sizeof docs[0]; i++) {
		struct cs_auth_config cfg = base_config(f);

		write_file(f->jwks, docs[i]);
		cs_auth_free(f->auth);
		f->auth = new_auth(&cfg);
		assert_rejected(f, sign_claims(valid_claims()), "could not load signing keys");
	}
	unlink(f->jwks); /* a missing file too */
	{
		struct cs_auth_config cfg = base_config(f);

		cs_auth_free(f->auth);
		f->auth = new_auth(&cfg);
		assert_rejected(f, sign_claims(valid_claims()), "could not load signing keys");
	}
}

static void test_new_succeeds_with_unreachable_jwks_url(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_config cfg = { .issuer = "clerk.example.com", .jwks_url = "http://127.0.0.1:1/jwks.json",
				      .leeway_s = -1 };
	struct cs_auth_stats stats;

	cs_auth_free(f->auth);
	f->auth = new_auth(&cfg); /* no fetch at start */
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.jwks_loads, 0);
	assert_rejected(f, sign_claims(valid_claims()), "could not fetch jwks");
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.jwks_loads, 1);
	assert_int_equal(stats.jwks_load_errors, 1);
}

static void test_new_fails_without_issuer(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_config cfg = base_config(f);
	struct cs_auth *auth = NULL;
	char err[256] = "";

	cfg.issuer = NULL;
	assert_int_equal(cs_auth_new(&cfg, &auth, err, sizeof err), -1);
	assert_null(auth);
	assert_non_null(strstr(err, "CLERK_JWT_ISSUER_DOMAIN"));
	cfg.issuer = "";
	assert_int_equal(cs_auth_new(&cfg, &auth, err, sizeof err), -1);
	cfg.issuer = "ftp://clerk.example.com";
	assert_int_equal(cs_auth_new(&cfg, &auth, err, sizeof err), -1);
	cfg.issuer = "https://";
	assert_int_equal(cs_auth_new(&cfg, &auth, err, sizeof err), -1);
	cfg.issuer = "clerk.example.com";
	cfg.leeway_s = 301;
	assert_int_equal(cs_auth_new(&cfg, &auth, err, sizeof err), -1);
	assert_null(auth);
}

static void test_verify_picks_up_rotated_key_and_rate_limits_refetch(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();
	char *t1 = sign(&k1, "k1", claims), *t2 = sign(&k2, "k2", claims), *t3 = sign(&k3, "k3", claims);
	struct cs_auth_stats stats;

	assert_int_equal(verify_at(f, t1, NOW, NULL), 0); /* first use loads the file */
	write_jwks(f->jwks, k1.jwk, k2.jwk, NULL);

	/* within 30 s of the last load: k2 is not looked for */
	assert_int_equal(verify_at(f, t2, NOW + 10, NULL), -1);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.jwks_loads, 1);

	/* 30 s later the unknown kid reloads the file, without a new verifier */
	assert_int_equal(verify_at(f, t2, NOW + 30, NULL), 0);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.jwks_loads, 2);

	/* a second unknown kid within 30 s does not reload, however often it comes */
	write_jwks(f->jwks, k1.jwk, k2.jwk, k3.jwk);
	assert_int_equal(verify_at(f, t3, NOW + 40, NULL), -1);
	assert_int_equal(verify_at(f, t3, NOW + 45, NULL), -1);
	assert_int_equal(verify_at(f, t3, NOW + 59, NULL), -1);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.jwks_loads, 2);
	assert_int_equal(verify_at(f, t3, NOW + 60, NULL), 0);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.jwks_loads, 3);

	/* known keys are still served (from the cache or the set) meanwhile */
	assert_int_equal(verify_at(f, t1, NOW + 61, NULL), 0);
	free(t1);
	free(t2);
	free(t3);
	free(claims);
}

static void test_verify_keeps_old_keys_when_reload_fails(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();
	char *t1 = sign(&k1, "k1", claims), *t1b = sign_claims(claims_with(
		"{\"sub\":\"other\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 3600));
	char *t2 = sign(&k2, "k2", claims);

	assert_int_equal(verify_at(f, t1, NOW, NULL), 0);
	write_file(f->jwks, "{broken");
	assert_int_equal(verify_at(f, t2, NOW + 30, NULL), -1); /* reload fails */
	assert_int_equal(verify_at(f, t1b, NOW + 31, NULL), 0); /* k1 still known */
	free(t1);
	free(t1b);
	free(t2);
	free(claims);
}

/* ---- malformed tokens ---- */

static void test_verify_rejects_wrong_segment_count(void **state)
{
	struct fixture *f = *state;
	char *token = sign_claims(valid_claims());
	char *two = strndup(token, (size_t)(strrchr(token, '.') - token));
	char *four = NULL;

	assert_true(asprintf(&four, "%s.AAAA", token) >= 0);
	assert_rejected(f, two, "segments");
	assert_rejected(f, four, "segments");
	assert_rejected(f, strdup("abc"), "segments");
	assert_rejected(f, strdup(".."), "header");
	assert_rejected(f, strdup("..."), "segments");
	free(token);
}

static void test_verify_rejects_bad_base64(void **state)
{
	struct fixture *f = *state;
	char *token = sign_claims(valid_claims());
	char *h = b64url_str("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}");
	char *p = b64url_str("{\"sub\":\"u\"}"); /* 15 characters: the last one has 2 unused bits */
	char *copy = NULL;

	copy = strdup(token);
	copy[3] = '+'; /* base64, not base64url */
	assert_rejected(f, copy, "header");
	copy = strdup(token);
	copy[strlen(copy) - 20] = '/';
	assert_rejected(f, copy, "signature is not base64url");
	copy = NULL;
	assert_true(asprintf(&copy, "%s=", token) >= 0); /* padding */
	assert_rejected(f, copy, "signature is not base64url");
	copy = NULL;
	assert_true(asprintf(&copy, "%s\n", token) >= 0);
	assert_rejected(f, copy, "signature is not base64url");

	/* correctly signed over a payload segment that is not base64url */
	copy = NULL;
	assert_true(asprintf(&copy, "%s.%s*", h, p) >= 0);
	assert_rejected(f, sign_input(copy, "RS256", k1.pkey, NULL), "payload");
	free(copy);
	copy = NULL;
	assert_true(asprintf(&copy, "%s.%s==", h, p) >= 0);
	assert_rejected(f, sign_input(copy, "RS256", k1.pkey, NULL), "payload");
	free(copy);
	/* the same, with non-zero unused bits in the last character (a second encoding of the same bytes) */
	assert_int_equal(strlen(p) % 4, 3);
	p[strlen(p) - 1] = (char)(p[strlen(p) - 1] + 1);
	copy = NULL;
	assert_true(asprintf(&copy, "%s.%s", h, p) >= 0);
	assert_rejected(f, sign_input(copy, "RS256", k1.pkey, NULL), "payload");
	free(copy);
	free(h);
	free(p);
	free(token);
}

static void test_verify_rejects_non_json_header_or_payload(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();

	assert_rejected(f, forge("not json", claims, "RS256", k1.pkey, NULL), "header");
	assert_rejected(f, forge("[\"RS256\"]", claims, "RS256", k1.pkey, NULL), "header");
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"} trailing", claims, "RS256", k1.pkey, NULL), "header");
	/* properly signed, but the payload is no JSON object */
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", "not json", "RS256", k1.pkey, NULL), "payload");
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", "\"user_1\"", "RS256", k1.pkey, NULL), "payload");
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", "", "RS256", k1.pkey, NULL), "payload");
	free(claims);
}

static void test_verify_rejects_100kb_token(void **state)
{
	struct fixture *f = *state;
	size_t len = 100 * 1024;
	char *token = malloc(len + 1);

	memset(token, 'A', len);
	token[40] = '.';
	token[len / 2] = '.';
	token[len] = '\0';
	assert_rejected(f, token, "longer than");

	/* and a validly signed one whose claims are padded past the cap */
	{
		char *pad = malloc(20 * 1024), *claims;

		memset(pad, 'x', 20 * 1024 - 1);
		pad[20 * 1024 - 1] = '\0';
		claims = claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld,\"pad\":\"%s\"}", ISSUER, NOW + 3600, pad);
		assert_rejected(f, sign_claims(claims), "longer than");
		free(pad);
	}
}

static void test_verify_rejects_empty_token(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_user user;

	assert_int_equal(cs_auth_verify(f->auth, "", 0, NOW, &user, f->err, sizeof f->err), -1);
	assert_int_equal(cs_auth_verify(f->auth, NULL, 0, NOW, &user, NULL, 0), -1);
}

/* ---- the cache ---- */

static void test_verify_serves_repeated_token_from_cache(void **state)
{
	struct fixture *f = *state;
	char *token = sign_claims(valid_claims());
	struct cs_auth_user user;
	struct cs_auth_stats stats;

	assert_int_equal(verify_at(f, token, NOW, &user), 0);
	assert_int_equal(verify_at(f, token, NOW + 1, &user), 0);
	assert_string_equal(user.sub, "user_1");
	assert_int_equal(user.exp, NOW + 3600);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.verified, 2);
	assert_int_equal(stats.cache_hits, 1);
	free(token);
}

static void test_verify_rejects_cached_token_after_exp(void **state)
{
	struct fixture *f = *state;
	char *token = sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 60));
	struct cs_auth_stats stats;

	assert_int_equal(verify_at(f, token, NOW, NULL), 0);
	assert_int_equal(verify_at(f, token, NOW + 64, NULL), 0); /* within the leeway */
	assert_int_equal(verify_at(f, token, NOW + 65, NULL), -1);
	assert_int_equal(verify_at(f, token, NOW + 3600, NULL), -1);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.rejected, 2);
	free(token);
}

/* ---- threads ---- */

struct thread_arg {
	struct cs_auth *auth;
	char *token;
	int failures;
};

static void *verify_many(void *p)
{
	struct thread_arg *a = p;
	int i;

	for (i = 0; i < 50; i++) {
		struct cs_auth_user user;

		if (cs_auth_verify(a->auth, a->token, strlen(a->token), NOW + i / 10, &user, NULL, 0) != 0 ||
		    strncmp(user.sub, "user_", 5) != 0)
			a->failures++;
	}
	return NULL;
}

static void test_verify_is_thread_safe_from_first_load(void **state)
{
	struct fixture *f = *state;
	struct thread_arg args[8];
	pthread_t threads[8];
	struct cs_auth_stats stats;
	int i;

	write_jwks(f->jwks, k1.jwk, k2.jwk, NULL);
	for (i = 0; i < 8; i++) {
		char *claims = claims_with("{\"sub\":\"user_%d\",\"iss\":\"%s\",\"exp\":%lld}", i, ISSUER,
					   NOW + 3600);

		args[i].auth = f->auth;
		args[i].token = sign(i % 2 ? &k2 : &k1, i % 2 ? "k2" : "k1", claims);
		free(claims);
		args[i].failures = 0;
	}
	for (i = 0; i < 8; i++)
		assert_int_equal(pthread_create(&threads[i], NULL, verify_many, &args[i]), 0);
	for (i = 0; i < 8; i++) {
		assert_int_equal(pthread_join(threads[i], NULL), 0);
		assert_int_equal(args[i].failures, 0);
		free(args[i].token);
	}
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.jwks_loads, 1); /* the others waited for the one load */
	assert_int_equal(stats.verified, 400);
}

/* ---- where the token comes from ---- */

static int from(const char *method, const char *authz, const char *cookie, char *out, size_t outlen)
{
	const char *token = NULL;
	size_t len = 0;

	if (cs_auth_token_from_request(method, authz, cookie, &token, &len) < 0)
		return -1;
	snprintf(out, outlen, "%.*s", (int)len, token);
	return 0;
}

static void test_token_from_request_takes_bearer_header(void **state)
{
	char tok[64];

	(void)state;
	assert_int_equal(from("POST", "Bearer abc.def.ghi", NULL, tok, sizeof tok), 0);
	assert_string_equal(tok, "abc.def.ghi");
	assert_int_equal(from("DELETE", "bearer  abc ", "__session=zzz", tok, sizeof tok), 0);
	assert_string_equal(tok, "abc");
	/* the header wins over the cookie */
	assert_int_equal(from("GET", "Bearer hdr", "__session=cookie", tok, sizeof tok), 0);
	assert_string_equal(tok, "hdr");
}

static void test_token_from_request_rejects_other_schemes(void **state)
{
	char tok[64];

	(void)state;
	assert_int_equal(from("GET", "Basic dXNlcjpwYXNz", NULL, tok, sizeof tok), -1);
	assert_int_equal(from("GET", "Bearer", NULL, tok, sizeof tok), -1);
	assert_int_equal(from("GET", "Bearer ", NULL, tok, sizeof tok), -1);
	assert_int_equal(from("GET", "Bearerabc", NULL, tok, sizeof tok), -1);
	assert_int_equal(from("GET", "Bearer a b", NULL, tok, sizeof tok), -1);
	/* a bad header does not fall back to the cookie */
	assert_int_equal(from("GET", "Basic x", "__session=abc", tok, sizeof tok), -1);
	assert_int_equal(from("GET", NULL, NULL, tok, sizeof tok), -1);
}

static void test_token_from_request_takes_session_cookie_for_get_and_head(void **state)
{
	char tok[64];

	(void)state;
	assert_int_equal(from("GET", NULL, "theme=dark; __session=abc.def.ghi; other=1", tok, sizeof tok), 0);
	assert_string_equal(tok, "abc.def.ghi");
	assert_int_equal(from("HEAD", "", "__session=\"quoted\"", tok, sizeof tok), 0);
	assert_string_equal(tok, "quoted");
	assert_int_equal(from("GET", NULL, "__session_abc=x; __session=real", tok, sizeof tok), 0);
	assert_string_equal(tok, "real");
	assert_int_equal(from("GET", NULL, "__session_abc=x", tok, sizeof tok), -1);
	assert_int_equal(from("GET", NULL, "__session=", tok, sizeof tok), -1);
	assert_int_equal(from("GET", NULL, "x__session=abc", tok, sizeof tok), -1);
}

static void test_token_from_request_refuses_cookie_for_writes(void **state)
{
	const char *methods[] = { "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "get", NULL };
	char tok[64];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof methods / sizeof methods[0]; i++)
		assert_int_equal(from(methods[i], NULL, "__session=abc.def.ghi", tok, sizeof tok), -1);
}

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_verify_accepts_valid_token_and_returns_sub),
		T(test_verify_rejects_expired_token),
		T(test_verify_applies_leeway_to_exp),
		T(test_verify_rejects_missing_exp),
		T(test_verify_rejects_string_exp),
		T(test_verify_rejects_float_exp),
		T(test_verify_rejects_null_exp),
		T(test_verify_rejects_nbf_in_future),
		T(test_verify_rejects_string_nbf),
		T(test_verify_rejects_iat_in_future),
		T(test_verify_rejects_wrong_issuer),
		T(test_verify_accepts_issuer_configured_with_or_without_https),
		T(test_verify_rejects_missing_or_empty_sub),
		T(test_verify_rejects_duplicate_claims),
		T(test_verify_bounds_the_nesting_of_header_and_payload),
		T(test_verify_refuses_a_deep_forged_header_on_a_64_kib_stack),
		T(test_jwks_nested_too_deep_is_refused),
		T(test_verify_accepts_authorized_azp),
		T(test_verify_rejects_unauthorized_azp),
		T(test_verify_rejects_missing_azp_when_parties_configured),
		T(test_verify_checks_audience_string_or_array),
		T(test_verify_rejects_wrong_or_missing_audience),
		T(test_verify_rejects_tampered_payload),
		T(test_verify_rejects_tampered_signature),
		T(test_verify_rejects_token_signed_by_another_key),
		T(test_verify_rejects_alg_none),
		T(test_verify_rejects_hs256_signed_with_public_key),
		T(test_new_rejects_algorithms_other_than_rsa),
		T(test_verify_rejects_rs512_when_only_rs256_allowed),
		T(test_verify_accepts_rs512_when_allowed_by_config),
		T(test_verify_rejects_algorithm_other_than_the_jwk_alg),
		T(test_verify_rejects_typ_other_than_jwt),
		T(test_verify_rejects_crit_header),
		T(test_verify_ignores_jku_and_x5u),
		T(test_verify_rejects_unknown_kid_with_garbage_signature),
		T(test_verify_rejects_header_without_kid),
		T(test_verify_rejects_overlong_kid),
		T(test_verify_rejects_jwks_key_of_wrong_type),
		T(test_verify_rejects_when_jwks_is_unusable),
		T(test_new_succeeds_with_unreachable_jwks_url),
		T(test_new_fails_without_issuer),
		T(test_verify_picks_up_rotated_key_and_rate_limits_refetch),
		T(test_verify_keeps_old_keys_when_reload_fails),
		T(test_verify_rejects_wrong_segment_count),
		T(test_verify_rejects_bad_base64),
		T(test_verify_rejects_non_json_header_or_payload),
		T(test_verify_rejects_100kb_token),
		T(test_verify_rejects_empty_token),
		T(test_verify_serves_repeated_token_from_cache),
		T(test_verify_rejects_cached_token_after_exp),
		T(test_verify_is_thread_safe_from_first_load),
		T(test_token_from_request_takes_bearer_header),
		T(test_token_from_request_rejects_other_schemes),
		T(test_token_from_request_takes_session_cookie_for_get_and_head),
		T(test_token_from_request_refuses_cookie_for_writes),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

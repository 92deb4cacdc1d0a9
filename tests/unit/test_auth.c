/*
 * test_auth.c - the token verifier against tokens built here: every way a
 * token must be refused (its segments, header, signature, algorithm and
 * claims), and the cache of tokens already verified. The key set's loading
 * and refresh are test_jwks.c's, where a request's token comes from
 * test_auth_request.c's; keys, fixtures and token building are in
 * auth_fixture.h.
 */
#include "auth_fixture.h"

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
	assert_rejected(*state,
			sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld}",
						ISSUER, NOW - 60)),
			"expired");
}

static void test_verify_applies_leeway_to_exp(void **state)
{
	struct fixture *f = *state;

	/* default leeway 5 s: 4 s past exp passes, 5 s past does not */
	assert_accepted(f, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld}",
						   ISSUER, NOW - 4)));
	assert_rejected(f,
			sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld}",
						ISSUER, NOW - 5)),
			"expired");
}

static void test_verify_rejects_missing_exp(void **state)
{
	assert_rejected(*state, sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\"}", ISSUER)),
			"no exp claim");
}

static void test_verify_rejects_string_exp(void **state)
{
	assert_rejected(*state,
			sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":\"%lld\"}",
						ISSUER, NOW + 3600)),
			"exp claim is not an integer");
}

static void test_verify_rejects_float_exp(void **state)
{
	assert_rejected(*state,
			sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld.0}",
						ISSUER, NOW + 3600)),
			"exp claim is not an integer");
}

static void test_verify_rejects_null_exp(void **state)
{
	assert_rejected(
		*state,
		sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":null}", ISSUER)),
		"exp claim is not an integer");
}

static void test_verify_rejects_nbf_in_future(void **state)
{
	struct fixture *f = *state;

	assert_rejected(
		f,
		sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"nbf\":%lld,\"exp\":%lld}",
					ISSUER, NOW + 60, NOW + 3600)),
		"not valid yet");
	/* within the leeway is fine */
	assert_accepted(f, sign_claims(claims_with(
				   "{\"sub\":\"u\",\"iss\":\"%s\",\"nbf\":%lld,\"exp\":%lld}",
				   ISSUER, NOW + 3, NOW + 3600)));
}

static void test_verify_rejects_string_nbf(void **state)
{
	assert_rejected(
		*state,
		sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"nbf\":\"0\",\"exp\":%lld}",
					ISSUER, NOW + 3600)),
		"nbf claim is not an integer");
}

static void test_verify_rejects_iat_in_future(void **state)
{
	assert_rejected(
		*state,
		sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"iat\":%lld,\"exp\":%lld}",
					ISSUER, NOW + 60, NOW + 3600)),
		"issued in the future");
}

/* ---- issuer, subject, azp, aud ---- */

static void test_verify_rejects_wrong_issuer(void **state)
{
	struct fixture *f = *state;

	assert_rejected(f,
			sign_claims(claims_with(
				"{\"sub\":\"u\",\"iss\":\"https://evil.example.com\",\"exp\":%lld}",
				NOW + 3600)),
			"issuer");
	assert_rejected(
		f,
		sign_claims(claims_with("{\"sub\":\"u\",\"iss\":\"%s.evil.com\",\"exp\":%lld}",
					ISSUER, NOW + 3600)),
		"issuer");
	assert_rejected(f, sign_claims(claims_with("{\"sub\":\"u\",\"exp\":%lld}", NOW + 3600)),
			"issuer");
}

static void test_verify_accepts_issuer_configured_with_or_without_https(void **state)
{
	struct fixture *f = *state;
	const char *forms[] = { "clerk.example.com", "https://clerk.example.com",
				"https://clerk.example.com/" };
	size_t i;

	for (i = 0; i < sizeof forms / sizeof forms[0]; i++) {
		struct cs_auth_config cfg = base_config(f);

		cfg.issuer = forms[i];
		cs_auth_free(f->auth);
		f->auth = new_auth(&cfg);
		assert_accepted(f, sign_claims(valid_claims()));
		/* the token's iss itself must be the full https:// form */
		assert_rejected(
			f,
			sign_claims(claims_with(
				"{\"sub\":\"u\",\"iss\":\"clerk.example.com\",\"exp\":%lld}",
				NOW + 3600)),
			"issuer");
	}
}

static void test_verify_rejects_missing_or_empty_sub(void **state)
{
	struct fixture *f = *state;

	assert_rejected(
		f, sign_claims(claims_with("{\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 3600)),
		"no sub claim");
	assert_rejected(f,
			sign_claims(claims_with("{\"sub\":\"\",\"iss\":\"%s\",\"exp\":%lld}",
						ISSUER, NOW + 3600)),
			"no sub claim");
	assert_rejected(f,
			sign_claims(claims_with("{\"sub\":42,\"iss\":\"%s\",\"exp\":%lld}", ISSUER,
						NOW + 3600)),
			"no sub claim");
	assert_rejected(f,
			sign_claims(claims_with("{\"sub\":\"a\\nb\",\"iss\":\"%s\",\"exp\":%lld}",
						ISSUER, NOW + 3600)),
			"sub claim is not a usable user id");
}

static void test_verify_rejects_duplicate_claims(void **state)
{
	assert_rejected(
		*state,
		sign_claims(claims_with("{\"sub\":\"a\",\"sub\":\"b\",\"iss\":\"%s\",\"exp\":%lld}",
					ISSUER, NOW + 3600)),
		"payload");
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
	assert_accepted(
		f,
		sign_claims(claims_with(
			"{\"sub\":\"u\",\"iss\":\"%s\",\"azp\":\"http://localhost:3000\",\"exp\":%lld}",
			ISSUER, NOW + 3600)));
}

static void test_verify_rejects_unauthorized_azp(void **state)
{
	struct fixture *f = *state;

	use_parties(f);
	assert_rejected(
		f,
		sign_claims(claims_with(
			"{\"sub\":\"u\",\"iss\":\"%s\",\"azp\":\"https://evil.example.com\",\"exp\":%lld}",
			ISSUER, NOW + 3600)),
		"azp is not an authorized party");
	assert_rejected(
		f,
		sign_claims(claims_with(
			"{\"sub\":\"u\",\"iss\":\"%s\",\"azp\":[\"https://app.example.com\"],\"exp\":%lld}",
			ISSUER, NOW + 3600)),
		"azp is not an authorized party");
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
	assert_accepted(f, sign_claims(claims_with(
				   "{\"sub\":\"u\",\"iss\":\"%s\",\"aud\":\"convex\",\"exp\":%lld}",
				   ISSUER, NOW + 3600)));
	assert_accepted(
		f, sign_claims(claims_with(
			   "{\"sub\":\"u\",\"iss\":\"%s\",\"aud\":[\"x\",\"convex\"],\"exp\":%lld}",
			   ISSUER, NOW + 3600)));
}

static void test_verify_rejects_wrong_or_missing_audience(void **state)
{
	struct fixture *f = *state;

	use_audience(f);
	assert_rejected(f,
			sign_claims(claims_with(
				"{\"sub\":\"u\",\"iss\":\"%s\",\"aud\":\"other\",\"exp\":%lld}",
				ISSUER, NOW + 3600)),
			"audience does not match");
	assert_rejected(f,
			sign_claims(claims_with(
				"{\"sub\":\"u\",\"iss\":\"%s\",\"aud\":[\"other\"],\"exp\":%lld}",
				ISSUER, NOW + 3600)),
			"audience does not match");
	assert_rejected(f, sign_claims(valid_claims()), "no aud claim");
}

/* ---- signatures and algorithms ---- */

static void test_verify_rejects_tampered_payload(void **state)
{
	struct fixture *f = *state;
	char *good = sign_claims(valid_claims());
	char *claims =
		claims_with("{\"sub\":\"admin\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 3600);
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

	assert_rejected(*state, sign(&k2, "k1", claims),
			"signature is invalid"); /* k2's signature under k1's kid */
	free(claims);
}

static void test_verify_rejects_alg_none(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();

	assert_rejected(f,
			forge("{\"alg\":\"none\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, "none",
			      NULL, NULL),
			"algorithm is not allowed");
	assert_rejected(f, forge("{\"alg\":\"None\",\"kid\":\"k1\"}", claims, "none", NULL, NULL),
			"algorithm is not allowed");
	/* an RS256 header with the signature left off */
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims, "none", NULL, NULL),
			"signature is not base64url");
	free(claims);
}

static void test_verify_rejects_hs256_signed_with_public_key(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();

	assert_rejected(f,
			forge("{\"alg\":\"HS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, "HS256",
			      NULL, k1_public_pem),
			"algorithm is not allowed");
	/* the same HMAC under a header that claims RS256 */
	assert_rejected(f,
			forge("{\"alg\":\"RS256\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, "HS256",
			      NULL, k1_public_pem),
			"signature has the wrong length");
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

	assert_rejected(*state,
			forge("{\"alg\":\"RS512\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims, "RS512",
			      k1.pkey, NULL),
			"algorithm is not allowed");
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
	assert_accepted(f, forge("{\"alg\":\"RS512\",\"typ\":\"JWT\",\"kid\":\"k1\"}", claims,
				 "RS512", k1.pkey, NULL));
	/* a header that says RS512 over an RS256 signature fails */
	assert_rejected(f,
			forge("{\"alg\":\"RS512\",\"kid\":\"k1\"}", claims, "RS256", k1.pkey, NULL),
			"signature is invalid");
	free(claims);
}

static void test_verify_rejects_typ_other_than_jwt(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();

	assert_rejected(f,
			forge("{\"alg\":\"RS256\",\"typ\":\"at+jwt\",\"kid\":\"k1\"}", claims,
			      "RS256", k1.pkey, NULL),
			"typ is not JWT");
	assert_rejected(f,
			forge("{\"alg\":\"RS256\",\"typ\":1,\"kid\":\"k1\"}", claims, "RS256",
			      k1.pkey, NULL),
			"typ is not JWT");
	assert_accepted(
		f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", claims, "RS256", k1.pkey, NULL));
	free(claims);
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
	assert_rejected(
		f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", payload, "RS256", k1.pkey, NULL),
		"payload");
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

static void test_verify_rejects_crit_header(void **state)
{
	char *claims = valid_claims();

	assert_rejected(*state,
			forge("{\"alg\":\"RS256\",\"kid\":\"k1\",\"crit\":[\"exp\"]}", claims,
			      "RS256", k1.pkey, NULL),
			"crit");
	free(claims);
}

static void test_verify_ignores_jku_and_x5u(void **state)
{
	char *claims = valid_claims();

	/* signed by k2, pointing at a key set that would hold k2: still only our JWKS counts */
	assert_rejected(
		*state,
		forge("{\"alg\":\"RS256\",\"kid\":\"k1\",\"jku\":\"https://evil.example.com/jwks.json\","
		      "\"x5u\":\"https://evil.example.com/cert.pem\"}",
		      claims, "RS256", k2.pkey, NULL),
		"signature is invalid");
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

	assert_rejected(
		f, forge("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", claims, "RS256", k1.pkey, NULL),
		"no usable kid");
	assert_rejected(f,
			forge("{\"alg\":\"RS256\",\"kid\":\"\"}", claims, "RS256", k1.pkey, NULL),
			"no usable kid");
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":7}", claims, "RS256", k1.pkey, NULL),
			"no usable kid");
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
	assert_rejected(f,
			forge("{\"alg\":\"RS256\",\"kid\":\"k1\"} trailing", claims, "RS256",
			      k1.pkey, NULL),
			"header");
	/* properly signed, but the payload is no JSON object */
	assert_rejected(
		f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", "not json", "RS256", k1.pkey, NULL),
		"payload");
	assert_rejected(
		f,
		forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", "\"user_1\"", "RS256", k1.pkey, NULL),
		"payload");
	assert_rejected(f, forge("{\"alg\":\"RS256\",\"kid\":\"k1\"}", "", "RS256", k1.pkey, NULL),
			"payload");
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
		claims = claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld,\"pad\":\"%s\"}",
				     ISSUER, NOW + 3600, pad);
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
	char *token = sign_claims(
		claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 60));
	struct cs_auth_stats stats;

	assert_int_equal(verify_at(f, token, NOW, NULL), 0);
	assert_int_equal(verify_at(f, token, NOW + 64, NULL), 0); /* within the leeway */
	assert_int_equal(verify_at(f, token, NOW + 65, NULL), -1);
	assert_int_equal(verify_at(f, token, NOW + 3600, NULL), -1);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.rejected, 2);
	free(token);
}

static void test_verify_does_not_serve_an_expired_entry(void **state)
{
	struct fixture *f = *state;
	char *token = sign_claims(
		claims_with("{\"sub\":\"u\",\"iss\":\"%s\",\"exp\":%lld}", ISSUER, NOW + 60));
	struct cs_auth_stats stats;

	assert_int_equal(verify_at(f, token, NOW, NULL), 0);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.cache_entries, 1);
	assert_int_equal(verify_at(f, token, NOW + 3600, NULL), -1);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.cache_hits, 0);    /* the expired entry was not a hit */
	assert_int_equal(stats.cache_entries, 0); /* and is gone */
	free(token);
}

/* A token that shares all but its last bytes with a cached one is verified, and fails. */
static void test_verify_same_prefix_is_not_a_hit(void **state)
{
	struct fixture *f = *state;
	char *token = sign_claims(valid_claims());
	char *other = strdup(token);
	size_t len = strlen(token);
	struct cs_auth_stats stats;

	assert_int_equal(verify_at(f, token, NOW, NULL), 0);
	/* the signature's last character: same header, payload and all but 6 bits */
	other[len - 1] = other[len - 1] == 'A' ? 'B' : 'A';
	assert_int_equal(verify_at(f, other, NOW, NULL), -1);
	/* a prefix of the cached token (a token cut short) */
	other[len - 1] = '\0';
	assert_int_equal(verify_at(f, other, NOW, NULL), -1);
	/* the same tail, another payload: the set is the same, the key is not */
	strcpy(other, token);
	other[strchr(other, '.') - other + 2] ^= 1;
	assert_int_equal(verify_at(f, other, NOW, NULL), -1);
	cs_auth_stats(f->auth, &stats);
	assert_int_equal(stats.cache_hits, 0);
	assert_int_equal(stats.rejected, 3);
	free(other);
	free(token);
}

/* More tokens than entries: the cache holds at most its bound and still serves. */
static void test_verify_cache_is_bounded(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_config cfg = base_config(f);
	struct cs_auth *small;
	struct cs_auth_stats stats;
	struct cs_auth_user user;
	char *tokens[40];
	int i;

	cfg.cache_entries = 8; /* two sets of four */
	small = new_auth(&cfg);
	for (i = 0; i < 40; i++) {
		tokens[i] = sign_claims(claims_with("{\"sub\":\"u%d\",\"iss\":\"%s\",\"exp\":%lld}",
						    i, ISSUER, NOW + 3600));
		assert_int_equal(cs_auth_verify(small, tokens[i], strlen(tokens[i]), NOW, &user,
						f->err, sizeof f->err),
				 0);
		cs_auth_stats(small, &stats);
		assert_true(stats.cache_entries <= 8);
	}
	assert_true(stats.cache_entries >= 4);
	assert_int_equal(stats.cache_hits, 0);
	/* the last one is held; every token, evicted or not, is still accepted as itself */
	for (i = 39; i >= 0; i--) {
		char want[16];

		assert_int_equal(cs_auth_verify(small, tokens[i], strlen(tokens[i]), NOW, &user,
						f->err, sizeof f->err),
				 0);
		snprintf(want, sizeof want, "u%d", i);
		assert_string_equal(user.sub, want);
	}
	cs_auth_stats(small, &stats);
	assert_true(stats.cache_hits >= 1 && stats.cache_hits < 40);
	assert_true(stats.cache_entries <= 8);
	for (i = 0; i < 40; i++)
		free(tokens[i]);
	cs_auth_free(small);
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
		T(test_verify_rejects_typ_other_than_jwt),
		T(test_verify_rejects_crit_header),
		T(test_verify_ignores_jku_and_x5u),
		T(test_verify_rejects_unknown_kid_with_garbage_signature),
		T(test_verify_rejects_header_without_kid),
		T(test_verify_rejects_overlong_kid),
		T(test_new_fails_without_issuer),
		T(test_verify_rejects_wrong_segment_count),
		T(test_verify_rejects_bad_base64),
		T(test_verify_rejects_non_json_header_or_payload),
		T(test_verify_rejects_100kb_token),
		T(test_verify_rejects_empty_token),
		T(test_verify_serves_repeated_token_from_cache),
		T(test_verify_rejects_cached_token_after_exp),
		T(test_verify_does_not_serve_an_expired_entry),
		T(test_verify_same_prefix_is_not_a_hit),
		T(test_verify_cache_is_bounded),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

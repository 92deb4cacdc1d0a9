/*
 * test_jwks.c - the verifier's key set, through the public path (cs_auth_new,
 * cs_auth_verify): which JWKS documents and keys are usable, a key's own alg,
 * the refresh on an unknown kid and its rate limit, keeping the old keys when
 * a reload fails, and one load shared by threads that start at once.
 */
#include "auth_fixture.h"

static void test_verify_rejects_algorithm_other_than_the_jwk_alg(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_config cfg = base_config(f);
	char *claims = valid_claims();

	cfg.algorithms = "RS256,RS512"; /* k1's JWK says alg RS256 */
	cs_auth_free(f->auth);
	f->auth = new_auth(&cfg);
	assert_rejected(f,
			forge("{\"alg\":\"RS512\",\"kid\":\"k1\"}", claims, "RS512", k1.pkey, NULL),
			"not for its algorithm");
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

static void test_verify_rejects_jwks_key_of_wrong_type(void **state)
{
	struct fixture *f = *state;
	struct cs_auth_config cfg = base_config(f);
	const char *ec =
		"{\"kty\":\"EC\",\"kid\":\"k1\",\"use\":\"sig\",\"crv\":\"P-256\","
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
	const char *docs[] = {
		"", "not json", "{\"keys\":{}}", "[]",
		"{\"keys\":[{\"kty\":\"RSA\",\"kid\":\"k1\",\"n\":\"AQAB\",\"e\":\"AQAB\"}]}"
	};
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
	struct cs_auth_config cfg = { .issuer = "clerk.example.com",
				      .jwks_url = "http://127.0.0.1:1/jwks.json",
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

static void test_verify_picks_up_rotated_key_and_rate_limits_refetch(void **state)
{
	struct fixture *f = *state;
	char *claims = valid_claims();
	char *t1 = sign(&k1, "k1", claims), *t2 = sign(&k2, "k2", claims),
	     *t3 = sign(&k3, "k3", claims);
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
	char *t1 = sign(&k1, "k1", claims),
	     *t1b = sign_claims(claims_with("{\"sub\":\"other\",\"iss\":\"%s\",\"exp\":%lld}",
					    ISSUER, NOW + 3600));
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

		if (cs_auth_verify(a->auth, a->token, strlen(a->token), NOW + i / 10, &user, NULL,
				   0) != 0 ||
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
		char *claims = claims_with("{\"sub\":\"user_%d\",\"iss\":\"%s\",\"exp\":%lld}", i,
					   ISSUER, NOW + 3600);

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

int main(void)
{
#define T(name) cmocka_unit_test_setup_teardown(name, setup, teardown)
	const struct CMUnitTest tests[] = {
		T(test_verify_rejects_algorithm_other_than_the_jwk_alg),
		T(test_jwks_nested_too_deep_is_refused),
		T(test_verify_rejects_jwks_key_of_wrong_type),
		T(test_verify_rejects_when_jwks_is_unusable),
		T(test_new_succeeds_with_unreachable_jwks_url),
		T(test_verify_picks_up_rotated_key_and_rate_limits_refetch),
		T(test_verify_keeps_old_keys_when_reload_fails),
		T(test_verify_is_thread_safe_from_first_load),
	};
#undef T
	return cmocka_run_group_tests(tests, group_setup, group_teardown);
}

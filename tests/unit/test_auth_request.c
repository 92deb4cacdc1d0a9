/*
 * test_auth_request.c - where a request's token comes from
 * (cs_auth_token_from_request): the Bearer header on any method, the
 * __session cookie for reads only, and nothing else; and the one Bearer
 * parser (cs_auth_bearer_token), which the service token uses too.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>

#include "auth.h"

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

static int bearer(const char *h, char *out, size_t outlen)
{
	const char *token = NULL;
	size_t len = 0;

	if (cs_auth_bearer_token(h, &token, &len) < 0)
		return -1;
	snprintf(out, outlen, "%.*s", (int)len, token);
	return 0;
}

static void test_bearer_token_follows_rfc_7235(void **state)
{
	char tok[64];

	(void)state;
	assert_int_equal(bearer("Bearer s3cret", tok, sizeof tok), 0);
	assert_string_equal(tok, "s3cret");
	/* the scheme in any case, blanks around the parts skipped */
	assert_int_equal(bearer("bearer s3cret", tok, sizeof tok), 0);
	assert_string_equal(tok, "s3cret");
	assert_int_equal(bearer("BEARER\ts3cret", tok, sizeof tok), 0);
	assert_string_equal(tok, "s3cret");
	assert_int_equal(bearer(" Bearer  s3cret \t", tok, sizeof tok), 0);
	assert_string_equal(tok, "s3cret");
	/* not a bearer token */
	assert_int_equal(bearer("Bearer", tok, sizeof tok), -1);
	assert_int_equal(bearer("Bearer   ", tok, sizeof tok), -1);
	assert_int_equal(bearer("Bearers3cret", tok, sizeof tok), -1);
	assert_int_equal(bearer("Bearer s3 cret", tok, sizeof tok), -1);
	assert_int_equal(bearer("Basic s3cret", tok, sizeof tok), -1);
	assert_int_equal(bearer("", tok, sizeof tok), -1);
}

static void test_token_from_request_takes_session_cookie_for_get_and_head(void **state)
{
	char tok[64];

	(void)state;
	assert_int_equal(
		from("GET", NULL, "theme=dark; __session=abc.def.ghi; other=1", tok, sizeof tok),
		0);
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
		assert_int_equal(from(methods[i], NULL, "__session=abc.def.ghi", tok, sizeof tok),
				 -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_token_from_request_takes_bearer_header),
		cmocka_unit_test(test_token_from_request_rejects_other_schemes),
		cmocka_unit_test(test_bearer_token_follows_rfc_7235),
		cmocka_unit_test(test_token_from_request_takes_session_cookie_for_get_and_head),
		cmocka_unit_test(test_token_from_request_refuses_cookie_for_writes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

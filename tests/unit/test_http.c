/* test_http.c - the request headers and query strings http.c reads itself. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "http.h"
#include "url.h"

static void test_if_match_reads_versions(void **state)
{
	struct cs_error err = CS_ERROR_INIT;
	long long version = -1;

	(void)state;
	assert_int_equal(cs_http_parse_if_match(NULL, &version, &err), 0);
	assert_int_equal(cs_http_parse_if_match("*", &version, &err), 0);
	assert_int_equal(cs_http_parse_if_match("\"17\"", &version, &err), 1);
	assert_true(version == 17);
	assert_int_equal(cs_http_parse_if_match("W/\"3\"", &version, &err), 1);
	assert_true(version == 3);
	assert_int_equal(cs_http_parse_if_match("42", &version, &err), 1);
	assert_true(version == 42);
}

/*
 * Found by tests/fuzz/fuzz_headers: strtoll skips blanks before a sign, so
 * "\n-3" (and W/" -3") was taken as version -3.
 */
static void test_if_match_refuses_signs_blanks_and_junk(void **state)
{
	const char *bad[] = { "\n\n-3", "W/\" -3\"", "\"-3\"", "+3", " 3", "\"3", "3\"", "\"\"",
			      "W/", "99999999999999999999", "\"1\" ", "0x10" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cs_error err = CS_ERROR_INIT;
		long long version = 7;

		assert_int_equal(cs_http_parse_if_match(bad[i], &version, &err), -1);
		assert_int_equal(err.status, 400);
		assert_true(version == 7);
	}
}

static void test_query_value_finds_and_decodes_the_first(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;

	(void)state;
	assert_string_equal(cs_url_query_value(&arena, "a=1&device=my+phone%21&device=2", "device"),
			    "my phone!");
	assert_string_equal(cs_url_query_value(&arena, "limit&x=1", "limit"), "");
	assert_null(cs_url_query_value(&arena, "limits=5", "limit"));
	assert_null(cs_url_query_value(&arena, "limit=%4", "limit"));
	assert_null(cs_url_query_value(&arena, NULL, "limit"));
	cs_arena_release(&arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_if_match_reads_versions),
		cmocka_unit_test(test_if_match_refuses_signs_blanks_and_junk),
		cmocka_unit_test(test_query_value_finds_and_decodes_the_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_http.c - what http_request.c parses itself: If-Match and integer query parameters. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "http.h"

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
	const char *bad[] = { "\n\n-3", "W/\" -3\"", "\"-3\"", "+3", " 3",
			      "\"3",    "3\"",       "\"\"",   "W/", "99999999999999999999",
			      "\"1\" ", "0x10" };
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

static void test_parse_long_takes_integers_in_range_and_the_fallback_when_absent(void **state)
{
	struct cs_error err = CS_ERROR_INIT;
	long long value = -1;

	(void)state;
	assert_int_equal(cs_http_parse_long(NULL, "limit", 500, 1, 1000, &value, &err), 0);
	assert_true(value == 500);
	assert_int_equal(cs_http_parse_long("1", "limit", 500, 1, 1000, &value, &err), 0);
	assert_true(value == 1);
	assert_int_equal(cs_http_parse_long("1000", "limit", 500, 1, 1000, &value, &err), 0);
	assert_true(value == 1000);
	/* strtoll's leading blanks and sign are taken, as they always were */
	assert_int_equal(cs_http_parse_long(" +7", "limit", 500, 1, 1000, &value, &err), 0);
	assert_true(value == 7);
}

static void test_parse_long_refuses_junk_and_out_of_range_naming_the_parameter(void **state)
{
	const char *bad[] = { "",     "0",   "1001",
			      "-1",   "12x", "1.5",
			      "0x10", "abc", "99999999999999999999" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cs_error err = CS_ERROR_INIT;
		long long value = 77;

		assert_int_equal(cs_http_parse_long(bad[i], "limit", 500, 1, 1000, &value, &err),
				 -1);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.code, "bad_request");
		assert_string_equal(err.message, "limit: must be an integer from 1 to 1000");
		assert_true(value == 77);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_if_match_reads_versions),
		cmocka_unit_test(test_if_match_refuses_signs_blanks_and_junk),
		cmocka_unit_test(
			test_parse_long_takes_integers_in_range_and_the_fallback_when_absent),
		cmocka_unit_test(
			test_parse_long_refuses_junk_and_out_of_range_naming_the_parameter),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

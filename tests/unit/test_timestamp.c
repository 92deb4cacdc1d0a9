/* test_timestamp.c - legacy ISO-8601 timestamps convert to milliseconds exactly and back. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <limits.h>
#include <string.h>

#include "timestamp.h"

static long long parse(const char *s)
{
	long long ms = 0;

	if (cs_timestamp_parse(s, strlen(s), &ms) != 0)
		fail_msg("\"%s\" did not parse", s);
	return ms;
}

static void test_javascript_iso_strings_are_exact(void **state)
{
	(void)state;
	assert_int_equal(parse("1970-01-01T00:00:00.000Z"), 0);
	assert_int_equal(parse("2024-01-02T03:04:05.678Z"), 1704164645678LL);
	assert_int_equal(parse("2000-02-29T23:59:59.999Z"), 951868799999LL);
	assert_int_equal(parse("1969-12-31T23:59:59.999Z"), -1);
	assert_int_equal(parse("1900-01-01T00:00:00Z"), -2208988800000LL);
	assert_int_equal(parse("0000-01-01T00:00:00.000Z"), -62167219200000LL);
}

static void test_offsets_shift_to_utc(void **state)
{
	(void)state;
	assert_int_equal(parse("2024-01-02T05:04:05.678+02:00"), 1704164645678LL);
	assert_int_equal(parse("2024-01-02T05:04:05.678+0200"), 1704164645678LL);
	assert_int_equal(parse("2024-01-02T05:04:05.678+02"), 1704164645678LL);
	assert_int_equal(parse("2024-01-01T21:34:05.678-05:30"), 1704164645678LL);
	assert_int_equal(parse("2024-01-02 03:04:05.678+00"), 1704164645678LL);
	assert_int_equal(parse("2024-01-02t03:04:05.678z"), 1704164645678LL);
}

static void test_zoneless_is_utc_and_fraction_is_truncated(void **state)
{
	(void)state;
	assert_int_equal(parse("2024-01-02T03:04:05.678"), 1704164645678LL);
	assert_int_equal(parse("2024-01-02T03:04:05.678999999Z"), 1704164645678LL);
	assert_int_equal(parse("2024-01-02T03:04:05.6Z"), 1704164645600LL);
	assert_int_equal(parse("2024-01-02T03:04:05,6Z"), 1704164645600LL);
	assert_int_equal(parse("2024-01-02T03:04:05Z"), 1704164645000LL);
	assert_int_equal(parse("2024-01-02T03:04"), 1704164640000LL);
	assert_int_equal(parse("2024-01-02"), 1704153600000LL);
	assert_int_equal(parse("1969-12-31T23:59:59.9999Z"), -1);
}

static void test_extended_years(void **state)
{
	(void)state;
	assert_int_equal(parse("+275760-09-13T00:00:00.000Z"), 8640000000000000LL);
	assert_int_equal(parse("-271821-04-20T00:00:00.000Z"), -8640000000000000LL);
	assert_int_equal(parse("+002024-01-02T03:04:05.678Z"), 1704164645678LL);
}

static void test_nonsense_is_refused(void **state)
{
	static const char *const bad[] = {
		"",
		"2024",
		"2024-1-02",
		"2024-13-01",
		"2023-02-29",
		"2024-04-31T00:00Z",
		"2024-01-02T24:00:00Z",
		"2024-01-02T23:60:00Z",
		"2024-01-02T23:59:60Z",
		"2024-01-02T03:04:05.Z",
		"2024-01-02T03:04:05+2",
		"2024-01-02T03:04:05+24:00",
		"2024-01-02T03:04:05Zjunk",
		"2024-01-02X03:04",
		"yesterday",
		"-000000-01-01",
		"+9999999999-01-01T00:00:00Z",
		"12024-01-01",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		long long ms = 42;

		if (cs_timestamp_parse(bad[i], strlen(bad[i]), &ms) != -1)
			fail_msg("\"%s\" was accepted", bad[i]);
		assert_int_equal(ms, 42);
	}
}

static void expect_format(long long ms, const char *want)
{
	char out[CS_TIMESTAMP_MAX];
	long long back = 0;

	assert_int_equal(cs_timestamp_format(ms, out), strlen(want));
	assert_string_equal(out, want);
	assert_int_equal(cs_timestamp_parse(out, strlen(out), &back), 0);
	assert_int_equal(back, ms);
}

static void test_format_is_javascript_iso_and_parses_back(void **state)
{
	(void)state;
	expect_format(0, "1970-01-01T00:00:00.000Z");
	expect_format(1704164645678LL, "2024-01-02T03:04:05.678Z");
	expect_format(-1, "1969-12-31T23:59:59.999Z");
	expect_format(-62167219200001LL, "-000001-12-31T23:59:59.999Z");
	expect_format(253402300800000LL, "+010000-01-01T00:00:00.000Z");
	expect_format(8640000000000000LL, "+275760-09-13T00:00:00.000Z");
}

static void test_format_round_trips_the_whole_range(void **state)
{
	static const long long samples[] = { LLONG_MIN,      LLONG_MIN + 1, -1000000000000000000LL,
					     951868799999LL, LLONG_MAX - 1, LLONG_MAX };
	long long ms;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		char out[CS_TIMESTAMP_MAX];
		long long back = 0;

		cs_timestamp_format(samples[i], out);
		assert_int_equal(cs_timestamp_parse(out, strlen(out), &back), 0);
		assert_int_equal(back, samples[i]);
	}
	for (ms = -5000000000000LL; ms < 5000000000000LL; ms += 123456789011LL) {
		char out[CS_TIMESTAMP_MAX];
		long long back = 0;

		cs_timestamp_format(ms, out);
		assert_int_equal(cs_timestamp_parse(out, strlen(out), &back), 0);
		assert_int_equal(back, ms);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_javascript_iso_strings_are_exact),
		cmocka_unit_test(test_offsets_shift_to_utc),
		cmocka_unit_test(test_zoneless_is_utc_and_fraction_is_truncated),
		cmocka_unit_test(test_extended_years),
		cmocka_unit_test(test_nonsense_is_refused),
		cmocka_unit_test(test_format_is_javascript_iso_and_parses_back),
		cmocka_unit_test(test_format_round_trips_the_whole_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

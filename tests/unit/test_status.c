/* test_status.c - the one table of HTTP statuses (common/status.c) and cs_error_set's use of it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "error.h"
#include "status.h"

static void test_reason_and_code_come_from_one_row(void **state)
{
	(void)state;
	assert_string_equal(cs_status_reason(200), "OK");
	assert_string_equal(cs_status_reason(201), "Created");
	assert_string_equal(cs_status_reason(404), "Not Found");
	assert_string_equal(cs_status_code(404), "not_found");
	assert_string_equal(cs_status_reason(422), "Unprocessable Content");
	assert_string_equal(cs_status_code(422), "answer_too_large");
	assert_string_equal(cs_status_reason(429), "Too Many Requests");
	assert_string_equal(cs_status_code(429), "rate_limited");
	assert_string_equal(cs_status_reason(503), "Service Unavailable");
	assert_string_equal(cs_status_code(503), "unavailable");
}

static void test_statuses_outside_the_table_fall_back(void **state)
{
	(void)state;
	assert_string_equal(cs_status_reason(204), "OK");
	assert_string_equal(cs_status_reason(418), "Internal Server Error");
	assert_string_equal(cs_status_reason(502), "Internal Server Error");
	assert_string_equal(cs_status_code(418), "internal");
	assert_string_equal(cs_status_code(200), "internal");
}

static void test_error_set_takes_the_code_of_its_status(void **state)
{
	struct cs_error err = CS_ERROR_INIT;

	(void)state;
	assert_int_equal(cs_error_set(&err, 409, "id: %s exists", "c1"), -1);
	assert_int_equal(err.status, 409);
	assert_string_equal(err.code, "conflict");
	assert_string_equal(err.message, "id: c1 exists");
	assert_int_equal(cs_error_set(NULL, 400, "nothing"), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_reason_and_code_come_from_one_row),
		cmocka_unit_test(test_statuses_outside_the_table_fall_back),
		cmocka_unit_test(test_error_set_takes_the_code_of_its_status),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

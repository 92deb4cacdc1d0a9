/* test_id.c - server ids are unique, time-ordered and valid; client ids are checked. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <unistd.h>

#include "id.h"

static void test_new_ids_are_valid_unique_and_time_ordered(void **state)
{
	char a[CS_ID_NEW_SIZE], b[CS_ID_NEW_SIZE], c[CS_ID_NEW_SIZE];

	(void)state;
	cs_id_new("c_", a);
	cs_id_new("c_", b);
	usleep(2000);
	cs_id_new("c_", c);
	assert_int_equal(strlen(a), 28);
	assert_true(cs_id_valid(a, strlen(a)));
	assert_string_not_equal(a, b);
	assert_true(strncmp(a, c, 12) < 0); /* the time part sorts */
}

static void test_id_valid_enforces_length_and_text(void **state)
{
	char long_id[300];

	(void)state;
	memset(long_id, 'x', sizeof(long_id));
	assert_true(cs_id_valid(long_id, 255));
	assert_false(cs_id_valid(long_id, 256));
	assert_false(cs_id_valid("", 0));
	assert_false(cs_id_valid("a\tb", 3));
	assert_true(cs_id_valid("chat/with spaces?", 17));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_new_ids_are_valid_unique_and_time_ordered),
		cmocka_unit_test(test_id_valid_enforces_length_and_text),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

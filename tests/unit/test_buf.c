/* test_buf.c - the byte buffer grows, escapes JSON and hands its memory over. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void test_buf_appends_and_stays_terminated(void **state)
{
	struct cs_buf b = CS_BUF_INIT;
	int i;

	(void)state;
	for (i = 0; i < 10000; i++)
		cs_buf_puts(&b, "ab");
	cs_buf_printf(&b, "%d", 42);
	assert_int_equal(b.len, 20002);
	assert_int_equal(strlen(b.data), 20002);
	assert_string_equal(b.data + 20000, "42");
	cs_buf_release(&b);
	assert_null(b.data);
}

static void test_json_string_escapes_quotes_backslashes_and_controls(void **state)
{
	struct cs_buf b = CS_BUF_INIT;
	const char input[] = "a\"b\\c\nd\x01é";

	(void)state;
	cs_buf_json_string(&b, input, sizeof(input) - 1);
	assert_string_equal(b.data, "\"a\\\"b\\\\c\\nd\\u0001é\"");
	cs_buf_release(&b);
}

static void test_detach_hands_over_memory(void **state)
{
	struct cs_buf b = CS_BUF_INIT;
	size_t len = 0;
	char *data;

	(void)state;
	cs_buf_puts(&b, "xyz");
	data = cs_buf_detach(&b, &len);
	assert_int_equal(len, 3);
	assert_string_equal(data, "xyz");
	assert_null(b.data);
	free(data);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_buf_appends_and_stays_terminated),
		cmocka_unit_test(test_json_string_escapes_quotes_backslashes_and_controls),
		cmocka_unit_test(test_detach_hands_over_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

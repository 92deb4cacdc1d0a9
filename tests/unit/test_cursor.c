/* test_cursor.c - opaque cursors round-trip and reject what we did not make. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "cursor.h"

static void test_cursor_round_trips_number_and_text(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	const char *inputs[] = { "", "c", "c_01J", "ünïcødé id with spaces", "a:b:c" };
	long long numbers[] = { 0, -1, 1732450000000LL, 9223372036854775807LL, -42 };
	size_t i;

	(void)state;
	for (i = 0; i < 5; i++) {
		const char *text = NULL;
		size_t len = 0;
		long long number = 0;
		char *cursor = cs_cursor_encode(&arena, numbers[i], inputs[i], strlen(inputs[i]));

		assert_null(strpbrk(cursor, "+/=%&?"));
		assert_int_equal(cs_cursor_decode(&arena, cursor, &number, &text, &len), 0);
		assert_true(number == numbers[i]);
		assert_int_equal(len, strlen(inputs[i]));
		assert_memory_equal(text, inputs[i], len);
	}
	cs_arena_release(&arena);
}

static void test_cursor_rejects_malformed_input(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	/*
	 * The last five were found by tests/fuzz/fuzz_cursor: they decoded although
	 * cs_cursor_encode never makes them ("Mjr" is "Mjo", "2:", with unused bits
	 * set; strtoll took a sign, a blank, a leading zero).
	 */
	const char *bad[] = { "",
			      "!!!!",
			      "a",
			      "aGVsbG8", /* "hello": no colon */
			      "OmFiYw" /* ":abc": no number */,
			      "Mjr",
			      "KzU6eA" /* "+5:x" */,
			      "IDU6eA" /* " 5:x" */,
			      "MDU6eA" /* "05:x" */,
			      "LTA6eA" /* "-0:x" */ };
	const char *text;
	size_t len, i;
	long long number;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cs_cursor_decode(&arena, bad[i], &number, &text, &len), -1);
	assert_int_equal(cs_cursor_decode(&arena, "Mjo", &number, &text, &len), 0);
	assert_true(number == 2 && len == 0);
	cs_arena_release(&arena);
}

/*
 * A cursor whose text would reach Postgres as a parameter: not valid UTF-8 or
 * holding a NUL, refused here; tabs and line breaks (a live request's map) kept.
 */
static void test_cursor_rejects_text_that_is_not_utf8_or_holds_nul(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	const char *bad[] = { "\xff", "c_\xc3", "\xed\xa0\x80" /* a surrogate */, "a\0b" };
	size_t bad_len[] = { 1, 3, 3, 3 }, i, len;
	const char *text;
	long long number;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *cursor = cs_cursor_encode(&arena, 7, bad[i], bad_len[i]);

		assert_int_equal(cs_cursor_decode(&arena, cursor, &number, &text, &len), -1);
	}
	assert_int_equal(cs_cursor_decode(&arena, cs_cursor_encode(&arena, 7, "1\tm_1\n", 6),
					  &number, &text, &len),
			 0);
	assert_int_equal(len, 6);
	cs_arena_release(&arena);
}

/* A cursor appended to a buffer (a live request's chunk events) is the same cursor. */
static void test_cursor_append_is_encode_after_what_the_buffer_holds(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	struct cs_buf out = CS_BUF_INIT;
	const char *map = "7\tm_1\n12\tm_2\n";
	char *cursor = cs_cursor_encode(&arena, 42, map, strlen(map));

	(void)state;
	cs_buf_puts(&out, "id: ");
	cs_cursor_append(&out, 42, map, strlen(map));
	assert_int_equal(out.len, 4 + strlen(cursor));
	assert_string_equal(out.data + 4, cursor);
	cs_buf_release(&out);
	cs_arena_release(&arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cursor_round_trips_number_and_text),
		cmocka_unit_test(test_cursor_rejects_malformed_input),
		cmocka_unit_test(test_cursor_rejects_text_that_is_not_utf8_or_holds_nul),
		cmocka_unit_test(test_cursor_append_is_encode_after_what_the_buffer_holds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

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

/* one character at a time, the plain way: what the run-copying escaper must equal */
static void escape_slowly(struct cs_buf *b, const char *s, size_t len)
{
	cs_buf_putc(b, '"');
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\')
			cs_buf_printf(b, "\\%c", c);
		else if (c == '\n')
			cs_buf_puts(b, "\\n");
		else if (c == '\r')
			cs_buf_puts(b, "\\r");
		else if (c == '\t')
			cs_buf_puts(b, "\\t");
		else if (c < 0x20)
			cs_buf_printf(b, "\\u%04x", c);
		else
			cs_buf_putc(b, (char)c);
	}
	cs_buf_putc(b, '"');
}

/*
 * Escapes at the start and end of a string, next to each other, a string of
 * nothing but escapes (six bytes out for one in), NUL bytes, and strings that
 * begin exactly at the end of the buffer's memory: every run boundary the
 * bulk copy has, against the plain escaper, over many seeded strings.
 */
static void test_json_string_escapes_at_run_boundaries(void **state)
{
	static const char alphabet[] = { 'a',  'z',  '"',  '\\',       '\n',       '\r', '\t',
					 0x01, 0x1f, 0x00, (char)0xc3, (char)0xa9, ' ',  '~' };
	static const char *fixed[] = { "\"",
				       "\"\"",
				       "\"abc",
				       "abc\"",
				       "a\"b",
				       "\\\\\n\n",
				       "\x01\x02\x03\x04\x05\x06\x07\x08",
				       "" };
	char input[300];
	unsigned seed = 16;

	(void)state;
	for (size_t i = 0; i < sizeof fixed / sizeof fixed[0]; i++) {
		struct cs_buf fast = CS_BUF_INIT, slow = CS_BUF_INIT;

		cs_buf_json_string(&fast, fixed[i], strlen(fixed[i]));
		escape_slowly(&slow, fixed[i], strlen(fixed[i]));
		assert_string_equal(fast.data, slow.data);
		cs_buf_release(&fast);
		cs_buf_release(&slow);
	}
	for (int n = 0; n < 2000; n++) {
		struct cs_buf fast = CS_BUF_INIT, slow = CS_BUF_INIT;
		size_t len = (size_t)(n % 300), prefix;

		for (size_t i = 0; i < len; i++) {
			seed = seed * 1103515245u + 12345u;
			input[i] = alphabet[(seed >> 16) % sizeof alphabet];
		}
		/* fill the buffer to just below its capacity first: growth mid-string */
		cs_buf_puts(&fast, "x");
		prefix = fast.cap - fast.len - 1 - (size_t)(n % 3);
		for (size_t i = 0; i < prefix; i++)
			cs_buf_putc(&fast, 'p');
		cs_buf_append(&slow, fast.data, fast.len);
		cs_buf_json_string(&fast, input, len);
		escape_slowly(&slow, input, len);
		assert_int_equal(fast.len, slow.len);
		assert_memory_equal(fast.data, slow.data, slow.len);
		assert_int_equal(fast.data[fast.len], '\0');
		cs_buf_release(&fast);
		cs_buf_release(&slow);
	}
}

/*
 * The escaper skips clean runs a word of 8 bytes at a time: each byte that
 * must be escaped, at every offset of a run of bytes that need not be (the
 * ones next to each range: 0x20, '!', '#', '[', ']', 0x7f, 0x80, 0xff), with a
 * second escape 1 to 16 bytes after it, is found, in every position of a word
 * and past the last whole word.
 */
static void test_json_string_finds_every_escape_at_every_offset_of_a_clean_run(void **state)
{
	static const unsigned char clean[] = { 0x20, '!', '#', '[', ']', 0x7f, 0x80, 0xff, 'a' };
	char input[41];

	(void)state;
	for (int c = 0; c <= 0xff; c++) {
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		for (size_t at = 0; at < sizeof input; at++) {
			struct cs_buf fast = CS_BUF_INIT, slow = CS_BUF_INIT;

			for (size_t i = 0; i < sizeof input; i++)
				input[i] = (char)clean[(i + at + (size_t)c) % sizeof clean];
			input[at] = (char)c;
			/* and a second escape 1 to 16 bytes on: two in a word, or in the next */
			if (at + 1 + (size_t)c % 16 < sizeof input)
				input[at + 1 + (size_t)c % 16] = c == '"' ? '\\' : '"';
			cs_buf_json_string(&fast, input, sizeof input);
			escape_slowly(&slow, input, sizeof input);
			assert_int_equal(fast.len, slow.len);
			assert_memory_equal(fast.data, slow.data, slow.len);
			assert_int_equal(fast.data[fast.len], '\0');
			cs_buf_release(&fast);
			cs_buf_release(&slow);
		}
	}
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
		cmocka_unit_test(test_json_string_escapes_at_run_boundaries),
		cmocka_unit_test(
			test_json_string_finds_every_escape_at_every_offset_of_a_clean_run),
		cmocka_unit_test(test_detach_hands_over_memory),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

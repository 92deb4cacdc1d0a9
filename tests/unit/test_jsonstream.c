/* test_jsonstream.c - the streaming reader cuts out rows whatever the chunking, and refuses non-documents. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "jsonstream.h"

static const char *const keys[] = { "chats", "messages", NULL };

/* A reader over memory that hands out at most `step` bytes per call. */
struct trickle {
	const char *data;
	size_t len, pos, step;
};

static long read_trickle(void *ctx, char *buf, size_t cap)
{
	struct trickle *t = ctx;
	size_t n = t->len - t->pos;

	if (n > t->step)
		n = t->step;
	if (n > cap)
		n = cap;
	memcpy(buf, t->data + t->pos, n);
	t->pos += n;
	return (long)n;
}

/* Collects "key:row\n" for every row. */
static int collect(void *arg, const char *key, const char *row, size_t len)
{
	struct cs_buf *out = arg;

	cs_buf_printf(out, "%s:", key);
	if (row)
		cs_buf_append(out, row, len);
	else
		cs_buf_printf(out, "<%zu bytes>", len);
	cs_buf_putc(out, '\n');
	return 0;
}

static int parse_with_step(const char *doc, size_t step, struct cs_buf *out,
			   struct cs_jsonstream_error *err)
{
	struct trickle t = { doc, strlen(doc), 0, step };

	return cs_jsonstream_parse(read_trickle, &t, keys, collect, out, err);
}

static void expect_rows(const char *doc, const char *want)
{
	static const size_t steps[] = { 1, 2, 3, 7, 64, 1 << 20 };
	size_t i;

	for (i = 0; i < sizeof(steps) / sizeof(steps[0]); i++) {
		struct cs_buf out = CS_BUF_INIT;
		struct cs_jsonstream_error err;

		assert_int_equal(parse_with_step(doc, steps[i], &out, &err), 0);
		assert_string_equal(out.data ? out.data : "", want);
		cs_buf_release(&out);
	}
}

static void expect_error(const char *doc, const char *fragment)
{
	struct cs_buf out = CS_BUF_INIT;
	struct cs_jsonstream_error err;

	assert_int_equal(parse_with_step(doc, 5, &out, &err), -1);
	if (!strstr(err.message, fragment))
		fail_msg("error \"%s\" does not contain \"%s\" (document %s)", err.message,
			 fragment, doc);
	cs_buf_release(&out);
}

static void test_rows_split_across_chunks_come_out_whole(void **state)
{
	(void)state;
	expect_rows(
		"{\"chats\": [{\"id\":\"c1\",\"n\":[1,2,{\"x\":null}]}, {\"id\":\"c2\"} ],\n"
		" \"messages\":[ {\"id\":\"m1\",\"position\":-1.5e+3} ,17,\"s\",true,null,[]],"
		" \"exportedAt\":\"2024-01-01T00:00:00Z\"}",
		"chats:{\"id\":\"c1\",\"n\":[1,2,{\"x\":null}]}\n"
		"chats:{\"id\":\"c2\"}\n"
		"messages:{\"id\":\"m1\",\"position\":-1.5e+3}\n"
		"messages:17\n"
		"messages:\"s\"\n"
		"messages:true\n"
		"messages:null\n"
		"messages:[]\n");
}

static void test_strings_with_escaped_quotes_and_brackets_stay_in_the_row(void **state)
{
	(void)state;
	expect_rows("{\"chats\":[{\"title\":\"a \\\"}\\\" ]\\\\\",\"t\":\"\\u00e9{[\"}]}",
		    "chats:{\"title\":\"a \\\"}\\\" ]\\\\\",\"t\":\"\\u00e9{[\"}\n");
}

static void test_other_members_are_checked_and_skipped(void **state)
{
	(void)state;
	expect_rows(
		"{\"meta\":{\"chats\":[1,2]},\"list\":[[\"chats\"]],\"chats\":null,"
		"\"messages\":[],\"n\":0}",
		"");
	expect_error("{\"meta\":{\"a\":tru}}", "unexpected '}'");
}

static void test_repeated_member_continues(void **state)
{
	(void)state;
	expect_rows("{\"chats\":[1],\"chats\":[2]}", "chats:1\nchats:2\n");
}

static void test_truncated_input_is_an_error(void **state)
{
	(void)state;
	expect_error("{\"chats\":[{\"id\":\"c1\"},{\"id\":\"c", "truncated");
	expect_error("{\"chats\":[{\"id\":\"c1\"}", "truncated");
	expect_error("{\"chats\":[1", "truncated");
	expect_error("{\"chats\":[1]", "truncated");
	expect_error("", "empty document");
	expect_error("   \n", "truncated");
}

static void test_wrong_top_level_type_is_an_error(void **state)
{
	(void)state;
	expect_error("[{\"chats\":[]}]", "expected a JSON object at the top level, found an array");
	expect_error("\"chats\"", "found a string");
	expect_error("42", "found a number");
	expect_error("hello world", "not a JSON document");
	expect_error("<html></html>", "not a JSON document");
	expect_error("{\"chats\":{}}", "chats: expected an array, found an object");
	expect_error("{\"messages\":\"x\"}", "messages: expected an array, found a string");
}

static void test_malformed_json_is_an_error_with_its_offset(void **state)
{
	struct cs_buf out = CS_BUF_INIT;
	struct cs_jsonstream_error err;

	(void)state;
	expect_error("{\"a\":01}", "malformed number");
	expect_error("{\"a\":1.}", "malformed number");
	expect_error("{\"a\":-}", "malformed number");
	expect_error("{\"a\":1e}", "malformed number");
	expect_error("{\"a\":tru}", "unexpected '}'");
	expect_error("{\"a\":\"x\ty\"}", "control character");
	expect_error("{\"a\":\"\\x\"}", "invalid escape");
	expect_error("{\"a\":\"\\u12G4\"}", "invalid \\u escape");
	expect_error("{\"a\":1,}", "expected a member name");
	expect_error("{\"a\" 1}", "expected ':'");
	expect_error("{\"a\":[1,]}", "unexpected ']'");
	expect_error("{\"a\":[1}", "unexpected '}'");
	expect_error("{} x", "unexpected data after the top-level object");
	expect_error("{\"chats\":[{\"id\":1},{\"id\":2,}]}", "(in chats[1])");
	assert_int_equal(parse_with_step("{\"a\":[1 2]}", 3, &out, &err), -1);
	assert_int_equal(err.offset, 8);
	cs_buf_release(&out);
}

static void test_nesting_is_bounded(void **state)
{
	struct cs_buf doc = CS_BUF_INIT;
	int i;

	(void)state;
	cs_buf_puts(&doc, "{\"a\":");
	for (i = 0; i < CS_JSONSTREAM_MAX_DEPTH + 5; i++)
		cs_buf_putc(&doc, '[');
	expect_error(doc.data, "nesting deeper than");
	cs_buf_release(&doc);
}

static int stop_at_second(void *arg, const char *key, const char *row, size_t len)
{
	int *seen = arg;

	(void)key;
	(void)row;
	(void)len;
	return ++*seen == 2 ? -1 : 0;
}

static void test_callback_can_stop_the_walk(void **state)
{
	const char *doc = "{\"chats\":[1,2,3]}";
	struct trickle t = { doc, strlen(doc), 0, 100 };
	struct cs_jsonstream_error err;
	int seen = 0;

	(void)state;
	assert_int_equal(cs_jsonstream_parse(read_trickle, &t, keys, stop_at_second, &seen, &err),
			 -2);
	assert_int_equal(seen, 2);
}

/* An endless string row produced on the fly: {"chats":["aaaa...."]} */
struct big_row {
	size_t size, pos;
};

static long read_big_row(void *ctx, char *buf, size_t cap)
{
	static const char head[] = "{\"chats\":[\"", tail[] = "\",1]}";
	struct big_row *b = ctx;
	size_t total = (sizeof(head) - 1) + b->size + (sizeof(tail) - 1), n = 0;

	while (n < cap && b->pos < total) {
		size_t p = b->pos;

		if (p < sizeof(head) - 1)
			buf[n] = head[p];
		else if (p < sizeof(head) - 1 + b->size)
			buf[n] = 'a';
		else
			buf[n] = tail[p - (sizeof(head) - 1) - b->size];
		n++;
		b->pos++;
	}
	return (long)n;
}

static void test_oversized_row_is_reported_not_collected(void **state)
{
	struct big_row b = { (size_t)CS_JSONSTREAM_MAX_ROW + 10, 0 };
	struct cs_buf out = CS_BUF_INIT;
	struct cs_jsonstream_error err;
	char want[64];

	(void)state;
	assert_int_equal(cs_jsonstream_parse(read_big_row, &b, keys, collect, &out, &err), 0);
	snprintf(want, sizeof(want), "chats:<%zu bytes>\nchats:1\n", b.size + 2);
	assert_string_equal(out.data, want);
	cs_buf_release(&out);
}

static void test_memory_reader_reads_everything(void **state)
{
	const char *doc = "{\"messages\":[{\"id\":\"m\"}]}";
	struct cs_jsonstream_memory m = { doc, strlen(doc), 0 };
	struct cs_buf out = CS_BUF_INIT;
	struct cs_jsonstream_error err;

	(void)state;
	assert_int_equal(
		cs_jsonstream_parse(cs_jsonstream_read_memory, &m, keys, collect, &out, &err), 0);
	assert_string_equal(out.data, "messages:{\"id\":\"m\"}\n");
	cs_buf_release(&out);
}

/*
 * Walks obj's members with cs_jsonstream_next_member and expects rc (1: key
 * found with the raw value want, the last one of repeated names; 0: not
 * found; -1: obj is not an object).
 */
static void expect_member(const char *obj, const char *key, int rc, const char *want)
{
	struct cs_jsonstream_field field;
	const char *value = NULL;
	size_t pos = 0, len = 0;
	int next, found = 0;

	while ((next = cs_jsonstream_next_member(obj, strlen(obj), &pos, &field)) == 1) {
		if (field.name_len == strlen(key) && !memcmp(field.name, key, field.name_len)) {
			value = field.value;
			len = field.value_len;
			found = 1;
		}
	}
	assert_int_equal(next < 0 ? -1 : found, rc);
	if (rc == 1) {
		assert_int_equal(len, strlen(want));
		assert_memory_equal(value, want, len);
	}
}

static void test_next_member_yields_raw_values(void **state)
{
	(void)state;
	expect_member("{\"a\":1,\"attachments\": {\"x\": [1, \"}\"]} ,\"b\":2}", "attachments", 1,
		      "{\"x\": [1, \"}\"]}");
	expect_member("{\"n\":0.10,\"z\":null}", "n", 1, "0.10");
	expect_member("{\"n\":0.10,\"z\":null}", "z", 1, "null");
	expect_member("{\"s\":\"a\\\"b\"}", "s", 1, "\"a\\\"b\"");
	expect_member("{\"k\":1,\"k\":[2]}", "k", 1, "[2]");
	expect_member("{\"x\":{\"k\":1}}", "k", 0, NULL);
	expect_member(" { } ", "k", 0, NULL);
	expect_member("[1]", "k", -1, NULL);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rows_split_across_chunks_come_out_whole),
		cmocka_unit_test(test_strings_with_escaped_quotes_and_brackets_stay_in_the_row),
		cmocka_unit_test(test_other_members_are_checked_and_skipped),
		cmocka_unit_test(test_repeated_member_continues),
		cmocka_unit_test(test_truncated_input_is_an_error),
		cmocka_unit_test(test_wrong_top_level_type_is_an_error),
		cmocka_unit_test(test_malformed_json_is_an_error_with_its_offset),
		cmocka_unit_test(test_nesting_is_bounded),
		cmocka_unit_test(test_callback_can_stop_the_walk),
		cmocka_unit_test(test_oversized_row_is_reported_not_collected),
		cmocka_unit_test(test_memory_reader_reads_everything),
		cmocka_unit_test(test_next_member_yields_raw_values),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

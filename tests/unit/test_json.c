/* test_json.c - body parsing and typed readers name the field that is wrong. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"

static json_t *parse(const char *text)
{
	struct cs_error err = CS_ERROR_INIT;
	json_t *obj = NULL;

	assert_int_equal(cs_json_parse_object(text, strlen(text), &obj, &err), 0);
	return obj;
}

static void test_parse_rejects_malformed_and_non_objects(void **state)
{
	const char *bad[] = { "", "{", "[1]", "\"x\"", "{\"a\":1,\"a\":2}", "{\"a\":\"\xff\"}" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct cs_error err = CS_ERROR_INIT;
		json_t *obj = NULL;

		assert_int_equal(cs_json_parse_object(bad[i], strlen(bad[i]), &obj, &err), -1);
		assert_int_equal(err.status, 400);
		assert_string_equal(err.code, "bad_request");
		assert_null(obj);
	}
}

static void test_only_keys_names_the_unknown_field(void **state)
{
	static const char *const allowed[] = { "title", NULL };
	struct cs_error err = CS_ERROR_INIT;
	json_t *obj = parse("{\"title\":\"a\",\"colour\":1}");

	(void)state;
	assert_int_equal(cs_json_only_keys(obj, allowed, &err), -1);
	assert_string_equal(err.message, "colour: unknown field");
	json_decref(obj);
}

static void test_typed_readers_distinguish_absent_null_and_wrong_type(void **state)
{
	struct cs_error err = CS_ERROR_INIT;
	json_t *obj = parse("{\"s\":\"hi\",\"n\":null,\"i\":7,\"f\":1.5}");
	const char *s = NULL;
	size_t len = 0;
	long long i = 0;

	(void)state;
	assert_int_equal(cs_json_string(obj, "s", 0, &s, &len, &err), CS_JSON_PRESENT);
	assert_string_equal(s, "hi");
	assert_int_equal(cs_json_string(obj, "missing", 0, &s, &len, &err), CS_JSON_ABSENT);
	assert_int_equal(cs_json_string(obj, "n", CS_JSON_NULLABLE, &s, &len, &err), CS_JSON_NULL);
	assert_int_equal(cs_json_string(obj, "n", 0, &s, &len, &err), -1);
	assert_int_equal(cs_json_string(obj, "missing", CS_JSON_REQUIRED, &s, &len, &err), -1);
	assert_string_equal(err.message, "missing: is required");
	assert_int_equal(cs_json_int64(obj, "i", 0, &i, &err), CS_JSON_PRESENT);
	assert_true(i == 7);
	assert_int_equal(cs_json_int64(obj, "f", 0, &i, &err), -1);
	assert_string_equal(err.message, "f: must be an integer");
	assert_int_equal(cs_json_int64(obj, "s", 0, &i, &err), -1);
	json_decref(obj);
}

static size_t depth_of(const char *text)
{
	struct cs_json_shape shape;

	cs_json_measure(text, strlen(text), &shape);
	return shape.depth;
}

/* Nesting is counted in arrays and objects; brackets inside strings do not count. */
static void test_measure_counts_only_structural_brackets(void **state)
{
	(void)state;
	assert_int_equal(depth_of("[[1]]"), 2);
	assert_int_equal(depth_of("[[[1]]]"), 3);
	assert_int_equal(depth_of("{\"a\":{\"b\":[1]}}"), 3);
	assert_int_equal(depth_of("{\"a\":\"[[[[{{{{\"}"), 1);
	assert_int_equal(depth_of("{\"a\\\"[[\":1}"),
			 1);                       /* an escaped quote keeps the string open */
	assert_int_equal(depth_of("[][][][]"), 1); /* siblings are not deeper */
	assert_int_equal(depth_of("]]]][]"), 1);   /* stray closers cannot go below 0 */
	assert_int_equal(depth_of("\"x\""), 0);
}

/* "[0,0,...,0]" with count zeros (count >= 1): count + 1 values. Caller frees. */
static char *zeros_array(size_t count, size_t *len)
{
	char *text = malloc(count * 2 + 2);
	size_t i;

	assert_non_null(text);
	text[0] = '[';
	for (i = 0; i < count; i++) {
		text[1 + i * 2] = '0';
		text[2 + i * 2] = i + 1 < count ? ',' : ']';
	}
	text[count * 2 + 1] = '\0';
	*len = count * 2 + 1;
	return text;
}

/* Values are counted so that a flat array cannot make jansson allocate without bound. */
static void test_load_refuses_more_values_than_the_bound(void **state)
{
	json_error_t jerr;
	json_t *value;
	size_t len;
	char *text;

	(void)state;
	text = zeros_array(99999, &len);
	assert_non_null(value = cs_json_load(text, len, 64, &jerr));
	assert_int_equal(json_array_size(value), 99999);
	json_decref(value);
	free(text);
	text = zeros_array(100000, &len);
	assert_null(cs_json_load(text, len, 64, &jerr));
	assert_int_equal(jerr.line, 0);
	assert_string_equal(jerr.text, "more than 100000 values");
	free(text);
}

/* A body of 64 levels is read; of 65, a 400 that says so, before jansson recurses into it. */
static void test_parse_object_bounds_nesting_at_64_levels(void **state)
{
	char text[256];
	struct cs_error err = CS_ERROR_INIT;
	json_t *obj = NULL;
	int depth;

	(void)state;
	for (depth = 64; depth <= 65; depth++) {
		size_t n = 0;
		int i;

		n += (size_t)sprintf(text, "{\"a\":");
		for (i = 1; i < depth; i++)
			text[n++] = '[';
		for (i = 1; i < depth; i++)
			text[n++] = ']';
		text[n++] = '}';
		text[n] = '\0';
		obj = NULL;
		if (depth == 64) {
			assert_int_equal(cs_json_parse_object(text, n, &obj, &err), 0);
			json_decref(obj);
		} else {
			assert_int_equal(cs_json_parse_object(text, n, &obj, &err), -1);
			assert_int_equal(err.status, 400);
			assert_string_equal(err.message, "body: nested deeper than 64 levels");
		}
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_rejects_malformed_and_non_objects),
		cmocka_unit_test(test_only_keys_names_the_unknown_field),
		cmocka_unit_test(test_typed_readers_distinguish_absent_null_and_wrong_type),
		cmocka_unit_test(test_measure_counts_only_structural_brackets),
		cmocka_unit_test(test_load_refuses_more_values_than_the_bound),
		cmocka_unit_test(test_parse_object_bounds_nesting_at_64_levels),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

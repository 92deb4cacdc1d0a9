/* test_url.c - percent-decoding and query strings (common/url.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "url.h"

static void test_decode_turns_escapes_into_bytes(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	size_t len = 0;
	char *out;

	(void)state;
	out = cs_url_decode(&arena, "a%20b%2Fc%41%61", 15, &len, 0);
	assert_string_equal(out, "a b/cAa");
	assert_int_equal(len, 7);
	out = cs_url_decode(&arena, "x%00y", 5, &len, 0); /* a NUL byte is data, counted */
	assert_int_equal(len, 3);
	assert_memory_equal(out, "x\0y", 4);
	assert_string_equal(cs_url_decode(&arena, "%e2%82%ac", 9, NULL, 0), "\xe2\x82\xac");
	cs_arena_release(&arena);
}

static void test_decode_plus_is_a_blank_only_in_queries(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;

	(void)state;
	assert_string_equal(cs_url_decode(&arena, "a+b%2B", 6, NULL, 1), "a b+");
	assert_string_equal(cs_url_decode(&arena, "a+b%2B", 6, NULL, 0), "a+b+");
	cs_arena_release(&arena);
}

static void test_decode_refuses_malformed_escapes(void **state)
{
	const char *bad[] = { "%", "%4", "a%", "%G1", "%1G", "%%41", "ok%2" };
	struct cs_arena arena = CS_ARENA_INIT;
	size_t i, len = 99;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_null(cs_url_decode(&arena, bad[i], strlen(bad[i]), &len, 1));
	assert_int_equal(len, 99);
	/* only len bytes are read: the escape cut off by len is malformed */
	assert_null(cs_url_decode(&arena, "%41", 2, &len, 0));
	cs_arena_release(&arena);
}

static void test_query_value_finds_and_decodes_the_first(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;

	(void)state;
	assert_string_equal(cs_url_query_value(&arena, "a=1&device=my+phone%21&device=2", "device"),
			    "my phone!");
	assert_string_equal(cs_url_query_value(&arena, "limit&x=1", "limit"), "");
	assert_string_equal(cs_url_query_value(&arena, "x=1&&limit=5&", "limit"), "5");
	assert_string_equal(cs_url_query_value(&arena, "cursor=a=b", "cursor"), "a=b");
	assert_null(cs_url_query_value(&arena, "limits=5", "limit"));
	assert_null(cs_url_query_value(&arena, "xlimit=5", "limit"));
	assert_null(cs_url_query_value(&arena, "limit=%4", "limit"));
	assert_null(cs_url_query_value(&arena, NULL, "limit"));
	assert_null(cs_url_query_value(&arena, "", "limit"));
	cs_arena_release(&arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decode_turns_escapes_into_bytes),
		cmocka_unit_test(test_decode_plus_is_a_blank_only_in_queries),
		cmocka_unit_test(test_decode_refuses_malformed_escapes),
		cmocka_unit_test(test_query_value_finds_and_decodes_the_first),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_router.c - paths split into decoded segments and matched against patterns. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "router.h"

static void test_split_decodes_segments_and_ignores_a_trailing_slash(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	struct cs_router_path path;

	(void)state;
	assert_int_equal(cs_router_split(&arena, "/api/chats/c%201/branch/", &path), 0);
	assert_int_equal(path.count, 4);
	assert_string_equal(path.segs[2], "c 1");
	assert_int_equal(cs_router_split(&arena, "/api/messages/a%2Fb%00", &path), 0);
	assert_int_equal(path.lens[2], 4);
	assert_memory_equal(path.segs[2], "a/b\0", 4);
	assert_int_equal(cs_router_split(&arena, "api/chats", &path), -1);
	assert_int_equal(cs_router_split(&arena, "/api/%G1", &path), -1);
	assert_int_equal(cs_router_split(&arena, "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p/q", &path), -1);
	cs_arena_release(&arena);
}

static void test_match_fills_params_only_on_a_match(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	struct cs_router_path path;
	const char *params[2] = { "unset", "unset" };
	size_t lens[2] = { 0, 0 };

	(void)state;
	assert_int_equal(cs_router_split(&arena, "/api/chats/c1/messages", &path), 0);
	assert_int_equal(cs_router_match("/api/chats/:id/branch", &path, params, lens, 2), 0);
	assert_int_equal(cs_router_match("/api/chats/:id", &path, params, lens, 2), 0);
	assert_string_equal(params[0], "unset");
	assert_int_equal(cs_router_match("/api/chats/:id/messages", &path, params, lens, 2), 1);
	assert_string_equal(params[0], "c1");
	assert_int_equal(lens[0], 2);
	assert_int_equal(cs_router_match("/:a/:b/:c/:d", &path, params, lens, 2), 0);
	cs_arena_release(&arena);
}

static void test_split_of_the_root_and_of_empty_segments(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	struct cs_router_path path;

	(void)state;
	assert_int_equal(cs_router_split(&arena, "/", &path), 0);
	assert_int_equal(path.count, 0);
	/* "//" inside a path is an empty segment, which no pattern's literal matches */
	assert_int_equal(cs_router_split(&arena, "/api//chats", &path), 0);
	assert_int_equal(path.count, 3);
	assert_int_equal(path.lens[1], 0);
	assert_int_equal(cs_router_split(&arena, "", &path), -1);
	/* exactly CS_ROUTER_MAX_SEGMENTS segments still split */
	assert_int_equal(cs_router_split(&arena, "/a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p", &path), 0);
	assert_int_equal(path.count, CS_ROUTER_MAX_SEGMENTS);
	cs_arena_release(&arena);
}

static void test_match_compares_decoded_literals_byte_for_byte(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	struct cs_router_path path;
	const char *params[4];
	size_t lens[4];

	(void)state;
	/* %61pi is "api": literals match the decoded segment */
	assert_int_equal(cs_router_split(&arena, "/%61pi/sync", &path), 0);
	assert_int_equal(cs_router_match("/api/sync", &path, params, lens, 4), 1);
	assert_int_equal(cs_router_match("/API/sync", &path, params, lens, 4), 0);
	assert_int_equal(cs_router_match("/api/sync-status", &path, params, lens, 4), 0);
	assert_int_equal(cs_router_match("/api", &path, params, lens, 4), 0);
	/* an escaped slash stays inside one parameter */
	assert_int_equal(cs_router_split(&arena, "/api/messages/a%2Fb", &path), 0);
	assert_int_equal(cs_router_match("/api/messages/:id", &path, params, lens, 4), 1);
	assert_string_equal(params[0], "a/b");
	assert_int_equal(lens[0], 3);
	cs_arena_release(&arena);
}

static void test_match_gives_params_in_pattern_order(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	struct cs_router_path path;
	const char *params[4];
	size_t lens[4];

	(void)state;
	assert_int_equal(cs_router_split(&arena, "/x/one/y/two%20", &path), 0);
	assert_int_equal(cs_router_match("/x/:a/y/:b", &path, params, lens, 4), 1);
	assert_string_equal(params[0], "one");
	assert_string_equal(params[1], "two ");
	assert_int_equal(lens[1], 4);
	assert_int_equal(cs_router_match("/x/:a/:b/:c", &path, params, lens, 4), 1);
	assert_string_equal(params[1], "y");
	assert_int_equal(cs_router_match("/x/:a/y/:b", &path, params, lens, 1), 0);
	cs_arena_release(&arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_split_decodes_segments_and_ignores_a_trailing_slash),
		cmocka_unit_test(test_match_fills_params_only_on_a_match),
		cmocka_unit_test(test_split_of_the_root_and_of_empty_segments),
		cmocka_unit_test(test_match_compares_decoded_literals_byte_for_byte),
		cmocka_unit_test(test_match_gives_params_in_pattern_order),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

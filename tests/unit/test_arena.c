/* test_arena.c - the per-request bump allocator (common/arena.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>
#include <stdint.h>

#include "arena.h"

static void test_alloc_is_aligned_and_never_overlaps(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	char *prev = NULL;
	size_t prev_size = 0, i;

	(void)state;
	for (i = 1; i < 2000; i += 7) {
		char *p = cs_arena_alloc(&arena, i);

		assert_int_equal((uintptr_t)p % 16, 0);
		memset(p, (int)(i & 0xff), i); /* ASan: every byte is ours */
		if (prev)
			assert_true(p >= prev + prev_size || p + i <= prev);
		prev = p;
		prev_size = i;
	}
	cs_arena_release(&arena);
}

static void test_alloc_larger_than_a_block_works_and_keeps_earlier_data(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	char *small = cs_arena_alloc(&arena, 10);
	char *big;

	(void)state;
	memcpy(small, "123456789", 10);
	big = cs_arena_alloc(&arena, 100000);
	memset(big, 'x', 100000);
	assert_string_equal(small, "123456789");
	assert_int_equal(big[99999], 'x');
	cs_arena_release(&arena);
}

static void test_strndup_and_printf_copy_with_a_nul(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;
	const char src[] = "abcdef";
	char *copy = cs_arena_strndup(&arena, src, 3);
	char *text = cs_arena_printf(&arena, "%s-%d-%s", "v", 42, copy);

	(void)state;
	assert_string_equal(copy, "abc");
	assert_string_equal(text, "v-42-abc");
	assert_true(copy != src);
	cs_arena_release(&arena);
}

static void test_release_empties_and_the_arena_is_usable_again(void **state)
{
	struct cs_arena arena = CS_ARENA_INIT;

	(void)state;
	cs_arena_release(&arena); /* never used: safe */
	cs_arena_alloc(&arena, 1);
	assert_non_null(arena.head);
	cs_arena_release(&arena);
	assert_null(arena.head);
	assert_string_equal(cs_arena_strndup(&arena, "again", 5), "again");
	cs_arena_release(&arena);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_alloc_is_aligned_and_never_overlaps),
		cmocka_unit_test(test_alloc_larger_than_a_block_works_and_keeps_earlier_data),
		cmocka_unit_test(test_strndup_and_printf_copy_with_a_nul),
		cmocka_unit_test(test_release_empties_and_the_arena_is_usable_again),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_schema.c - the lists generated from common/schema.h: one item per
 * column, in the table's order, each index naming its own column, and the
 * legacy export's lists the same columns without version (and without a
 * message's stream state, which the legacy format has no place for).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "legacy.h"
#include "schema.h"

#define ITEMS_MAX 32

/* Splits a ", "-separated list into items (copied into buf); returns how many. */
static int split(const char *list, char buf[1024], const char *items[ITEMS_MAX])
{
	char *p;
	int n = 0;

	assert_true(strlen(list) < 1024);
	strcpy(buf, list);
	for (p = buf; n < ITEMS_MAX; n++) {
		char *comma = strstr(p, ", ");

		items[n] = p;
		if (!comma)
			return n + 1;
		*comma = '\0';
		p = comma + 2;
	}
	fail_msg("more than %d items", ITEMS_MAX);
	return -1;
}

static void test_schema_select_lists_hold_each_column_once_at_its_index(void **state)
{
	char buf[1024];
	const char *items[ITEMS_MAX];

	(void)state;
	assert_int_equal(split(CS_CHAT_COLUMNS, buf, items), CS_CHAT_COLUMN_COUNT);
	assert_string_equal(items[CS_CHAT_COL_ID], "c.id");
	assert_string_equal(items[CS_CHAT_COL_TITLE], "c.title");
	assert_string_equal(items[CS_CHAT_COL_TIMESTAMP], "c.\"timestamp\"");
	assert_string_equal(items[CS_CHAT_COL_BRANCHES], "c.branches::text");
	assert_string_equal(items[CS_CHAT_COL_IS_DELETED], "c.is_deleted");
	assert_string_equal(items[CS_CHAT_COL_VERSION], "c.version");
	assert_string_equal(items[CS_CHAT_COL_UPDATED_AT], "c.updated_at");

	assert_int_equal(split(CS_MESSAGE_COLUMNS, buf, items), CS_MESSAGE_COLUMN_COUNT);
	assert_string_equal(items[CS_MESSAGE_COL_ID], "m.id");
	assert_string_equal(items[CS_MESSAGE_COL_TIMESTAMP], "m.\"timestamp\"");
	assert_string_equal(items[CS_MESSAGE_COL_POSITION], "m.position");
	assert_string_equal(items[CS_MESSAGE_COL_ATTACHMENTS], "m.attachments::text");
	assert_string_equal(items[CS_MESSAGE_COL_IS_DELETED], "m.is_deleted");
	assert_string_equal(items[CS_MESSAGE_COL_VERSION], "m.version");

	assert_int_equal(split(CS_SYNC_STATUS_COLUMNS, buf, items), CS_SYNC_STATUS_COLUMN_COUNT);
	assert_string_equal(items[CS_SYNC_STATUS_COL_USER_ID], "s.user_id");
	assert_string_equal(items[CS_SYNC_STATUS_COL_UPDATED_AT], "s.updated_at");
}

/* A UNION of a table's row with NULLs of the other's shape needs the same count and types. */
static void test_schema_nulls_have_the_shape_of_the_select_list(void **state)
{
	char buf[1024];
	const char *items[ITEMS_MAX];

	(void)state;
	assert_int_equal(split(CS_CHAT_NULLS, buf, items), CS_CHAT_COLUMN_COUNT);
	assert_string_equal(items[CS_CHAT_COL_ID], "NULL::text");
	assert_string_equal(items[CS_CHAT_COL_BRANCHES], "NULL::text"); /* selected as text */
	assert_string_equal(items[CS_CHAT_COL_IS_DELETED], "NULL::boolean");
	assert_string_equal(items[CS_CHAT_COL_VERSION], "NULL::bigint");
	assert_int_equal(split(CS_MESSAGE_NULLS, buf, items), CS_MESSAGE_COLUMN_COUNT);
	assert_string_equal(items[CS_MESSAGE_COL_POSITION], "NULL::integer");
	assert_string_equal(items[CS_MESSAGE_COL_ATTACHMENTS], "NULL::text");
}

/*
 * The legacy lists are the store's columns but version and the first
 * store_only at the end (exported_count: the columns before them), unprefixed.
 */
static void check_legacy(const char *store, int store_count, int exported_count, int version,
			 const char *legacy, const char *legacy_select, const char *staging,
			 int legacy_count)
{
	char store_buf[1024], legacy_buf[1024], select_buf[1024], staging_buf[1024];
	const char *store_items[ITEMS_MAX], *legacy_items[ITEMS_MAX], *select_items[ITEMS_MAX];
	const char *staging_items[ITEMS_MAX];
	int i, j = 0;

	assert_int_equal(split(store, store_buf, store_items), store_count);
	assert_int_equal(split(legacy, legacy_buf, legacy_items), legacy_count);
	assert_int_equal(split(legacy_select, select_buf, select_items), legacy_count);
	assert_int_equal(split(staging, staging_buf, staging_items), legacy_count);
	assert_int_equal(legacy_count, exported_count - (version >= 0 ? 1 : 0));
	for (i = 0; i < exported_count; i++) {
		const char *column = strchr(store_items[i], '.') + 1;
		char with_type[128];

		if (i == version)
			continue;
		assert_string_equal(select_items[j], column);
		snprintf(with_type, sizeof(with_type), "%s ", legacy_items[j]);
		assert_int_equal(strncmp(staging_items[j], with_type, strlen(with_type)), 0);
		if (strstr(column, "::text"))
			assert_int_equal(strncmp(legacy_items[j], column, strlen(legacy_items[j])),
					 0);
		else
			assert_string_equal(legacy_items[j], column);
		j++;
	}
}

static void test_schema_legacy_lists_are_the_store_columns_but_version(void **state)
{
	static const char *const chat_names[] = { CS_SCHEMA_LEGACY_NAMES(CS_SCHEMA_CHATS) };

	(void)state;
	check_legacy(CS_CHAT_COLUMNS, CS_CHAT_COLUMN_COUNT, CS_CHAT_COLUMN_COUNT,
		     CS_CHAT_COL_VERSION, CS_LEGACY_CHAT_COLUMNS, CS_LEGACY_CHAT_SELECT,
		     CS_LEGACY_CHAT_STAGING, CS_LEGACY_CHAT_COLUMN_COUNT);
	check_legacy(CS_MESSAGE_COLUMNS, CS_MESSAGE_COLUMN_COUNT, CS_MESSAGE_COL_STREAM_STATE,
		     CS_MESSAGE_COL_VERSION, CS_LEGACY_MESSAGE_COLUMNS, CS_LEGACY_MESSAGE_SELECT,
		     CS_LEGACY_MESSAGE_STAGING, CS_LEGACY_MESSAGE_COLUMN_COUNT);
	check_legacy(CS_SYNC_STATUS_COLUMNS, CS_SYNC_STATUS_COLUMN_COUNT,
		     CS_SYNC_STATUS_COLUMN_COUNT, -1, CS_LEGACY_SYNC_STATUS_COLUMNS,
		     CS_LEGACY_SYNC_STATUS_SELECT, CS_LEGACY_SYNC_STATUS_STAGING,
		     CS_LEGACY_SYNC_STATUS_COLUMN_COUNT);
	assert_int_equal(sizeof(chat_names) / sizeof(chat_names[0]), CS_LEGACY_CHAT_COLUMN_COUNT);
	assert_string_equal(chat_names[CS_LEGACY_CHAT_COL_TIMESTAMP], "timestamp");
	assert_string_equal(chat_names[CS_LEGACY_CHAT_COL_CREATED_AT], "created_at");
	assert_int_equal(CS_LEGACY_MAX_COLUMNS, CS_LEGACY_MESSAGE_COLUMN_COUNT);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_schema_select_lists_hold_each_column_once_at_its_index),
		cmocka_unit_test(test_schema_nulls_have_the_shape_of_the_select_list),
		cmocka_unit_test(test_schema_legacy_lists_are_the_store_columns_but_version),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

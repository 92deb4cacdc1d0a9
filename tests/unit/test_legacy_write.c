/* test_legacy_write.c - rows of the store written back as legacy rows (the export's writer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "legacy.h"

#define MAX_COLUMNS CS_LEGACY_MAX_COLUMNS

/* A one-row result as CS_LEGACY_*_SELECT returns it; a NULL value is SQL NULL. */
static PGresult *one_row(const char *const *values, int count)
{
	static char name[] = "c";
	PGresAttDesc attrs[MAX_COLUMNS];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	int i;

	assert_non_null(res);
	memset(attrs, 0, sizeof(attrs));
	for (i = 0; i < count; i++) {
		attrs[i].name = name;
		attrs[i].typid = 25; /* text: the writer reads every column as text */
		attrs[i].typlen = -1;
	}
	assert_true(PQsetResultAttrs(res, count, attrs));
	for (i = 0; i < count; i++) {
		char value[64] = ""; /* PQsetvalue copies it, but takes a char * */

		if (values[i])
			snprintf(value, sizeof(value), "%s", values[i]);
		assert_true(PQsetvalue(res, 0, i, value, values[i] ? (int)strlen(value) : -1));
	}
	return res;
}

static void expect_written(enum cs_legacy_table table, const char *const *values, int count,
			   const char *want)
{
	struct cs_buf out = CS_BUF_INIT;
	PGresult *res = one_row(values, count);

	cs_legacy_write_row(table, res, 0, &out);
	cs_buf_putc(&out, '\0');
	assert_string_equal(out.data, want);
	cs_buf_release(&out);
	PQclear(res);
}

static void test_chat_times_become_iso_and_branches_stay_raw(void **state)
{
	const char *chat[] = { "c1", "u1", "T\"1\"", "1700000000123", NULL, "m0", "[{\"n\": 0.10}]",
			       "t",  "0",  "-1" };

	(void)state;
	expect_written(CS_LEGACY_CHATS, chat, 10,
		       "{\"id\":\"c1\",\"user_id\":\"u1\",\"title\":\"T\\\"1\\\"\","
		       "\"timestamp\":\"2023-11-14T22:13:20.123Z\",\"parent_chat_id\":null,"
		       "\"branch_from_message_id\":\"m0\",\"branches\":[{\"n\": 0.10}],"
		       "\"is_deleted\":true,\"created_at\":\"1970-01-01T00:00:00.000Z\","
		       "\"updated_at\":\"1969-12-31T23:59:59.999Z\"}");
}

static void test_message_null_position_and_attachments_are_null(void **state)
{
	const char *message[] = { "m1", "c1", "u1", "a\nb", "assistant", "5",
				  NULL, NULL, "t",  "5",    "6" };

	(void)state;
	expect_written(CS_LEGACY_MESSAGES, message, 11,
		       "{\"id\":\"m1\",\"chat_id\":\"c1\",\"user_id\":\"u1\",\"content\":\"a\\nb\","
		       "\"role\":\"assistant\",\"timestamp\":\"1970-01-01T00:00:00.005Z\","
		       "\"position\":null,\"attachments\":null,\"is_deleted\":true,"
		       "\"created_at\":\"1970-01-01T00:00:00.005Z\","
		       "\"updated_at\":\"1970-01-01T00:00:00.006Z\"}");
}

static void test_sync_status_without_last_sync_or_cursor(void **state)
{
	const char *status[] = { "u1", "d1", NULL, NULL, "1000" };

	(void)state;
	expect_written(CS_LEGACY_SYNC_STATUS, status, 5,
		       "{\"user_id\":\"u1\",\"device_id\":\"d1\",\"last_sync_timestamp\":null,"
		       "\"cursor\":null,\"updated_at\":\"1970-01-01T00:00:01.000Z\"}");
}

/*
 * The writer's members are the schema's legacy names, in order: a column
 * added to common/schema.h is exported without a line in legacy_write.c.
 */
static void expect_members(enum cs_legacy_table table, const char *const *names, int count)
{
	const char *values[MAX_COLUMNS];
	struct cs_buf out = CS_BUF_INIT;
	PGresult *res;
	const char *p;
	int i, n = 0;

	assert_true(count <= MAX_COLUMNS);
	for (i = 0; i < count; i++)
		values[i] = "0";
	res = one_row(values, count);
	cs_legacy_write_row(table, res, 0, &out);
	cs_buf_putc(&out, '\0');
	/* no value of an all-"0" row holds a comma or a quote but its string's own */
	for (p = out.data; *p == '{' || *p == ','; n++) {
		const char *end = strchr(p + 2, '"');

		assert_true(p[1] == '"' && end);
		assert_true(n < count);
		if (strlen(names[n]) != (size_t)(end - p - 2) ||
		    memcmp(names[n], p + 2, strlen(names[n])) != 0)
			fail_msg("member %d of \"%s\" is not \"%s\"", n, out.data, names[n]);
		p = strpbrk(end + 2, ",}");
		assert_non_null(p);
		if (*p == '}')
			p++;
	}
	assert_int_equal(n, count);
	assert_int_equal(*p, '\0');
	cs_buf_release(&out);
	PQclear(res);
}

static void test_members_are_the_schema_legacy_names_in_order(void **state)
{
	static const char *const chats[] = { CS_SCHEMA_LEGACY_NAMES(CS_SCHEMA_CHATS) };
	static const char *const messages[] = { CS_SCHEMA_LEGACY_NAMES(CS_SCHEMA_MESSAGES) };
	static const char *const statuses[] = { CS_SCHEMA_LEGACY_NAMES(CS_SCHEMA_SYNC_STATUS) };

	(void)state;
	expect_members(CS_LEGACY_CHATS, chats, (int)(sizeof(chats) / sizeof(chats[0])));
	expect_members(CS_LEGACY_MESSAGES, messages, (int)(sizeof(messages) / sizeof(messages[0])));
	expect_members(CS_LEGACY_SYNC_STATUS, statuses,
		       (int)(sizeof(statuses) / sizeof(statuses[0])));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_members_are_the_schema_legacy_names_in_order),
		cmocka_unit_test(test_chat_times_become_iso_and_branches_stay_raw),
		cmocka_unit_test(test_message_null_position_and_attachments_are_null),
		cmocka_unit_test(test_sync_status_without_last_sync_or_cursor),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/* test_legacy.c - legacy rows become the staging lines an import COPYs, or a reject with its reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "buf.h"
#include "legacy.h"

/* The staging line of a row, without its newline; *rejected set as returned. */
static char *stage(enum cs_legacy_table table, const char *row, int *rejected)
{
	static char line[8192];
	struct cs_buf out = CS_BUF_INIT;

	*rejected = cs_legacy_stage_row(table, 7, row, row ? strlen(row) : 123, &out);
	assert_true(out.len > 0 && out.data[out.len - 1] == '\n');
	assert_true(out.len < sizeof(line));
	memcpy(line, out.data, out.len - 1);
	line[out.len - 1] = '\0';
	cs_buf_release(&out);
	return line;
}

static void expect_line(enum cs_legacy_table table, const char *row, const char *want)
{
	int rejected = -1;

	assert_string_equal(stage(table, row, &rejected), want);
	assert_int_equal(rejected, 0);
}

static void expect_reject(enum cs_legacy_table table, const char *row, const char *reason)
{
	int rejected = -1;
	const char *line = stage(table, row, &rejected);

	assert_int_equal(rejected, 1);
	if (!strstr(line, reason))
		fail_msg("line \"%s\" does not give the reason \"%s\"", line, reason);
}

/*
 * Found by tests/fuzz/fuzz_legacy: the reason of a bad role quoted the raw
 * bytes of the row, so that a role that is not UTF-8 made a line COPY refuses
 * (and the whole import fail) instead of one rejected row.
 */
static void test_bad_role_reason_is_utf8_for_copy(void **state)
{
	int rejected = -1;
	const char *line = stage(CS_LEGACY_MESSAGES,
				 "{\"id\":\"m1\",\"chat_id\":\"c1\",\"user_id\":\"u1\","
				 "\"content\":\"hi\",\"role\":\"user\xbe\",\"timestamp\":1}",
				 &rejected);

	(void)state;
	assert_int_equal(rejected, 1);
	assert_null(strchr(line, 0xbe));
	assert_non_null(strstr(line, "\trole: must be \"user\" or \"assistant\"\tm1\t"));
}

static void test_chat_row_becomes_its_columns(void **state)
{
	(void)state;
	expect_line(
		CS_LEGACY_CHATS,
		"{\"id\":\"c1\",\"user_id\":\"u1\",\"title\":\"Trip \\\"plan\\\" \\u00e9\","
		"\"timestamp\":\"2024-01-02T03:04:05.678Z\",\"parent_chat_id\":null,"
		"\"branch_from_message_id\":null,\"branches\":[\"c2\", \"c3\"],"
		"\"created_at\":\"2024-01-02T03:04:05.678Z\",\"updated_at\":\"2024-01-02T03:04:06Z\","
		"\"is_deleted\":true,\"extra_column\":{\"ignored\":1}}",
		"7\t\\N\tc1\tu1\tTrip \"plan\" \xc3\xa9\t1704164645678\t\\N\t\\N\t[\"c2\", \"c3\"]\tt\t"
		"1704164645678\t1704164646000");
}

static void test_missing_times_fall_back_and_null_branches_are_empty(void **state)
{
	(void)state;
	expect_line(CS_LEGACY_CHATS,
		    "{\"id\":\"c1\",\"user_id\":\"u1\",\"title\":\"t\",\"timestamp\":1000,"
		    "\"branches\":null}",
		    "7\t\\N\tc1\tu1\tt\t1000\t\\N\t\\N\t[]\tf\t1000\t1000");
	expect_line(
		CS_LEGACY_CHATS,
		"{\"id\":\"c1\",\"user_id\":\"u1\",\"title\":\"t\",\"created_at\":\"1970-01-01T00:00:02Z\"}",
		"7\t\\N\tc1\tu1\tt\t2000\t\\N\t\\N\t[]\tf\t2000\t2000");
}

static void test_message_text_is_decoded_into_copy_text(void **state)
{
	(void)state;
	expect_line(
		CS_LEGACY_MESSAGES,
		"{\"id\":\"m1\",\"chat_id\":\"c1\",\"user_id\":\"u1\","
		"\"content\":\"a\\tb\\nc\\\\d\\/e \\ud83d\\ude00 \xf0\x9f\x91\x8b\",\"role\":\"assistant\","
		"\"timestamp\":\"2024-01-02T03:04:05.678\",\"position\":null,"
		"\"attachments\":{\"n\": 0.10, \"s\": \"x\\ny\"},\"is_deleted\":false}",
		"7\t\\N\tm1\tc1\tu1\ta\\tb\\nc\\\\d/e \xf0\x9f\x98\x80 \xf0\x9f\x91\x8b\tassistant\t"
		"1704164645678\t\\N\t{\"n\": 0.10, \"s\": \"x\\\\ny\"}\tf\t1704164645678\t1704164645678");
}

static void test_positions_and_attachments_of_every_type(void **state)
{
	static const char *const attachments[] = {
		"[]", "{}", "\"s\"", "42", "-1.5e3", "true", "false", "12345678901234567890"
	};
	char row[512], want[512];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(attachments) / sizeof(attachments[0]); i++) {
		snprintf(
			row, sizeof(row),
			"{\"id\":\"m\",\"chat_id\":\"c\",\"user_id\":\"u\",\"content\":\"\",\"role\":\"user\","
			"\"timestamp\":5,\"position\":3,\"attachments\":%s}",
			attachments[i]);
		snprintf(want, sizeof(want), "7\t\\N\tm\tc\tu\t\tuser\t5\t3\t%s\tf\t5\t5",
			 attachments[i]);
		expect_line(CS_LEGACY_MESSAGES, row, want);
	}
}

static void test_bad_rows_are_rejected_with_their_id_and_reason(void **state)
{
	char long_id[400];

	(void)state;
	expect_reject(CS_LEGACY_MESSAGES,
		      "{\"id\":\"m1\",\"chat_id\":\"c\",\"user_id\":\"u\",\"content\":\"x\","
		      "\"role\":\"system\",\"timestamp\":1}",
		      "7\trole: must be \"user\" or \"assistant\", not \"system\"\tm1\t\\N");
	expect_reject(CS_LEGACY_MESSAGES,
		      "{\"id\":\"m1\",\"chat_id\":\"c\",\"user_id\":\"u\",\"content\":\"x\","
		      "\"role\":\"user\",\"timestamp\":1,\"position\":-1}",
		      "position: must be null or an integer");
	expect_reject(CS_LEGACY_MESSAGES,
		      "{\"id\":\"m1\",\"chat_id\":\"c\",\"user_id\":\"u\",\"content\":\"x\","
		      "\"role\":\"user\",\"timestamp\":1,\"position\":1.5}",
		      "position: must be null or an integer");
	expect_reject(CS_LEGACY_MESSAGES,
		      "{\"id\":\"m1\",\"chat_id\":\"c\",\"user_id\":\"u\",\"content\":\"x\","
		      "\"role\":\"user\",\"timestamp\":\"yesterday\"}",
		      "timestamp: must be an ISO-8601 timestamp");
	expect_reject(
		CS_LEGACY_MESSAGES,
		"{\"id\":\"m1\",\"chat_id\":\"c\",\"user_id\":\"u\",\"content\":\"a\\u0000b\","
		"\"role\":\"user\",\"timestamp\":1}",
		"content: holds \\\\u0000");
	expect_reject(CS_LEGACY_MESSAGES,
		      "{\"id\":\"m1\",\"chat_id\":\"c\",\"user_id\":\"u\",\"content\":\"\\ud800\","
		      "\"role\":\"user\",\"timestamp\":1}",
		      "content: holds a lone UTF-16 surrogate");
	expect_reject(CS_LEGACY_MESSAGES,
		      "{\"id\":\"m1\",\"chat_id\":\"c\",\"user_id\":\"u\",\"content\":\"\xff\","
		      "\"role\":\"user\",\"timestamp\":1}",
		      "content: holds invalid UTF-8");
	expect_reject(CS_LEGACY_MESSAGES,
		      "{\"id\":\"m1\",\"chat_id\":\"c\",\"user_id\":\"u\",\"content\":\"x\","
		      "\"role\":\"user\",\"timestamp\":1,\"attachments\":[\"\\u0000\"]}",
		      "attachments: holds");
	expect_reject(CS_LEGACY_CHATS,
		      "{\"id\":\"c\",\"user_id\":\"u\",\"title\":\"\",\"timestamp\":1}",
		      "title: must be 1 to 500 characters");
	expect_reject(CS_LEGACY_CHATS, "{\"id\":\"c\",\"user_id\":\"u\",\"title\":\"t\"}",
		      "timestamp: missing");
	expect_reject(
		CS_LEGACY_CHATS,
		"{\"id\":\"c\",\"user_id\":\"u\",\"title\":\"t\",\"timestamp\":1,\"branches\":{}}",
		"branches: must be an array or null");
	expect_reject(
		CS_LEGACY_CHATS,
		"{\"id\":\"c\",\"user_id\":\"u\",\"title\":\"t\",\"timestamp\":1,\"is_deleted\":1}",
		"is_deleted: must be true, false or null");
	expect_reject(CS_LEGACY_CHATS,
		      "{\"id\":\"a\\tb\",\"user_id\":\"u\",\"title\":\"t\",\"timestamp\":1}",
		      "id: contains control characters\ta\\tb\t");
	expect_reject(CS_LEGACY_CHATS,
		      "{\"id\":7,\"user_id\":\"u\",\"title\":\"t\",\"timestamp\":1}",
		      "id: must be a string\t\\N");
	expect_reject(CS_LEGACY_CHATS, "[1,2]", "row: must be a JSON object");
	expect_reject(CS_LEGACY_CHATS, NULL, "row: larger than");
	memset(long_id, 'x', sizeof(long_id) - 1);
	long_id[sizeof(long_id) - 1] = '\0';
	{
		char row[600];

		snprintf(row, sizeof(row),
			 "{\"id\":\"%s\",\"user_id\":\"u\",\"title\":\"t\",\"timestamp\":1}",
			 long_id);
		expect_reject(CS_LEGACY_CHATS, row, "id: longer than 255 bytes\txxxx");
	}
}

static void test_sync_status_rows(void **state)
{
	(void)state;
	expect_line(CS_LEGACY_SYNC_STATUS,
		    "{\"id\":3,\"user_id\":\"u\",\"device_id\":\"d\",\"last_sync_timestamp\":null,"
		    "\"updated_at\":\"1970-01-01T00:00:01Z\"}",
		    "7\t\\N\tu\td\t\\N\t\\N\t1000");
	expect_line(
		CS_LEGACY_SYNC_STATUS,
		"{\"user_id\":\"u\",\"device_id\":\"d\",\"last_sync_timestamp\":\"1970-01-01T00:00:02Z\","
		"\"cursor\":\"abc\"}",
		"7\t\\N\tu\td\t2000\tabc\t2000");
	expect_reject(CS_LEGACY_SYNC_STATUS, "{\"user_id\":\"u\",\"updated_at\":1}",
		      "device_id: missing\tu\t\\N\t");
}

static void test_member_names_with_escapes_and_repeats(void **state)
{
	(void)state;
	expect_line(
		CS_LEGACY_CHATS,
		"{\"id\":\"old\",\"\\u0069d\":\"c1\",\"user_id\":\"u\",\"title\":\"t\",\"timestamp\":1}",
		"7\t\\N\tc1\tu\tt\t1\t\\N\t\\N\t[]\tf\t1\t1");
}

static void test_tables_and_members(void **state)
{
	(void)state;
	assert_string_equal(cs_legacy_member(CS_LEGACY_SYNC_STATUS), "syncStatus");
	assert_int_equal(cs_legacy_table_of("messages"), CS_LEGACY_MESSAGES);
	assert_int_equal(cs_legacy_table_of("exportedAt"), -1);
	assert_null(cs_legacy_members()[CS_LEGACY_TABLES]);
}

/* Fields of a staging line: tabs plus one. */
static int fields(const char *line)
{
	int n = 1;

	for (; *line; line++)
		n += *line == '\t';
	return n;
}

/*
 * A staging line, accepted or rejected, has ord, reason and one field per
 * column of its staging table (CS_LEGACY_*_STAGING): a column added to
 * common/schema.h is staged without a line in legacy_stage.c.
 */
static void test_staged_lines_have_one_field_per_staging_column(void **state)
{
	static const struct {
		enum cs_legacy_table table;
		const char *good;
		int columns;
	} cases[] = {
		{ CS_LEGACY_CHATS,
		  "{\"id\":\"c1\",\"user_id\":\"u1\",\"title\":\"T\",\"timestamp\":1}",
		  CS_LEGACY_CHAT_COLUMN_COUNT },
		{ CS_LEGACY_MESSAGES,
		  "{\"id\":\"m1\",\"chat_id\":\"c1\",\"user_id\":\"u1\",\"content\":\"hi\","
		  "\"role\":\"user\",\"timestamp\":1}",
		  CS_LEGACY_MESSAGE_COLUMN_COUNT },
		{ CS_LEGACY_SYNC_STATUS,
		  "{\"user_id\":\"u1\",\"device_id\":\"d1\",\"updated_at\":1}",
		  CS_LEGACY_SYNC_STATUS_COLUMN_COUNT },
	};
	size_t i;
	int rejected = -1;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_int_equal(fields(stage(cases[i].table, cases[i].good, &rejected)),
				 2 + cases[i].columns);
		assert_int_equal(rejected, 0);
		assert_int_equal(fields(stage(cases[i].table, "{}", &rejected)),
				 2 + cases[i].columns);
		assert_int_equal(rejected, 1);
		assert_int_equal(fields(stage(cases[i].table, NULL, &rejected)),
				 2 + cases[i].columns);
		assert_int_equal(rejected, 1);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_staged_lines_have_one_field_per_staging_column),
		cmocka_unit_test(test_chat_row_becomes_its_columns),
		cmocka_unit_test(test_missing_times_fall_back_and_null_branches_are_empty),
		cmocka_unit_test(test_message_text_is_decoded_into_copy_text),
		cmocka_unit_test(test_positions_and_attachments_of_every_type),
		cmocka_unit_test(test_bad_rows_are_rejected_with_their_id_and_reason),
		cmocka_unit_test(test_sync_status_rows),
		cmocka_unit_test(test_member_names_with_escapes_and_repeats),
		cmocka_unit_test(test_tables_and_members),
		cmocka_unit_test(test_bad_role_reason_is_utf8_for_copy),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

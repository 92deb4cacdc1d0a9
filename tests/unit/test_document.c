/*
 * test_document.c - a result row becomes the API's document (names and
 * kinds from common/schema.h), and the rules of a document's fields answer
 * API.md's messages at their bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "document.h"
#include "id.h"

/* A one-row result of text columns; NULL values are SQL NULLs. */
static PGresult *one_row(char *const *values, int count)
{
	PGresAttDesc attrs[CS_MESSAGE_COLUMN_COUNT];
	PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
	int i;

	assert_non_null(res);
	assert_true(count <= CS_MESSAGE_COLUMN_COUNT);
	memset(attrs, 0, sizeof(attrs));
	for (i = 0; i < count; i++) {
		attrs[i].name = "c";
		attrs[i].format = 0;
	}
	assert_int_equal(PQsetResultAttrs(res, count, attrs), 1);
	for (i = 0; i < count; i++)
		assert_int_equal(
			PQsetvalue(res, 0, i, values[i], values[i] ? (int)strlen(values[i]) : -1),
			1);
	return res;
}

typedef void render_fn(struct cs_buf *out, const PGresult *res, int row, int first_column);

static void assert_renders(render_fn *render, char *const *values, int count, const char *json)
{
	struct cs_buf out = CS_BUF_INIT;
	PGresult *res = one_row(values, count);

	render(&out, res, 0, 0);
	cs_buf_putc(&out, '\0');
	assert_string_equal(out.data, json);
	cs_buf_release(&out);
	PQclear(res);
}

static void test_document_chat_names_each_column_as_the_api_does(void **state)
{
	char *values[CS_CHAT_COLUMN_COUNT] = { "c1",       "u1", "T \"q\"", "5", NULL, NULL,
					       "[\"c2\"]", "f",  "9",       "3", "4" };

	(void)state;
	assert_renders(cs_document_chat, values, CS_CHAT_COLUMN_COUNT,
		       "{\"id\":\"c1\",\"userId\":\"u1\",\"title\":\"T \\\"q\\\"\",\"timestamp\":5,"
		       "\"parentChatId\":null,\"branchFromMessageId\":null,\"branches\":[\"c2\"],"
		       "\"isDeleted\":false,\"version\":9,\"createdAt\":3,\"updatedAt\":4}");
}

static void test_document_message_names_each_column_as_the_api_does(void **state)
{
	char *values[CS_MESSAGE_COLUMN_COUNT] = { "m1", "c1", "u1",        "hi", "user",
						  "5",  NULL, "{\"a\":1}", "t",  "9",
						  "3",  "4",  "streaming", "2" };

	(void)state;
	assert_renders(cs_document_message, values, CS_MESSAGE_COLUMN_COUNT,
		       "{\"id\":\"m1\",\"chatId\":\"c1\",\"userId\":\"u1\",\"content\":\"hi\","
		       "\"role\":\"user\",\"timestamp\":5,\"position\":null,"
		       "\"attachments\":{\"a\":1},\"isDeleted\":true,\"version\":9,"
		       "\"createdAt\":3,\"updatedAt\":4,\"streamState\":\"streaming\","
		       "\"streamSeq\":2}");
}

static void test_document_sync_status_names_each_column_as_the_api_does(void **state)
{
	char *values[CS_SYNC_STATUS_COLUMN_COUNT] = { "u1", "d1", NULL, "abc", "7" };

	(void)state;
	assert_renders(cs_document_sync_status, values, CS_SYNC_STATUS_COLUMN_COUNT,
		       "{\"userId\":\"u1\",\"deviceId\":\"d1\",\"lastSyncTimestamp\":null,"
		       "\"cursor\":\"abc\",\"updatedAt\":7}");
}

static void assert_refused(int rc, const struct cs_error *err, const char *message)
{
	assert_int_equal(rc, -1);
	assert_int_equal(err->status, 400);
	assert_string_equal(err->message, message);
}

static void test_document_rules_accept_their_bounds_and_refuse_past_them(void **state)
{
	static char text[CS_LIMIT_TITLE_CHARS * 2 + 3];
	struct cs_error err = CS_ERROR_INIT;
	char id[CS_ID_MAX + 1];
	int i;

	(void)state;
	memset(id, 'x', sizeof(id));
	assert_int_equal(cs_document_check_id("id", id, CS_ID_MAX, &err), 0);
	assert_refused(cs_document_check_id("deviceId", id, CS_ID_MAX + 1, &err), &err,
		       "deviceId: must be 1 to 255 bytes of text");
	assert_refused(cs_document_check_id("id", "", 0, &err), &err,
		       "id: must be 1 to 255 bytes of text");
	/* the yes/no forms the import and auth ask decide the same */
	assert_true(cs_document_id_fits(id, CS_ID_MAX));
	assert_false(cs_document_id_fits(id, CS_ID_MAX + 1));
	assert_false(cs_document_id_fits("", 0));
	assert_false(cs_document_id_fits("a\x01", 2));
	assert_true(cs_document_content_fits(CS_LIMIT_CONTENT_BYTES));
	assert_false(cs_document_content_fits(CS_LIMIT_CONTENT_BYTES + 1));
	assert_true(cs_document_attachments_fits(CS_LIMIT_ATTACHMENTS_BYTES));
	assert_false(cs_document_attachments_fits(CS_LIMIT_ATTACHMENTS_BYTES + 1));

	/* characters, not bytes: 500 two-byte characters fit */
	for (i = 0; i < CS_LIMIT_TITLE_CHARS + 1; i++)
		memcpy(text + 2 * i, "\xc3\xa9", 2);
	assert_int_equal(cs_document_check_title(text, 2 * CS_LIMIT_TITLE_CHARS, &err), 0);
	assert_refused(cs_document_check_title(text, 2 * CS_LIMIT_TITLE_CHARS + 2, &err), &err,
		       "title: must be 1 to 500 characters");
	assert_refused(cs_document_check_title(text, 0, &err), &err,
		       "title: must be 1 to 500 characters");

	assert_int_equal(cs_document_check_content(1024 * 1024, &err), 0);
	assert_refused(cs_document_check_content(1024 * 1024 + 1, &err), &err,
		       "content: must be at most 1 MiB");
	assert_int_equal(cs_document_check_attachments(256 * 1024, &err), 0);
	assert_refused(cs_document_check_attachments(256 * 1024 + 1, &err), &err,
		       "attachments: must be at most 256 KiB of JSON");

	assert_int_equal(cs_document_check_role("user", &err), 0);
	assert_int_equal(cs_document_check_role("assistant", &err), 0);
	assert_refused(cs_document_check_role("system", &err), &err,
		       "role: must be \"user\" or \"assistant\"");

	assert_int_equal(cs_document_check_position(0, &err), 0);
	assert_int_equal(cs_document_check_position(2147483647LL, &err), 0);
	assert_refused(cs_document_check_position(2147483648LL, &err), &err,
		       "position: must be an integer from 0 to 2147483647");
	assert_refused(cs_document_check_position(-1, &err), &err,
		       "position: must be an integer from 0 to 2147483647");
	assert_int_equal(cs_document_check_timestamp(0, &err), 0);
	assert_refused(cs_document_check_timestamp(-1, &err), &err,
		       "timestamp: must not be negative");

	assert_true(cs_document_title_fits(CS_LIMIT_TITLE_CHARS));
	assert_false(cs_document_title_fits(0));
	assert_false(cs_document_role_valid("User"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document_chat_names_each_column_as_the_api_does),
		cmocka_unit_test(test_document_message_names_each_column_as_the_api_does),
		cmocka_unit_test(test_document_sync_status_names_each_column_as_the_api_does),
		cmocka_unit_test(test_document_rules_accept_their_bounds_and_refuse_past_them),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * test_document.c - a result row becomes the API's document (names and
 * kinds from common/schema.h).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "document.h"

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
		assert_int_equal(PQsetvalue(res, 0, i, values[i],
					    values[i] ? (int)strlen(values[i]) : -1),
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
	char *values[CS_CHAT_COLUMN_COUNT] = { "c1", "u1", "T \"q\"", "5", NULL, NULL,
					      "[\"c2\"]", "f", "9", "3", "4" };

	(void)state;
	assert_renders(cs_document_chat, values, CS_CHAT_COLUMN_COUNT,
		       "{\"id\":\"c1\",\"userId\":\"u1\",\"title\":\"T \\\"q\\\"\",\"timestamp\":5,"
		       "\"parentChatId\":null,\"branchFromMessageId\":null,\"branches\":[\"c2\"],"
		       "\"isDeleted\":false,\"version\":9,\"createdAt\":3,\"updatedAt\":4}");
}

static void test_document_message_names_each_column_as_the_api_does(void **state)
{
	char *values[CS_MESSAGE_COLUMN_COUNT] = { "m1", "c1", "u1", "hi", "user", "5", NULL,
						 "{\"a\":1}", "t", "9", "3", "4" };

	(void)state;
	assert_renders(cs_document_message, values, CS_MESSAGE_COLUMN_COUNT,
		       "{\"id\":\"m1\",\"chatId\":\"c1\",\"userId\":\"u1\",\"content\":\"hi\","
		       "\"role\":\"user\",\"timestamp\":5,\"position\":null,"
		       "\"attachments\":{\"a\":1},\"isDeleted\":true,\"version\":9,"
		       "\"createdAt\":3,\"updatedAt\":4}");
}

static void test_document_sync_status_names_each_column_as_the_api_does(void **state)
{
	char *values[CS_SYNC_STATUS_COLUMN_COUNT] = { "u1", "d1", NULL, "abc", "7" };

	(void)state;
	assert_renders(cs_document_sync_status, values, CS_SYNC_STATUS_COLUMN_COUNT,
		       "{\"userId\":\"u1\",\"deviceId\":\"d1\",\"lastSyncTimestamp\":null,"
		       "\"cursor\":\"abc\",\"updatedAt\":7}");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_document_chat_names_each_column_as_the_api_does),
		cmocka_unit_test(test_document_message_names_each_column_as_the_api_does),
		cmocka_unit_test(test_document_sync_status_names_each_column_as_the_api_does),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

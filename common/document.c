/* document.c - result rows to API JSON. */
#include "document.h"
#include "http.h"

#include <stdlib.h>
#include <string.h>

enum field_kind { FIELD_STRING, FIELD_NUMBER, FIELD_BOOL, FIELD_JSON };

struct field {
	const char *name; /* written as "name": */
	size_t name_len;
	enum field_kind kind;
};

/* The API's name and kind of each column of a table, in the order of its select list. */
#define FIELD(arg, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	{ "\"" api "\":", sizeof(api) + 2, FIELD_##KIND },

static const struct field chat_fields[CS_CHAT_COLUMN_COUNT] = { CS_SCHEMA_CHATS(FIELD, FIELD, ) };
/* clang-format off */
static const struct field message_fields[CS_MESSAGE_COLUMN_COUNT] = {
	CS_SCHEMA_MESSAGES(FIELD, FIELD, )
};
static const struct field sync_status_fields[CS_SYNC_STATUS_COLUMN_COUNT] = {
	CS_SCHEMA_SYNC_STATUS(FIELD, FIELD, )
};
/* clang-format on */

/* The bytes of one document besides its values: braces, names, commas, "null"s. */
static size_t frame_size(const struct field *fields, int count)
{
	size_t n = 2;

	for (int i = 0; i < count; i++)
		n += fields[i].name_len + 1 + 5;
	return n;
}

/*
 * The document of one row. Its size is reserved once (values as stored; only
 * a string that needs escapes grows the buffer again), and everything is
 * copied in runs: names with their quotes and colon, values whole.
 */
static void put_object(struct cs_buf *out, const PGresult *res, int row, int first,
		       const struct field *fields, int count)
{
	size_t need = frame_size(fields, count);
	int i;

	for (i = 0; i < count; i++)
		need += (size_t)PQgetlength(res, row, first + i) + 2;
	cs_buf_grow(out, need);
	cs_buf_append(out, "{", 1);
	for (i = 0; i < count; i++) {
		int col = first + i;
		const char *value = PQgetvalue(res, row, col);
		size_t len = (size_t)PQgetlength(res, row, col);

		cs_buf_append(out, fields[i].name, fields[i].name_len);
		if (PQgetisnull(res, row, col)) {
			cs_buf_append(out, "null", 4);
		} else {
			switch (fields[i].kind) {
			case FIELD_STRING:
				cs_buf_json_string(out, value, len);
				break;
			case FIELD_BOOL:
				if (value[0] == 't')
					cs_buf_append(out, "true", 4);
				else
					cs_buf_append(out, "false", 5);
				break;
			case FIELD_NUMBER:
			case FIELD_JSON:
				cs_buf_append(out, value, len);
				break;
			}
		}
		cs_buf_append(out, i + 1 < count ? "," : "}", 1);
	}
}

void cs_document_reserve(struct cs_buf *out, const PGresult *res, int rows, size_t per_row)
{
	size_t need = 0;
	int columns = PQnfields(res);

	for (int row = 0; row < rows; row++) {
		need += per_row + frame_size(chat_fields, CS_CHAT_COLUMN_COUNT) +
			frame_size(message_fields, CS_MESSAGE_COLUMN_COUNT);
		for (int col = 0; col < columns; col++)
			need += (size_t)PQgetlength(res, row, col) + 2;
	}
	cs_buf_grow(out, need);
}

int cs_document_answer_rows(const PGresult *res, int bytes_column, long long limit)
{
	long long before = 0;
	int row, rows = PQntuples(res);

	for (row = 0; row < rows; row++) {
		if ((limit >= 0 && row >= limit) || (row > 0 && before >= CS_LIMIT_ANSWER_BYTES))
			break;
		before += strtoll(PQgetvalue(res, row, bytes_column), NULL, 10);
	}
	return row;
}

void cs_document_chat(struct cs_buf *out, const PGresult *res, int row, int first_column)
{
	put_object(out, res, row, first_column, chat_fields, CS_CHAT_COLUMN_COUNT);
}

void cs_document_message(struct cs_buf *out, const PGresult *res, int row, int first_column)
{
	put_object(out, res, row, first_column, message_fields, CS_MESSAGE_COLUMN_COUNT);
}

void cs_document_sync_status(struct cs_buf *out, const PGresult *res, int row, int first_column)
{
	put_object(out, res, row, first_column, sync_status_fields, CS_SYNC_STATUS_COLUMN_COUNT);
}

void cs_document_messages(struct cs_buf *out, const PGresult *res, int first_column)
{
	int row, rows = PQntuples(res);

	cs_document_reserve(out, res, rows, 1);
	cs_buf_putc(out, '[');
	for (row = 0; row < rows; row++) {
		if (row)
			cs_buf_putc(out, ',');
		cs_document_message(out, res, row, first_column);
	}
	cs_buf_putc(out, ']');
}

void cs_document_respond(struct cs_request *req, int status, enum cs_document_kind kind,
			 const PGresult *res, int row, int first_column)
{
	struct cs_buf body = CS_BUF_INIT;
	int is_chat = kind == CS_DOCUMENT_CHAT;

	cs_buf_puts(&body, is_chat ? "{\"chat\":" : "{\"message\":");
	if (is_chat)
		cs_document_chat(&body, res, row, first_column);
	else
		cs_document_message(&body, res, row, first_column);
	cs_buf_putc(&body, '}');
	cs_http_etag(req, PQgetvalue(res, row,
				     first_column + (is_chat ? CS_CHAT_COL_VERSION
							     : CS_MESSAGE_COL_VERSION)));
	cs_http_respond(req, status, body.data, body.len);
	cs_buf_release(&body);
}

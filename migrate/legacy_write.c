/*
 * legacy_write.c - the legacy JSON writer: a row of the store, as selected
 * with CS_LEGACY_*_SELECT, written back as a legacy row (for export).
 */
#include "legacy.h"
#include "timestamp.h"

#include <stdlib.h>

/* ---- store rows back to legacy rows ---- */

/* "key": with the comma that separates it from the member before. */
static void json_key(struct cs_buf *out, const char *key)
{
	if (out->len > 0 && out->data[out->len - 1] != '{')
		cs_buf_putc(out, ',');
	cs_buf_printf(out, "\"%s\":", key);
}

static void json_text(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	json_key(out, key);
	if (PQgetisnull(res, row, col))
		cs_buf_puts(out, "null");
	else
		cs_buf_json_string(out, PQgetvalue(res, row, col),
				   (size_t)PQgetlength(res, row, col));
}

/* A column as it is: a number or JSON text (null when NULL). */
static void json_raw(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	json_key(out, key);
	if (PQgetisnull(res, row, col))
		cs_buf_puts(out, "null");
	else
		cs_buf_append(out, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

static void json_time(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	char iso[CS_TIMESTAMP_MAX];

	json_key(out, key);
	if (PQgetisnull(res, row, col)) {
		cs_buf_puts(out, "null");
		return;
	}
	cs_timestamp_format(strtoll(PQgetvalue(res, row, col), NULL, 10), iso);
	cs_buf_printf(out, "\"%s\"", iso);
}

static void json_bool(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	json_key(out, key);
	cs_buf_puts(out, PQgetvalue(res, row, col)[0] == 't' ? "true" : "false");
}

/* Columns of CS_LEGACY_CHAT_SELECT. */
static void write_legacy_chat(const PGresult *res, int row, struct cs_buf *out)
{
	json_text(out, "id", res, row, CS_LEGACY_CHAT_COL_ID);
	json_text(out, "user_id", res, row, CS_LEGACY_CHAT_COL_USER_ID);
	json_text(out, "title", res, row, CS_LEGACY_CHAT_COL_TITLE);
	json_time(out, "timestamp", res, row, CS_LEGACY_CHAT_COL_TIMESTAMP);
	json_text(out, "parent_chat_id", res, row, CS_LEGACY_CHAT_COL_PARENT_CHAT_ID);
	json_text(out, "branch_from_message_id", res, row,
		  CS_LEGACY_CHAT_COL_BRANCH_FROM_MESSAGE_ID);
	json_raw(out, "branches", res, row, CS_LEGACY_CHAT_COL_BRANCHES);
	json_time(out, "created_at", res, row, CS_LEGACY_CHAT_COL_CREATED_AT);
	json_time(out, "updated_at", res, row, CS_LEGACY_CHAT_COL_UPDATED_AT);
	json_bool(out, "is_deleted", res, row, CS_LEGACY_CHAT_COL_IS_DELETED);
}

/* Columns of CS_LEGACY_MESSAGE_SELECT. */
static void write_legacy_message(const PGresult *res, int row, struct cs_buf *out)
{
	json_text(out, "id", res, row, CS_LEGACY_MESSAGE_COL_ID);
	json_text(out, "chat_id", res, row, CS_LEGACY_MESSAGE_COL_CHAT_ID);
	json_text(out, "user_id", res, row, CS_LEGACY_MESSAGE_COL_USER_ID);
	json_text(out, "content", res, row, CS_LEGACY_MESSAGE_COL_CONTENT);
	json_text(out, "role", res, row, CS_LEGACY_MESSAGE_COL_ROLE);
	json_time(out, "timestamp", res, row, CS_LEGACY_MESSAGE_COL_TIMESTAMP);
	json_raw(out, "position", res, row, CS_LEGACY_MESSAGE_COL_POSITION);
	json_raw(out, "attachments", res, row, CS_LEGACY_MESSAGE_COL_ATTACHMENTS);
	json_time(out, "created_at", res, row, CS_LEGACY_MESSAGE_COL_CREATED_AT);
	json_time(out, "updated_at", res, row, CS_LEGACY_MESSAGE_COL_UPDATED_AT);
	json_bool(out, "is_deleted", res, row, CS_LEGACY_MESSAGE_COL_IS_DELETED);
}

/* Columns of CS_LEGACY_SYNC_STATUS_SELECT. */
static void write_legacy_sync_status(const PGresult *res, int row, struct cs_buf *out)
{
	json_text(out, "user_id", res, row, CS_LEGACY_SYNC_STATUS_COL_USER_ID);
	json_text(out, "device_id", res, row, CS_LEGACY_SYNC_STATUS_COL_DEVICE_ID);
	json_time(out, "last_sync_timestamp", res, row,
		  CS_LEGACY_SYNC_STATUS_COL_LAST_SYNC_TIMESTAMP);
	json_text(out, "cursor", res, row, CS_LEGACY_SYNC_STATUS_COL_CURSOR);
	json_time(out, "updated_at", res, row, CS_LEGACY_SYNC_STATUS_COL_UPDATED_AT);
}

void cs_legacy_write_row(enum cs_legacy_table table, const PGresult *res, int row,
			 struct cs_buf *out)
{
	cs_buf_putc(out, '{');
	if (table == CS_LEGACY_CHATS)
		write_legacy_chat(res, row, out);
	else if (table == CS_LEGACY_MESSAGES)
		write_legacy_message(res, row, out);
	else
		write_legacy_sync_status(res, row, out);
	cs_buf_putc(out, '}');
}

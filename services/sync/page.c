/*
 * page.c - one page of a user's changes after a version, as the change feed
 * answers it: read by GET /api/sync (changes.c) and by the live requests
 * (live.c).
 */
#include "page.h"
#include "cursor.h"
#include "db.h"
#include "document.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static void append_change(struct cs_buf *out, const PGresult *res, int row,
			  struct sync_streams *streams)
{
	int is_message = PQgetvalue(res, row, SYNC_PAGE_COL_KIND)[0] == '1';
	int first = SYNC_PAGE_COL_FIRST_DOC + (is_message ? CS_CHAT_COLUMN_COUNT : 0);
	int deleted_column =
		first + (is_message ? CS_MESSAGE_COL_IS_DELETED : CS_CHAT_COL_IS_DELETED);
	int id_column = first + (is_message ? CS_MESSAGE_COL_ID : CS_CHAT_COL_ID);

	cs_buf_printf(out,
		      "{\"table\":\"%s\",\"op\":\"%s\",\"id\":", is_message ? "messages" : "chats",
		      PQgetvalue(res, row, deleted_column)[0] == 't' ? "delete" : "upsert");
	cs_buf_json_string(out, PQgetvalue(res, row, id_column),
			   (size_t)PQgetlength(res, row, id_column));
	cs_buf_printf(out, ",\"version\":%s,\"doc\":", PQgetvalue(res, row, SYNC_PAGE_COL_VERSION));
	if (is_message && streams)
		sync_streams_saw(
			streams, PQgetvalue(res, row, id_column),
			PQgetvalue(res, row, first + CS_MESSAGE_COL_STREAM_STATE),
			strtoll(PQgetvalue(res, row, first + CS_MESSAGE_COL_STREAM_SEQ), NULL, 10),
			PQgetvalue(res, row, deleted_column)[0] == 't');
	if (is_message)
		cs_document_message(out, res, row, first);
	else
		cs_document_chat(out, res, row, first);
	cs_buf_putc(out, '}');
}

int sync_page_load(struct cs_request *req, long long after, long long limit,
		   struct sync_streams *streams, struct cs_buf *out, struct sync_page *page,
		   struct cs_error *err)
{
	struct cs_db_conn *conn = NULL;
	PGresult *res = NULL;
	char after_text[24], limit_text[24];
	int rows, row;

	snprintf(after_text, sizeof(after_text), "%lld", after);
	snprintf(limit_text, sizeof(limit_text), "%lld", limit + 1);
	if (cs_db_acquire_for(cs_server_db(req->server), req->user_id, &conn, err) < 0)
		return -1;
	{
		const char *params[3] = { req->user_id, after_text, limit_text };

		if (cs_db_exec(conn, "sync_changes", 3, params, NULL, &res, err) < 0) {
			cs_db_release(conn);
			return -1;
		}
	}
	cs_db_release(conn);
	rows = PQntuples(res);
	page->last = after;
	page->count = cs_document_answer_rows(res, SYNC_PAGE_COL_STORED_BYTES, limit);
	page->has_more = page->count < rows;
	cs_buf_puts(out, "{\"changes\":[");
	for (row = 0; row < page->count; row++) {
		if (row)
			cs_buf_putc(out, ',');
		append_change(out, res, row, streams);
		page->last = strtoll(PQgetvalue(res, row, SYNC_PAGE_COL_VERSION), NULL, 10);
	}
	PQclear(res);
	page->cursor = streams ? sync_streams_cursor(req, streams, page->last)
			       : cs_cursor_encode(&req->arena, page->last, "", 0);
	cs_buf_puts(out, "],\"cursor\":");
	cs_buf_json_string(out, page->cursor, strlen(page->cursor));
	cs_buf_printf(out, ",\"hasMore\":%s}", page->has_more ? "true" : "false");
	return 0;
}

/* sync_status.c - PUT /api/sync-status/{deviceId} and GET /api/sync-status, per user and device. */
#include "bounds.h"
#include "clock.h"
#include "db.h"
#include "document.h"
#include "id.h"
#include "json.h"
#include "sync_status.h"

#include <stdio.h>
#include <string.h>

void sync_status_put(struct cs_request *req)
{
	static const char *const allowed[] = { "lastSyncTimestamp", "cursor", NULL };
	struct cs_error err = CS_ERROR_INIT;
	struct cs_db_conn *conn = NULL;
	struct cs_buf out = CS_BUF_INIT;
	json_t *body = NULL;
	PGresult *res = NULL;
	const char *cursor = NULL;
	size_t cursor_len = 0;
	long long last_sync = 0;
	char last_text[24], now_text[24];
	int has_last, has_cursor;

	if (cs_document_check_id("deviceId", req->params[0], req->param_lens[0], &err) < 0 ||
	    cs_http_body_object(req, allowed, &body, &err) < 0 ||
	    (has_last = cs_json_int64(body, "lastSyncTimestamp", CS_JSON_NULLABLE, &last_sync,
				      &err)) < 0 ||
	    (has_cursor = cs_json_string(body, "cursor", CS_JSON_NULLABLE, &cursor, &cursor_len,
					 &err)) < 0)
		goto out;
	if (has_cursor == CS_JSON_PRESENT &&
	    (cursor_len > 1024 || !cs_id_valid(cursor, cursor_len))) {
		cs_error_set(&err, 400, "cursor: must be a cursor returned by /api/sync");
		goto out;
	}
	snprintf(last_text, sizeof(last_text), "%lld", last_sync);
	snprintf(now_text, sizeof(now_text), "%lld", cs_clock_now_ms());
	if (cs_db_acquire_for(cs_server_db(req->server), req->user_id, &conn, &err) < 0)
		goto out;
	{
		const char *params[5] = { req->user_id, req->params[0],
					  has_last == CS_JSON_PRESENT ? last_text : NULL,
					  has_cursor == CS_JSON_PRESENT ? cursor : NULL, now_text };

		if (cs_db_exec(conn, "sync_status_put", 5, params, NULL, &res, &err) < 0)
			goto out;
	}
	if (PQntuples(res) == 0) {
		cs_error_set(&err, 409, "deviceId: a user has at most %d devices",
			     CS_LIMIT_DEVICES);
		goto out;
	}
	cs_buf_puts(&out, "{\"syncStatus\":");
	cs_document_sync_status(&out, res, 0, 0);
	cs_buf_putc(&out, '}');
	cs_http_respond(req, 200, out.data, out.len);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_db_release(conn);
	PQclear(res);
	json_decref(body);
	cs_buf_release(&out);
}

void sync_status_list(struct cs_request *req)
{
	struct cs_error err = CS_ERROR_INIT;
	struct cs_db_conn *conn = NULL;
	struct cs_buf out = CS_BUF_INIT;
	PGresult *res = NULL;
	const char *params[1] = { req->user_id };
	int row;

	if (cs_db_acquire_for(cs_server_db(req->server), req->user_id, &conn, &err) < 0 ||
	    cs_db_exec(conn, "sync_status_list", 1, params, NULL, &res, &err) < 0)
		goto out;
	cs_buf_puts(&out, "{\"devices\":[");
	for (row = 0; row < PQntuples(res); row++) {
		if (row)
			cs_buf_putc(&out, ',');
		cs_document_sync_status(&out, res, row, 0);
	}
	cs_buf_puts(&out, "]}");
	cs_http_respond(req, 200, out.data, out.len);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_db_release(conn);
	PQclear(res);
	cs_buf_release(&out);
}

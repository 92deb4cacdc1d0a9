/*
 * messages.c - append, edit, soft-delete and page through messages.
 *
 * Writes follow the shape of chats-svc: BEGIN, reserve the user's versions
 * (which locks the user, and so serialises appends to any of the user's
 * chats), check, write, COMMIT, publish the wake-up.
 */
#include "bounds.h"
#include "cursor.h"
#include "clock.h"
#include "db.h"
#include "document.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "messages.h"
#include "stream.h"
#include "version.h"
#include "write.h"

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int path_id(struct cs_request *req, const char **id, struct cs_error *err)
{
	if (cs_document_check_id("id", req->params[0], req->param_lens[0], err) < 0)
		return -1;
	*id = req->params[0];
	return 0;
}

static int read_content(json_t *body, int flags, const char **content, struct cs_error *err)
{
	size_t len = 0;
	int rc = cs_json_string(body, "content", flags, content, &len, err);

	if (rc == CS_JSON_PRESENT && cs_document_check_content(len, err) < 0)
		return -1;
	if (rc != CS_JSON_PRESENT)
		*content = NULL;
	return rc < 0 ? -1 : 0;
}

/* attachments: any JSON up to 256 KiB; *text is NULL for null, malloc'd otherwise. */
static int read_attachments(json_t *body, int *present, char **text, struct cs_error *err)
{
	json_t *value = NULL;
	int rc = cs_json_value(body, "attachments", CS_JSON_NULLABLE, &value, err);

	*text = NULL;
	*present = rc == CS_JSON_PRESENT || rc == CS_JSON_NULL;
	if (rc != CS_JSON_PRESENT)
		return rc < 0 ? -1 : 0;
	*text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);
	if (!*text)
		return cs_error_set(err, 500, "internal error");
	return cs_document_check_attachments(strlen(*text), err);
}

/*
 * An append whose insert wrote nothing: the id exists (the user's own is a
 * replay, answered with the stored message; another user's is a conflict) or
 * the chat is not the user's.
 */
static void answer_not_inserted(struct cs_request *req, struct cs_db_conn *conn,
				const PGresult *owner, const char *id, struct cs_error *err)
{
	const char *params[1] = { id };
	PGresult *res = NULL;

	if (PQntuples(owner) == 0) {
		/* another user's append of this id may have committed after our look */
		if (cs_db_exec(conn, "messages_owner", 1, params, NULL, &res, err) < 0)
			return;
		owner = res;
	}
	if (PQntuples(owner) == 0)
		cs_error_set(err, 404, "chat not found");
	else if (strcmp(PQgetvalue(owner, 0, 0), req->user_id) != 0)
		cs_error_set(err, 409, "id: already used");
	else {
		cs_http_add_header(req, "Idempotent-Replay", "true");
		cs_document_respond(req, 200, CS_DOCUMENT_MESSAGE, owner, 0, 1);
	}
	PQclear(res);
}

/* streamState: absent, "complete" (the same) or "streaming" (an assistant's reply only). */
static int read_stream_state(json_t *body, const char *role, const char **state,
			     struct cs_error *err)
{
	size_t len = 0;
	int rc = cs_json_string(body, "streamState", CS_JSON_NULLABLE, state, &len, err);

	if (rc < 0)
		return -1;
	if (rc != CS_JSON_PRESENT || !strcmp(*state, "complete")) {
		*state = NULL;
		return 0;
	}
	if (strcmp(*state, "streaming") != 0)
		return cs_error_set(err, 400, "streamState: must be \"streaming\" or absent");
	if (strcmp(role, "assistant") != 0)
		return cs_error_set(err, 400, "streamState: only an assistant message streams");
	return 0;
}

/* A streaming create that inserted nothing in a chat of the user: the user's cap. */
static void explain_streams_full(struct cs_request *req, struct cs_db_conn *conn,
				 struct cs_error *err)
{
	const char *params[1] = { req->user_id };
	PGresult *res = NULL;

	if (cs_db_exec(conn, "messages_streaming_count", 1, params, NULL, &res, err) < 0)
		return;
	if (strtoll(PQgetvalue(res, 0, 0), NULL, 10) >= CS_LIMIT_STREAMS_PER_USER)
		cs_error_set(err, 429,
			     "too many streaming messages for this user (at most %d at once)",
			     CS_LIMIT_STREAMS_PER_USER);
	PQclear(res);
}

/*
 * One round trip: BEGIN, take the user's next version (locking the user),
 * look the id up, insert, COMMIT. A replay or a missing chat commits only the
 * version bump, which leaves a harmless gap in the user's versions.
 */
void messages_append(struct cs_request *req)
{
	static const char *const allowed[] = { "id",          "content",     "role",
					       "position",    "attachments", "timestamp",
					       "streamState", NULL };
	enum { BEGIN, RESERVE, OWNER, INSERT, COMMIT, STEPS };
	struct cs_error err = CS_ERROR_INIT;
	struct cs_db_conn *conn = NULL;
	json_t *body = NULL;
	PGresult *results[STEPS] = { NULL };
	const char *chat_id = NULL, *id = NULL, *content = NULL, *role = NULL;
	const char *stream_state = NULL;
	char *attachments = NULL;
	size_t id_len = 0, role_len = 0, content_len = 0;
	long long position = -1, timestamp = cs_clock_now_ms();
	char new_id[CS_ID_NEW_SIZE], position_text[24], ts_text[24], now_text[24];
	int rc, i, has_attachments, has_position, inserted;

	if (path_id(req, &chat_id, &err) < 0 || cs_http_body_object(req, allowed, &body, &err) < 0)
		goto out;
	rc = cs_json_string(body, "id", CS_JSON_NULLABLE, &id, &id_len, &err);
	if (rc < 0)
		goto out;
	if (rc == CS_JSON_PRESENT && cs_document_check_id("id", id, id_len, &err) < 0)
		goto out;
	if (rc != CS_JSON_PRESENT) {
		cs_id_new("m_", new_id);
		id = new_id;
	}
	if (read_content(body, CS_JSON_REQUIRED, &content, &err) < 0 ||
	    cs_json_string(body, "role", CS_JSON_REQUIRED, &role, &role_len, &err) < 0 ||
	    cs_document_check_role(role, &err) < 0 ||
	    read_stream_state(body, role, &stream_state, &err) < 0)
		goto out;
	content_len = strlen(content);
	has_position = cs_json_int64(body, "position", CS_JSON_NULLABLE, &position, &err);
	if (has_position < 0 ||
	    cs_json_int64(body, "timestamp", CS_JSON_NULLABLE, &timestamp, &err) < 0 ||
	    read_attachments(body, &has_attachments, &attachments, &err) < 0)
		goto out;
	if ((has_position == CS_JSON_PRESENT && cs_document_check_position(position, &err) < 0) ||
	    cs_document_check_timestamp(timestamp, &err) < 0)
		goto out;
	snprintf(position_text, sizeof(position_text), "%lld", position);
	snprintf(ts_text, sizeof(ts_text), "%lld", timestamp);
	snprintf(now_text, sizeof(now_text), "%lld", cs_clock_now_ms());
	{
		const char *reserve[2] = { req->user_id, "1" };
		const char *owner[1] = { id };
		const char *insert[10] = { id,
					   chat_id,
					   req->user_id,
					   content,
					   role,
					   ts_text,
					   has_position == CS_JSON_PRESENT ? position_text : NULL,
					   attachments,
					   now_text,
					   stream_state };
		const struct cs_db_step steps[STEPS] = {
			[BEGIN] = { NULL, "BEGIN", 0, NULL },
			[RESERVE] = { "cs_version_reserve", NULL, 2, reserve },
			[OWNER] = { "messages_owner", NULL, 1, owner },
			[INSERT] = { "messages_insert", NULL, 10, insert },
			[COMMIT] = { NULL, "COMMIT", 0, NULL },
		};

		if (cs_db_acquire_for(cs_server_db(req->server), req->user_id, &conn, &err) < 0)
			goto out;
		if (cs_db_pipeline(conn, steps, STEPS, results, &err) < 0) {
			if (err.status == 409)
				cs_error_set(&err, 409, "position: already taken in this chat");
			goto out;
		}
	}
	inserted = PQntuples(results[INSERT]) > 0;
	if (!inserted)
		answer_not_inserted(req, conn, results[OWNER], id, &err);
	if (!inserted && stream_state && err.status == 404)
		explain_streams_full(req, conn, &err);
	cs_db_release(conn);
	conn = NULL;
	/*
	 * A replay publishes too: the first try may have committed and lost its
	 * answer (and its wake-up) with its connection.
	 */
	cs_version_committed(req->server, req->user_id,
			     strtoll(PQgetvalue(results[RESERVE], 0, 0), NULL, 10));
	/* Redis away: the first chunk rebuilds the stream's state from the row */
	if (inserted && stream_state &&
	    cs_stream_open(cs_server_events(req->server), req->user_id, id, chat_id, 0,
			   (long long)content_len,
			   strtoll(PQgetvalue(results[RESERVE], 0, 0), NULL, 10),
			   cs_clock_now_ms()) < 0)
		cs_log_warn("could not open a stream in redis: its first chunk will");
	if (inserted)
		cs_document_respond(req, 201, CS_DOCUMENT_MESSAGE, results[INSERT], 0, 0);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_db_release(conn);
	for (i = 0; i < STEPS; i++)
		PQclear(results[i]);
	free(attachments);
	json_decref(body);
}

/* The user's message streams: its content is the stream's (409 in err). */
static int is_streaming(struct cs_write *w, const char *id, struct cs_error *err)
{
	const char *params[2] = { id, w->req->user_id };
	PGresult *res = NULL;
	int streaming;

	if (cs_db_exec(w->conn, "messages_stream_row", 2, params, NULL, &res, err) < 0)
		return 1;
	streaming = PQntuples(res) > 0 && !strcmp(PQgetvalue(res, 0, 0), "streaming");
	if (streaming)
		cs_error_set(err, 409, "message is streaming");
	PQclear(res);
	return streaming;
}

void messages_update(struct cs_request *req)
{
	static const char *const allowed[] = { "content", "attachments", NULL };
	struct cs_error err = CS_ERROR_INIT;
	struct cs_write w = CS_WRITE_INIT;
	json_t *body = NULL;
	PGresult *res = NULL;
	const char *id = NULL, *content = NULL;
	char *attachments = NULL;
	long long expected = 0;
	char expected_text[24];
	int has_expected, has_attachments = 0;

	if (path_id(req, &id, &err) < 0 ||
	    (has_expected = cs_http_if_match(req, &expected, &err)) < 0 ||
	    cs_http_body_object(req, allowed, &body, &err) < 0 ||
	    read_content(body, 0, &content, &err) < 0 ||
	    read_attachments(body, &has_attachments, &attachments, &err) < 0)
		goto out;
	snprintf(expected_text, sizeof(expected_text), "%lld", expected);
	if (cs_write_begin(&w, req, 1, &err) < 0)
		goto out;
	{
		const char *params[8] = { id,          req->user_id,
					  content,     has_attachments ? "true" : "false",
					  attachments, w.version_text,
					  w.now_text,  has_expected ? expected_text : NULL };

		if (cs_db_exec(w.conn, "messages_update", 8, params, NULL, &res, &err) < 0)
			goto out;
	}
	if (PQntuples(res) == 0) {
		if (!content || !is_streaming(&w, id, &err))
			cs_write_explain_miss(&w, "messages_visible", id, "message", &err);
		goto out;
	}
	if (cs_write_commit(&w, &err) < 0)
		goto out;
	cs_document_respond(req, 200, CS_DOCUMENT_MESSAGE, res, 0, 0);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_write_end(&w);
	PQclear(res);
	free(attachments);
	json_decref(body);
}

void messages_delete(struct cs_request *req)
{
	/* a reply deleted while it streams ends with it: its later chunks are refused */
	if (cs_write_soft_delete(req, CS_DOCUMENT_MESSAGE, "messages_delete", "messages_get_own"))
		messages_stream_abandon(req->server, req->user_id, req->params[0]);
}

/* The page key: `cursor` (opaque, from nextCursor) or `after` (a position). */
static int page_key(struct cs_request *req, char pos[24], char ts[24], const char **id,
		    struct cs_error *err)
{
	const char *cursor = cs_http_query(req, "cursor");
	long long after = -2, number = 0;
	const char *text = NULL;
	size_t len = 0;

	*id = "";
	snprintf(ts, 24, "%lld", (long long)LLONG_MIN);
	if (cursor && *cursor) {
		char *colon;

		if (cs_cursor_decode(&req->arena, cursor, &number, &text, &len) < 0 ||
		    !(colon = memchr(text, ':', len)))
			return cs_error_set(err, 400, "cursor: malformed");
		*colon = '\0';
		snprintf(pos, 24, "%lld", number);
		snprintf(ts, 24, "%lld", strtoll(text, NULL, 10));
		*id = colon + 1;
		return 0;
	}
	if (cs_http_query_long(req, "after", -1, -1, INT_MAX, &after, err) < 0)
		return -1;
	if (cs_http_query(req, "after"))
		snprintf(ts, 24, "%lld", (long long)LLONG_MAX);
	else
		after = -2; /* before every message, null positions included */
	snprintf(pos, 24, "%lld", after);
	return 0;
}

void messages_page(struct cs_request *req)
{
	struct cs_error err = CS_ERROR_INIT;
	struct cs_db_conn *conn = NULL;
	struct cs_buf body = CS_BUF_INIT;
	PGresult *res = NULL;
	const char *chat_id = NULL, *after_id = NULL;
	char pos[24], ts[24], limit_text[24];
	long long limit;
	int rows, row, count = 0;

	if (path_id(req, &chat_id, &err) < 0 ||
	    cs_http_query_long(req, "limit", CS_LIMIT_MESSAGES_PAGE_DEFAULT, 1,
			       CS_LIMIT_MESSAGES_PAGE_MAX, &limit, &err) < 0 ||
	    page_key(req, pos, ts, &after_id, &err) < 0)
		goto out;
	snprintf(limit_text, sizeof(limit_text), "%lld", limit + 1);
	if (cs_db_acquire_for(cs_server_db(req->server), req->user_id, &conn, &err) < 0)
		goto out;
	{
		const char *params[6] = { chat_id, req->user_id, pos, ts, after_id, limit_text };

		if (cs_db_exec(conn, "messages_page", 6, params, NULL, &res, &err) < 0)
			goto out;
	}
	cs_db_release(conn);
	conn = NULL;
	rows = PQntuples(res);
	if (rows == 0) {
		cs_error_set(&err, 404, "chat not found");
		goto out;
	}
	if (!PQgetisnull(res, 0, CS_MESSAGE_COL_ID))
		count = cs_document_answer_rows(res, CS_MESSAGE_COLUMN_COUNT, limit);
	cs_document_reserve(&body, res, count, 1);
	cs_buf_puts(&body, "{\"messages\":[");
	for (row = 0; row < count; row++) {
		if (row)
			cs_buf_putc(&body, ',');
		cs_document_message(&body, res, row, 0);
	}
	cs_buf_puts(&body, "],\"nextCursor\":");
	if (count < rows && count > 0) {
		int last = count - 1;
		const char *position = PQgetvalue(res, last, CS_MESSAGE_COL_POSITION);
		char *key = cs_arena_printf(&req->arena, "%s:%s",
					    PQgetvalue(res, last, CS_MESSAGE_COL_TIMESTAMP),
					    PQgetvalue(res, last, CS_MESSAGE_COL_ID));
		const char *next = cs_cursor_encode(&req->arena,
						    PQgetisnull(res, last, CS_MESSAGE_COL_POSITION)
							    ? -1
							    : strtoll(position, NULL, 10),
						    key, strlen(key));

		cs_buf_json_string(&body, next, strlen(next));
	} else {
		cs_buf_puts(&body, "null");
	}
	cs_buf_putc(&body, '}');
	cs_http_respond(req, 200, body.data, body.len);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_db_release(conn);
	PQclear(res);
	cs_buf_release(&body);
}

/*
 * chats.c - list, read, create, update and soft-delete chats.
 *
 * Writes follow one shape: BEGIN, reserve the user's versions (which locks
 * the user), check, write, COMMIT, publish the wake-up. Every statement is
 * filtered by the token's user, so another user's chat is simply not found.
 */
#include "chats.h"
#include "bounds.h"
#include "clock.h"
#include "cursor.h"
#include "db.h"
#include "document.h"
#include "id.h"
#include "json.h"
#include "write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Validates the :id of the path; 400 on a malformed one. */
static int path_id(struct cs_request *req, const char **id, struct cs_error *err)
{
	if (cs_document_check_id("id", req->params[0], req->param_lens[0], err) < 0)
		return -1;
	*id = req->params[0];
	return 0;
}

static int read_id_field(json_t *body, const char *field, const char **id, struct cs_error *err)
{
	size_t len = 0;
	int rc = cs_json_string(body, field, CS_JSON_NULLABLE, id, &len, err);

	if (rc == CS_JSON_PRESENT && cs_document_check_id(field, *id, len, err) < 0)
		return -1;
	if (rc != CS_JSON_PRESENT && rc >= 0)
		*id = NULL;
	return rc < 0 ? -1 : 0;
}

void chats_list(struct cs_request *req)
{
	struct cs_error err = CS_ERROR_INIT;
	struct cs_buf body = CS_BUF_INIT;
	PGresult *res = NULL;
	const char *cursor = cs_http_query(req, "cursor");
	long long limit, after_ts = 0;
	const char *after_id = NULL;
	size_t after_id_len = 0;
	char limit_text[24], ts_text[24];
	int count;

	if (cs_http_query_long(req, "limit", CS_LIMIT_CHATS_PAGE_DEFAULT, 1,
			       CS_LIMIT_CHATS_PAGE_MAX, &limit, &err) < 0)
		goto out;
	if (cursor && *cursor &&
	    cs_cursor_decode(&req->arena, cursor, &after_ts, &after_id, &after_id_len) < 0) {
		cs_error_set(&err, 400, "cursor: malformed");
		goto out;
	}
	snprintf(limit_text, sizeof(limit_text), "%lld", limit + 1);
	snprintf(ts_text, sizeof(ts_text), "%lld", after_ts);
	{
		const char *after[4] = { req->user_id, ts_text, after_id, limit_text };
		const char *first[2] = { req->user_id, limit_text };
		const struct cs_db_step step =
			after_id ? (struct cs_db_step){ "chats_list_after", NULL, 4, after }
				 : (struct cs_db_step){ "chats_list_first", NULL, 2, first };

		if (cs_db_read(cs_server_db(req->server), req->user_id, &step, 1, &res, &err) < 0)
			goto out;
	}
	count = cs_document_answer_rows(res, CS_CHAT_COLUMN_COUNT, limit);
	cs_document_reserve(&body, res, count, 1);
	cs_buf_puts(&body, "{\"chats\":[");
	for (int row = 0; row < count; row++) {
		if (row)
			cs_buf_putc(&body, ',');
		cs_document_chat(&body, res, row, 0);
	}
	cs_buf_puts(&body, "],\"nextCursor\":");
	if (count < PQntuples(res)) {
		int last = count - 1;
		const char *next = cs_cursor_encode(
			&req->arena,
			strtoll(PQgetvalue(res, last, CS_CHAT_COL_TIMESTAMP), NULL, 10),
			PQgetvalue(res, last, CS_CHAT_COL_ID),
			(size_t)PQgetlength(res, last, CS_CHAT_COL_ID));

		cs_buf_json_string(&body, next, strlen(next));
	} else {
		cs_buf_puts(&body, "null");
	}
	cs_buf_putc(&body, '}');
	cs_http_respond(req, 200, body.data, body.len);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	PQclear(res);
	cs_buf_release(&body);
}

/* {"chat": …, "messages": […]} from the chat's row and its messages' rows. */
static int respond_chat(struct cs_request *req, int status, const PGresult *chat,
			const PGresult *messages, struct cs_error *err)
{
	struct cs_buf body = CS_BUF_INIT;
	int row, rows = PQntuples(messages);

	if (cs_document_answer_rows(messages, CS_MESSAGE_COLUMN_COUNT, -1) < rows)
		return cs_error_set(err, 422,
				    "chat: its messages are more than %d MiB; read them in pages "
				    "with GET /api/chats/{id}/messages",
				    CS_LIMIT_ANSWER_BYTES >> 20);
	cs_document_reserve(&body, messages, rows, 1);
	cs_buf_puts(&body, "{\"chat\":");
	cs_document_chat(&body, chat, 0, 0);
	cs_buf_puts(&body, ",\"messages\":[");
	for (row = 0; row < rows; row++) {
		if (row)
			cs_buf_putc(&body, ',');
		cs_document_message(&body, messages, row, 0);
	}
	cs_buf_puts(&body, "]}");
	cs_http_etag(req, PQgetvalue(chat, 0, CS_CHAT_COL_VERSION));
	cs_http_respond(req, status, body.data, body.len);
	cs_buf_release(&body);
	return 0;
}

int chats_respond_with_messages(struct cs_request *req, int status, struct cs_db_conn *conn,
				const PGresult *chat, struct cs_error *err)
{
	const char *params[2] = { PQgetvalue(chat, 0, CS_CHAT_COL_ID), req->user_id };
	PGresult *messages = NULL;
	int rc;

	if (cs_db_exec(conn, "chats_messages", 2, params, NULL, &messages, err) < 0)
		return -1;
	rc = respond_chat(req, status, chat, messages, err);
	PQclear(messages);
	return rc;
}

/*
 * The chat and its messages in one round trip: both statements check the
 * owner, and the connection goes back to the pool before the answer is built.
 * On a connection of its own, not carried with others (cs_db_read): for its
 * 36 KB answers that measured no better (2,022 and 2,137 req/s carried, 2,017
 * and 2,078 not), and one thread would read every answer of a batch.
 */
void chats_get(struct cs_request *req)
{
	enum { CHAT, MESSAGES, STEPS };
	struct cs_error err = CS_ERROR_INIT;
	struct cs_db_conn *conn = NULL;
	PGresult *results[STEPS] = { NULL, NULL };
	const char *id = NULL;

	if (path_id(req, &id, &err) < 0)
		goto out;
	{
		const char *params[2] = { id, req->user_id };
		const struct cs_db_step steps[STEPS] = {
			[CHAT] = { "chats_get_own", NULL, 2, params },
			[MESSAGES] = { "chats_messages", NULL, 2, params },
		};

		if (cs_db_acquire_for(cs_server_db(req->server), req->user_id, &conn, &err) < 0)
			goto out;
		if (cs_db_pipeline(conn, steps, STEPS, results, &err) < 0)
			goto out;
	}
	cs_db_release(conn);
	conn = NULL;
	if (PQntuples(results[CHAT]) == 0 ||
	    PQgetvalue(results[CHAT], 0, CS_CHAT_COL_IS_DELETED)[0] == 't') {
		cs_error_set(&err, 404, "chat not found");
		goto out;
	}
	respond_chat(req, 200, results[CHAT], results[MESSAGES], &err);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_db_release(conn);
	PQclear(results[CHAT]);
	PQclear(results[MESSAGES]);
}

/*
 * With the user locked: an id the user already has is a replay (answered
 * with the stored chat, nothing written); another user's is a conflict.
 * Returns 1 when it answered, 0 when the id is free, -1 on error.
 */
static int answer_existing(struct cs_request *req, struct cs_write *w, const char *id,
			   struct cs_error *err)
{
	const char *params[1] = { id };
	PGresult *res = NULL;
	int answered = 0;

	if (cs_db_exec(w->conn, "chats_owner", 1, params, NULL, &res, err) < 0)
		return -1;
	if (PQntuples(res) == 1) {
		if (strcmp(PQgetvalue(res, 0, 0), req->user_id) != 0) {
			cs_error_set(err, 409, "id: already used");
			answered = -1;
		} else {
			cs_db_rollback(w->conn);
			cs_http_add_header(req, "Idempotent-Replay", "true");
			cs_document_respond(req, 200, CS_DOCUMENT_CHAT, res, 0, 1);
			cs_write_replayed(
				w, strtoll(PQgetvalue(res, 0, 1 + CS_CHAT_COL_VERSION), NULL, 10));
			answered = 1;
		}
	}
	PQclear(res);
	return answered;
}

void chats_create(struct cs_request *req)
{
	static const char *const allowed[] = {
		"id", "title", "timestamp", "parentChatId", "branchFromMessageId", NULL
	};
	struct cs_error err = CS_ERROR_INIT;
	struct cs_write w = CS_WRITE_INIT;
	json_t *body = NULL;
	PGresult *res = NULL;
	const char *id = NULL, *title = NULL, *parent = NULL, *branch_from = NULL;
	size_t title_len = 0;
	long long timestamp = cs_clock_now_ms();
	char new_id[CS_ID_NEW_SIZE], ts_text[24], chat_version[24];
	int rc;

	if (cs_http_body_object(req, allowed, &body, &err) < 0 ||
	    read_id_field(body, "id", &id, &err) < 0 ||
	    cs_json_string(body, "title", CS_JSON_REQUIRED, &title, &title_len, &err) < 0 ||
	    cs_document_check_title(title, title_len, &err) < 0 ||
	    cs_json_int64(body, "timestamp", CS_JSON_NULLABLE, &timestamp, &err) < 0 ||
	    read_id_field(body, "parentChatId", &parent, &err) < 0 ||
	    read_id_field(body, "branchFromMessageId", &branch_from, &err) < 0 ||
	    cs_document_check_timestamp(timestamp, &err) < 0)
		goto out;
	if (!id) {
		cs_id_new("c_", new_id);
		id = new_id;
	}
	/* with a parent, the new chat takes the first version and the parent the second */
	if (cs_write_begin(&w, req, parent ? 2 : 1, &err) < 0)
		goto out;
	rc = answer_existing(req, &w, id, &err);
	if (rc != 0)
		goto out;
	snprintf(ts_text, sizeof(ts_text), "%lld", timestamp);
	snprintf(chat_version, sizeof(chat_version), "%lld", parent ? w.version - 1 : w.version);
	if (parent) {
		const char *params[5] = { parent, req->user_id, id, w.version_text, w.now_text };

		if (cs_db_exec(w.conn, "chats_add_branch", 5, params, NULL, &res, &err) < 0)
			goto out;
		rc = PQntuples(res);
		PQclear(res);
		res = NULL;
		if (rc == 0) {
			cs_error_set(&err, 404, "parent chat not found");
			goto out;
		}
	}
	{
		const char *params[8] = { id,     req->user_id, title,        ts_text,
					  parent, branch_from,  chat_version, w.now_text };

		if (cs_db_exec(w.conn, "chats_insert", 8, params, NULL, &res, &err) < 0)
			goto out;
	}
	if (PQntuples(res) == 0) {
		/* another user's create of this id committed after our check */
		cs_error_set(&err, 409, "id: already used");
		goto out;
	}
	if (cs_write_commit(&w, &err) < 0)
		goto out;
	cs_document_respond(req, 201, CS_DOCUMENT_CHAT, res, 0, 0);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_write_end(&w);
	PQclear(res);
	json_decref(body);
}

/* branches: an array of ids, stored as given. */
static int read_branches(json_t *body, char **text, struct cs_error *err)
{
	json_t *branches = NULL, *item;
	size_t i;
	int rc = cs_json_value(body, "branches", 0, &branches, err);

	*text = NULL;
	if (rc != CS_JSON_PRESENT)
		return rc < 0 ? -1 : 0;
	if (!json_is_array(branches))
		return cs_error_set(err, 400, "branches: must be an array of chat ids");
	if (json_array_size(branches) > CS_LIMIT_BRANCHES)
		return cs_error_set(err, 400, "branches: must be at most %d chat ids",
				    CS_LIMIT_BRANCHES);
	json_array_foreach(branches, i, item) {
		if (!json_is_string(item) ||
		    !cs_id_valid(json_string_value(item), json_string_length(item)))
			return cs_error_set(err, 400, "branches: must be an array of chat ids");
	}
	*text = json_dumps(branches, JSON_COMPACT);
	return *text ? 0 : cs_error_set(err, 500, "internal error");
}

void chats_update(struct cs_request *req)
{
	static const char *const allowed[] = { "title", "branches", NULL };
	struct cs_error err = CS_ERROR_INIT;
	struct cs_write w = CS_WRITE_INIT;
	json_t *body = NULL;
	PGresult *res = NULL;
	const char *id = NULL, *title = NULL;
	char *branches = NULL;
	size_t title_len = 0;
	long long expected = 0;
	char expected_text[24];
	int rc, has_expected;

	if (path_id(req, &id, &err) < 0 ||
	    (has_expected = cs_http_if_match(req, &expected, &err)) < 0 ||
	    cs_http_body_object(req, allowed, &body, &err) < 0)
		goto out;
	rc = cs_json_string(body, "title", 0, &title, &title_len, &err);
	if (rc < 0 ||
	    (rc == CS_JSON_PRESENT && cs_document_check_title(title, title_len, &err) < 0) ||
	    read_branches(body, &branches, &err) < 0)
		goto out;
	if (rc != CS_JSON_PRESENT)
		title = NULL;
	snprintf(expected_text, sizeof(expected_text), "%lld", expected);
	if (cs_write_begin(&w, req, 1, &err) < 0)
		goto out;
	{
		const char *params[7] = { id,
					  req->user_id,
					  title,
					  branches,
					  w.version_text,
					  w.now_text,
					  has_expected ? expected_text : NULL };

		if (cs_db_exec(w.conn, "chats_update", 7, params, NULL, &res, &err) < 0)
			goto out;
	}
	if (PQntuples(res) == 0) {
		cs_write_explain_miss(&w, "chats_visible", id, "chat", &err);
		goto out;
	}
	if (cs_write_commit(&w, &err) < 0)
		goto out;
	cs_document_respond(req, 200, CS_DOCUMENT_CHAT, res, 0, 0);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_write_end(&w);
	PQclear(res);
	free(branches);
	json_decref(body);
}

void chats_delete(struct cs_request *req)
{
	cs_write_soft_delete(req, CS_DOCUMENT_CHAT, "chats_delete", "chats_get_own");
}

/*
 * branch.c - POST /api/chats/{id}/branch: a new chat holding copies of the
 * parent's messages up to and including fromMessageId, listed in the
 * parent's branches, all in one transaction.
 *
 * Versions: two are reserved up front (the new chat, the parent); the copies
 * take the numbers after those, counted by the insert itself, and the counter
 * is then moved past them while the user is still locked.
 */
#include "chats.h"
#include "db.h"
#include "document.h"
#include "id.h"
#include "json.h"
#include "version.h"
#include "write.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* The columns of chats_branch_point (main.c): the point's key, the bytes to copy. */
enum { POINT_POSITION, POINT_TIMESTAMP, POINT_ID, POINT_BYTES };

static int read_branch_body(struct cs_request *req, json_t **body, const char **from,
			    const char **title, const char **id, struct cs_error *err)
{
	static const char *const allowed[] = { "fromMessageId", "title", "id", NULL };
	size_t from_len = 0, title_len = 0, id_len = 0;
	int rc;

	if (cs_http_body_object(req, allowed, body, err) < 0 ||
	    cs_json_string(*body, "fromMessageId", CS_JSON_REQUIRED, from, &from_len, err) < 0)
		return -1;
	if (cs_document_check_id("fromMessageId", *from, from_len, err) < 0)
		return -1;
	rc = cs_json_string(*body, "title", CS_JSON_NULLABLE, title, &title_len, err);
	if (rc < 0)
		return -1;
	if (rc != CS_JSON_PRESENT)
		*title = NULL;
	else if (cs_document_check_title(*title, title_len, err) < 0)
		return -1;
	rc = cs_json_string(*body, "id", CS_JSON_NULLABLE, id, &id_len, err);
	if (rc < 0)
		return -1;
	if (rc != CS_JSON_PRESENT)
		*id = NULL;
	else if (cs_document_check_id("id", *id, id_len, err) < 0)
		return -1;
	return 0;
}

/*
 * The id is taken: a retry of the user's own branch is a replay (the chat it
 * made, with its messages as they are now; nothing written), another user's
 * id a conflict.
 */
static void answer_existing_branch(struct cs_request *req, struct cs_write *w,
				   const PGresult *owner, const char *id, struct cs_error *err)
{
	const char *params[2] = { id, req->user_id };
	PGresult *res = NULL;

	if (strcmp(PQgetvalue(owner, 0, 0), req->user_id) != 0) {
		cs_error_set(err, 409, "id: already used");
		return;
	}
	cs_db_rollback(w->conn);
	/* the chat it made, even if deleted since */
	if (cs_db_exec(w->conn, "chats_get_own", 2, params, NULL, &res, err) < 0)
		return;
	cs_http_add_header(req, "Idempotent-Replay", "true");
	if (PQntuples(res) > 0 && chats_respond_with_messages(req, 200, w->conn, res, err) == 0)
		cs_write_replayed(w, strtoll(PQgetvalue(res, 0, CS_CHAT_COL_VERSION), NULL, 10));
	PQclear(res);
}

void chats_branch(struct cs_request *req)
{
	struct cs_error err = CS_ERROR_INIT;
	struct cs_write w = CS_WRITE_INIT;
	struct cs_buf out = CS_BUF_INIT;
	json_t *body = NULL;
	PGresult *point = NULL, *parent = NULL, *chat = NULL, *copies = NULL;
	const char *parent_id = req->params[0], *from = NULL, *title = NULL, *id = NULL;
	char new_id[CS_ID_NEW_SIZE], chat_version[24];

	if (cs_document_check_id("id", parent_id, req->param_lens[0], &err) < 0 ||
	    read_branch_body(req, &body, &from, &title, &id, &err) < 0)
		goto out;
	if (!id) {
		cs_id_new("c_", new_id);
		id = new_id;
	}
	/* the new chat takes the first version, the parent the second, the copies the rest */
	if (cs_write_begin(&w, req, 2, &err) < 0)
		goto out;
	{
		const char *params[1] = { id };

		if (cs_db_exec(w.conn, "chats_owner", 1, params, NULL, &chat, &err) < 0)
			goto out;
		if (PQntuples(chat) > 0) {
			answer_existing_branch(req, &w, chat, id, &err);
			goto out;
		}
		PQclear(chat);
		chat = NULL;
	}
	{
		const char *params[2] = { parent_id, req->user_id };

		if (cs_db_exec(w.conn, "chats_get_own", 2, params, NULL, &parent, &err) < 0)
			goto out;
		if (PQntuples(parent) == 0 ||
		    PQgetvalue(parent, 0, CS_CHAT_COL_IS_DELETED)[0] == 't') {
			cs_error_set(&err, 404, "chat not found");
			goto out;
		}
	}
	{
		const char *params[3] = { from, parent_id, req->user_id };

		if (cs_db_exec(w.conn, "chats_branch_point", 3, params, NULL, &point, &err) < 0)
			goto out;
		if (PQntuples(point) == 0) {
			cs_error_set(&err, 404, "fromMessageId: message not found in this chat");
			goto out;
		}
		/* the answer holds every copy: refuse before writing rather than answer unbounded */
		if (strtoll(PQgetvalue(point, 0, POINT_BYTES), NULL, 10) > CS_LIMIT_ANSWER_BYTES) {
			cs_error_set(&err, 422,
				     "fromMessageId: the messages to copy are more than %d MiB",
				     CS_LIMIT_ANSWER_BYTES >> 20);
			goto out;
		}
	}
	snprintf(chat_version, sizeof(chat_version), "%lld", w.version - 1);
	{
		const char *params[8] = { id,
					  req->user_id,
					  title ? title : PQgetvalue(parent, 0, CS_CHAT_COL_TITLE),
					  w.now_text,
					  parent_id,
					  from,
					  chat_version,
					  w.now_text };

		if (cs_db_exec(w.conn, "chats_insert", 8, params, NULL, &chat, &err) < 0)
			goto out;
		if (PQntuples(chat) == 0) {
			/* another user's create of this id committed after our check */
			cs_error_set(&err, 409, "id: already used");
			goto out;
		}
	}
	{
		const char *params[5] = { parent_id, req->user_id, id, w.version_text, w.now_text };
		PGresult *res = NULL;

		if (cs_db_exec(w.conn, "chats_add_branch", 5, params, NULL, &res, &err) < 0)
			goto out;
		PQclear(res);
	}
	{
		const char *params[8] = { parent_id,
					  id,
					  req->user_id,
					  PQgetvalue(point, 0, POINT_POSITION),
					  PQgetvalue(point, 0, POINT_TIMESTAMP),
					  PQgetvalue(point, 0, POINT_ID),
					  w.version_text,
					  w.now_text };

		if (cs_db_exec(w.conn, "chats_copy_messages", 8, params, NULL, &copies, &err) < 0)
			goto out;
	}
	if (cs_version_reserve(w.conn, req->user_id, PQntuples(copies), &w.version, &err) < 0 ||
	    cs_write_commit(&w, &err) < 0)
		goto out;

	cs_buf_puts(&out, "{\"chat\":");
	cs_document_chat(&out, chat, 0, 0);
	cs_buf_puts(&out, ",\"messages\":");
	cs_document_messages(&out, copies, 0);
	cs_buf_putc(&out, '}');
	cs_http_etag(req, PQgetvalue(chat, 0, CS_CHAT_COL_VERSION));
	cs_http_respond(req, 201, out.data, out.len);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_write_end(&w);
	PQclear(point);
	PQclear(parent);
	PQclear(chat);
	PQclear(copies);
	cs_buf_release(&out);
	json_decref(body);
}

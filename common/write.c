/*
 * write.c - begin/commit of a user's write, the answers to an update that
 * matched nothing, and the soft delete of a document.
 */
#include "write.h"
#include "clock.h"
#include "server.h"
#include "version.h"

#include <stdio.h>

int cs_write_begin(struct cs_write *w, struct cs_request *req, long long versions,
		   struct cs_error *err)
{
	w->req = req;
	if (cs_db_acquire_for(cs_server_db(req->server), req->user_id, &w->conn, err) < 0 ||
	    cs_version_begin(w->conn, req->user_id, versions, &w->version, err) < 0)
		return -1;
	snprintf(w->version_text, sizeof(w->version_text), "%lld", w->version);
	snprintf(w->now_text, sizeof(w->now_text), "%lld", cs_clock_now_ms());
	return 0;
}

int cs_write_commit(struct cs_write *w, struct cs_error *err)
{
	if (cs_db_commit(w->conn, err) < 0)
		return -1;
	/* the wake-up may wait for Redis: not with a pooled connection held */
	cs_db_release(w->conn);
	w->conn = NULL;
	cs_version_committed(w->req->server, w->req->user_id, w->version);
	return 0;
}

void cs_write_end(struct cs_write *w)
{
	cs_db_release(w->conn);
	w->conn = NULL;
	if (w->replayed > 0)
		cs_version_committed(w->req->server, w->req->user_id, w->replayed);
	w->replayed = 0;
}

void cs_write_replayed(struct cs_write *w, long long version)
{
	w->replayed = version;
}

int cs_write_explain_miss(struct cs_write *w, const char *visible, const char *id, const char *what,
			  struct cs_error *err)
{
	const char *params[2] = { id, w->req->user_id };
	PGresult *res = NULL;

	if (cs_db_exec(w->conn, visible, 2, params, NULL, &res, err) < 0)
		return -1;
	if (PQntuples(res) == 0)
		cs_error_set(err, 404, "%s not found", what);
	else
		cs_error_set(err, 412, "%s is at version %s", what, PQgetvalue(res, 0, 0));
	PQclear(res);
	return -1;
}

/* A delete matched no live row: the tombstone as it is, or 404. */
static int answer_deleted(struct cs_write *w, const char *get_own, enum cs_document_kind kind,
			  const char *id, struct cs_error *err)
{
	const char *params[2] = { id, w->req->user_id };
	PGresult *res = NULL;

	if (cs_db_exec(w->conn, get_own, 2, params, NULL, &res, err) < 0)
		return -1;
	if (PQntuples(res) == 0) {
		cs_error_set(err, 404, "%s not found",
			     kind == CS_DOCUMENT_CHAT ? "chat" : "message");
		PQclear(res);
		return -1;
	}
	cs_db_rollback(w->conn);
	cs_document_respond(w->req, 200, kind, res, 0, 0);
	PQclear(res);
	return 0;
}

int cs_write_soft_delete(struct cs_request *req, enum cs_document_kind kind,
			 const char *delete_statement, const char *get_own)
{
	struct cs_error err = CS_ERROR_INIT;
	struct cs_write w = CS_WRITE_INIT;
	PGresult *res = NULL;
	const char *id = req->params[0];
	int deleted = 0;

	if (cs_document_check_id("id", id, req->param_lens[0], &err) < 0 ||
	    cs_write_begin(&w, req, 1, &err) < 0)
		goto out;
	{
		const char *params[4] = { id, req->user_id, w.version_text, w.now_text };

		if (cs_db_exec(w.conn, delete_statement, 4, params, NULL, &res, &err) < 0)
			goto out;
	}
	if (PQntuples(res) == 0) {
		answer_deleted(&w, get_own, kind, id, &err);
		goto out;
	}
	if (cs_write_commit(&w, &err) < 0)
		goto out;
	deleted = 1;
	cs_document_respond(req, 200, kind, res, 0, 0);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_write_end(&w);
	PQclear(res);
	return deleted;
}

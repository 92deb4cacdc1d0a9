/*
 * stream.c - streamed assistant replies: appending chunks and ending a
 * stream (docs/API.md, "Streamed assistant replies"), and the one row write
 * that persists a window or an end, shared with the idle sweeper.
 *
 * A chunk touches Redis only (common/stream.h), except the one append per
 * STREAM_FLUSH_MS that finds a window due: it writes the chunks since the last
 * window to the row, with a new version, like any write of the user.
 */
#include "bounds.h"
#include "clock.h"
#include "db.h"
#include "document.h"
#include "json.h"
#include "log.h"
#include "messages.h"
#include "server.h"
#include "stream.h"
#include "version.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A window's write that lost a race with another (a flush, an end) is tried this often. */
#define WRITE_ATTEMPTS 3

static void append_pending(long long seq, const char *text, size_t len, void *arg)
{
	struct cs_buf *buf = arg;

	(void)seq;
	cs_buf_append(buf, text, len);
}

/*
 * One transaction: the user's next version, and the row's content extended by
 * text (the chunks after from_seq up to to_seq), its seq and state. Matches
 * only while the row streams at from_seq: a window written twice, or after
 * the end, writes nothing (*written 0). *res: the row's columns when written.
 */
static int write_row(struct cs_server *server, const char *user_id, const char *message_id,
		     long long from_seq, long long to_seq, const char *text, const char *state,
		     PGresult **res, long long *version, struct cs_error *err)
{
	struct cs_db_conn *conn = NULL;
	char from[24], to[24], version_text[24], now[24];
	int rc = -1;

	*res = NULL;
	if (cs_db_acquire_for(cs_server_db(server), user_id, &conn, err) < 0 ||
	    cs_version_begin(conn, user_id, 1, version, err) < 0)
		goto out;
	snprintf(from, sizeof(from), "%lld", from_seq);
	snprintf(to, sizeof(to), "%lld", to_seq);
	snprintf(version_text, sizeof(version_text), "%lld", *version);
	snprintf(now, sizeof(now), "%lld", cs_clock_now_ms());
	{
		const char *params[8] = { message_id, user_id, from,         text,
					  to,         state,   version_text, now };

		if (cs_db_exec(conn, "messages_stream_write", 8, params, NULL, res, err) < 0)
			goto out;
	}
	if (PQntuples(*res) == 0) {
		rc = 0;
		goto out; /* released: rolled back */
	}
	if (cs_db_commit(conn, err) < 0)
		goto out;
	cs_db_release(conn);
	conn = NULL;
	cs_version_committed(server, user_id, *version);
	return 1;
out:
	cs_db_release(conn);
	if (rc <= 0) {
		PQclear(*res);
		*res = NULL;
	}
	return rc;
}

/* The row's stream state ($1 id, $2 user): state, seq, content bytes, version, chat. */
static int read_row(struct cs_server *server, const char *user_id, const char *message_id,
		    PGresult **res, struct cs_error *err)
{
	struct cs_db_conn *conn = NULL;
	const char *params[2] = { message_id, user_id };
	int rc;

	if (cs_db_acquire_for(cs_server_db(server), user_id, &conn, err) < 0)
		return -1;
	rc = cs_db_exec(conn, "messages_stream_row", 2, params, NULL, res, err);
	cs_db_release(conn);
	return rc;
}

enum { ROW_STATE, ROW_SEQ, ROW_BYTES, ROW_VERSION, ROW_CHAT };

int messages_stream_persist(struct cs_server *server, const char *user_id, const char *message_id,
			    long long from_seq, long long to_seq, const char *pending,
			    const char *state, PGresult **res, struct cs_error *err)
{
	struct cs_buf text = CS_BUF_INIT;
	PGresult *row = NULL;
	long long version = 0;
	int attempt, rc = -1;

	cs_buf_append(&text, pending, strlen(pending));
	for (attempt = 0; attempt < WRITE_ATTEMPTS; attempt++) {
		long long row_seq;

		rc = write_row(server, user_id, message_id, from_seq, to_seq,
			       text.data ? text.data : "", state, res, &version, err);
		if (rc != 0)
			break;
		/* another window committed first, or the stream ended: where is the row now? */
		PQclear(row);
		row = NULL;
		if (read_row(server, user_id, message_id, &row, err) < 0) {
			rc = -1;
			break;
		}
		if (PQntuples(row) == 0 || strcmp(PQgetvalue(row, 0, ROW_STATE), "streaming") != 0)
			break; /* 0: nothing to write */
		row_seq = strtoll(PQgetvalue(row, 0, ROW_SEQ), NULL, 10);
		if (row_seq >= to_seq && strcmp(state, "streaming") == 0)
			break;
		cs_buf_reset(&text);
		if (row_seq < to_seq &&
		    cs_stream_read(cs_server_events(server), user_id, message_id, row_seq,
				   (long)(to_seq - row_seq), append_pending, &text) < 0) {
			cs_error_set(err, 503, "could not read the stream's chunks: try again");
			rc = -1;
			break;
		}
		from_seq = row_seq;
		if (to_seq < row_seq)
			to_seq = row_seq;
	}
	if (rc == 1 && strcmp(state, "streaming") == 0)
		cs_stream_flushed(cs_server_events(server), user_id, message_id, to_seq, version);
	PQclear(row);
	cs_buf_release(&text);
	return rc;
}

/*
 * Redis has no state for the message (lost, or never opened): rebuilt from
 * the row when the row streams. 0: rebuilt; -1 with err: 404, 409 or 503.
 * *row_out (may be NULL): the row, the caller's to clear.
 */
static int reopen(struct cs_request *req, const char *id, PGresult **row_out, struct cs_error *err)
{
	PGresult *row = NULL;
	int rc = -1;

	if (read_row(req->server, req->user_id, id, &row, err) < 0)
		goto out;
	if (PQntuples(row) == 0) {
		cs_error_set(err, 404, "message not found");
		goto out;
	}
	if (strcmp(PQgetvalue(row, 0, ROW_STATE), "streaming") != 0) {
		cs_error_set(err, 409, "message is not streaming");
		goto out;
	}
	if (cs_stream_open(
		    cs_server_events(req->server), req->user_id, id, PQgetvalue(row, 0, ROW_CHAT),
		    strtoll(PQgetvalue(row, 0, ROW_SEQ), NULL, 10),
		    strtoll(PQgetvalue(row, 0, ROW_BYTES), NULL, 10),
		    strtoll(PQgetvalue(row, 0, ROW_VERSION), NULL, 10), cs_clock_now_ms()) < 0) {
		cs_error_set(err, 503, "could not reach redis: try again");
		goto out;
	}
	rc = 0;
out:
	if (row_out && rc < 0)
		*row_out = row;
	else
		PQclear(row);
	return rc;
}

static int read_id(struct cs_request *req, const char **id, struct cs_error *err)
{
	if (cs_document_check_id("id", req->params[0], req->param_lens[0], err) < 0)
		return -1;
	*id = req->params[0];
	return 0;
}

void messages_stream_append(struct cs_request *req)
{
	static const char *const allowed[] = { "seq", "text", NULL };
	const struct cs_config *cfg = cs_server_config(req->server);
	struct cs_error err = CS_ERROR_INIT;
	struct cs_stream_result result = CS_STREAM_RESULT_INIT;
	struct cs_stream_append chunk;
	json_t *body = NULL;
	PGresult *res = NULL;
	const char *id = NULL;
	int attempt, rc = 0;

	memset(&chunk, 0, sizeof(chunk));
	if (read_id(req, &id, &err) < 0 || cs_http_body_object(req, allowed, &body, &err) < 0 ||
	    cs_json_int64(body, "seq", CS_JSON_REQUIRED, &chunk.seq, &err) < 0 ||
	    cs_json_string(body, "text", CS_JSON_REQUIRED, &chunk.text, &chunk.len, &err) < 0)
		goto out;
	if (chunk.seq < 1) {
		cs_error_set(&err, 400, "seq: must be 1 or more");
		goto out;
	}
	if (chunk.len < 1 || chunk.len > CS_LIMIT_CHUNK_BYTES) {
		cs_error_set(&err, 400, "text: must be 1 to %d bytes", CS_LIMIT_CHUNK_BYTES);
		goto out;
	}
	chunk.flush_ms = cfg->stream_flush_ms;
	chunk.max_bytes = CS_LIMIT_CONTENT_BYTES;
	chunk.stream_maxlen = cfg->redis_stream_maxlen;
	for (attempt = 0; attempt < 2; attempt++) {
		chunk.now_ms = cs_clock_now_ms();
		rc = cs_stream_append(cs_server_events(req->server), req->user_id, id, &chunk,
				      &result);
		if (rc < 0 || result.outcome != CS_STREAM_MISSING || attempt > 0)
			break;
		if (reopen(req, id, NULL, &err) < 0)
			goto out;
	}
	if (rc < 0) {
		cs_error_set(&err, 503, "could not reach redis: try again");
		goto out;
	}
	switch (result.outcome) {
	case CS_STREAM_MISSING:
		cs_error_set(&err, 404, "message not found");
		goto out;
	case CS_STREAM_ENDED:
		cs_error_set(&err, 409, "message is not streaming");
		goto out;
	case CS_STREAM_GAP:
		cs_error_set(&err, 409, "seq: expected %lld", result.seq + 1);
		goto out;
	case CS_STREAM_TOO_LARGE:
		cs_error_set(&err, 400, "content: must be at most %d MiB",
			     CS_LIMIT_CONTENT_BYTES >> 20);
		goto out;
	case CS_STREAM_REPLAY:
		cs_http_add_header(req, "Idempotent-Replay", "true");
		break;
	case CS_STREAM_FLUSH: {
		struct cs_error flush_err = CS_ERROR_INIT;

		/* the chunk is in and on its way to the devices: a failed window is retried by the next */
		if (messages_stream_persist(req->server, req->user_id, id, result.from_seq,
					    result.seq, result.pending, "streaming", &res,
					    &flush_err) < 0)
			cs_log_warn("could not persist a streamed window: %s", flush_err.message);
		break;
	}
	default:
		break;
	}
	{
		struct cs_buf out = CS_BUF_INIT;

		cs_buf_puts(&out, "{\"id\":");
		cs_buf_json_string(&out, id, strlen(id));
		cs_buf_printf(&out, ",\"seq\":%lld,\"bytes\":%lld}", result.seq, result.bytes);
		cs_http_respond(req, 200, out.data, out.len);
		cs_buf_release(&out);
	}
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_stream_result_release(&result);
	PQclear(res);
	json_decref(body);
}

/* An end repeated, or asked of a stream that already ended: the row as it is, or 409. */
static void answer_ended(struct cs_request *req, const char *id, const char *state,
			 struct cs_error *err)
{
	struct cs_db_conn *conn = NULL;
	const char *params[2] = { id, req->user_id };
	PGresult *res = NULL;

	if (cs_db_acquire_for(cs_server_db(req->server), req->user_id, &conn, err) < 0 ||
	    cs_db_exec(conn, "messages_get_own", 2, params, NULL, &res, err) < 0)
		goto out;
	if (PQntuples(res) == 0)
		cs_error_set(err, 404, "message not found");
	else if (strcmp(PQgetvalue(res, 0, CS_MESSAGE_COL_STREAM_STATE), state) != 0)
		cs_error_set(err, 409, "message is not streaming");
	else {
		cs_http_add_header(req, "Idempotent-Replay", "true");
		cs_document_respond(req, 200, CS_DOCUMENT_MESSAGE, res, 0, 0);
	}
out:
	cs_db_release(conn);
	PQclear(res);
}

void messages_stream_abandon(struct cs_server *server, const char *user_id, const char *message_id)
{
	struct cs_events *events = cs_server_events(server);
	struct cs_stream_result claim = CS_STREAM_RESULT_INIT;

	/* final_seq -1 with idle 0: taken whatever came last, as the sweeper would take it */
	if (cs_stream_claim(events, user_id, message_id, -1, cs_clock_now_ms(), 0, &claim) == 0 &&
	    claim.outcome == CS_STREAM_OK)
		cs_stream_finish(events, user_id, message_id, "error");
	cs_stream_result_release(&claim);
}

void messages_stream_end(struct cs_request *req)
{
	static const char *const allowed[] = { "state", "seq", NULL };
	struct cs_error err = CS_ERROR_INIT;
	struct cs_stream_result result = CS_STREAM_RESULT_INIT;
	struct cs_events *events = cs_server_events(req->server);
	json_t *body = NULL;
	PGresult *res = NULL, *row = NULL;
	const char *id = NULL, *state = NULL;
	size_t state_len = 0;
	long long seq = 0;
	int attempt, rc = 0, claimed = 0;

	if (read_id(req, &id, &err) < 0 || cs_http_body_object(req, allowed, &body, &err) < 0 ||
	    cs_json_string(body, "state", CS_JSON_REQUIRED, &state, &state_len, &err) < 0 ||
	    cs_json_int64(body, "seq", CS_JSON_REQUIRED, &seq, &err) < 0)
		goto out;
	if (strcmp(state, "complete") != 0 && strcmp(state, "error") != 0) {
		cs_error_set(&err, 400, "state: must be \"complete\" or \"error\"");
		goto out;
	}
	if (seq < 0) {
		cs_error_set(&err, 400, "seq: must be 0 or more");
		goto out;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		rc = cs_stream_claim(events, req->user_id, id, seq, cs_clock_now_ms(), 0, &result);
		if (rc < 0 || result.outcome != CS_STREAM_MISSING || attempt > 0)
			break;
		if (reopen(req, id, &row, &err) < 0) {
			/* a stream that ended and whose state expired: a repeated end is a replay */
			if (err.status == 409) {
				struct cs_error fresh = CS_ERROR_INIT;

				err = fresh;
				answer_ended(req, id, state, &err);
			}
			goto out;
		}
	}
	if (rc < 0) {
		cs_error_set(&err, 503, "could not reach redis: try again");
		goto out;
	}
	switch (result.outcome) {
	case CS_STREAM_OK:
		break;
	case CS_STREAM_MISSING:
		cs_error_set(&err, 404, "message not found");
		goto out;
	case CS_STREAM_ENDED:
		answer_ended(req, id, state, &err);
		goto out;
	case CS_STREAM_GAP:
		cs_error_set(&err, 409, "seq: the stream has %lld chunks", result.seq);
		goto out;
	default:
		cs_error_set(&err, 503, "the stream is being closed: try again");
		goto out;
	}
	claimed = 1;
	rc = messages_stream_persist(req->server, req->user_id, id, result.from_seq, result.seq,
				     result.pending ? result.pending : "", state, &res, &err);
	if (rc < 0)
		goto out;
	if (rc == 0) {
		/* the row ended meanwhile (a sweeper that took an expired claim) */
		answer_ended(req, id, state, &err);
		cs_stream_finish(events, req->user_id, id, state);
		claimed = 0;
		goto out;
	}
	cs_stream_finish(events, req->user_id, id, state);
	claimed = 0;
	cs_document_respond(req, 200, CS_DOCUMENT_MESSAGE, res, 0, 0);
out:
	if (claimed)
		cs_stream_release(events, req->user_id, id);
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_stream_result_release(&result);
	PQclear(res);
	PQclear(row);
	json_decref(body);
}

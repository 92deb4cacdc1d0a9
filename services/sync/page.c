/*
 * page.c - one page of a user's changes after a version, as the change feed
 * answers it: read by GET /api/sync (changes.c) and by the live requests
 * (live.c).
 */
#include "page.h"
#include "clock.h"
#include "cursor.h"
#include "db.h"
#include "document.h"
#include "id.h"
#include "metrics.h"
#include "server.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define REPLICA_POLL_US 10000 /* while waiting for the replica to reach a version */

static void append_change(struct cs_buf *out, const PGresult *res, int row,
			  struct sync_streams *streams)
{
	int is_message = PQgetvalue(res, row, SYNC_PAGE_COL_KIND)[0] == '1';
	int first = SYNC_PAGE_COL_FIRST_DOC + (is_message ? CS_CHAT_COLUMN_COUNT : 0);
	int deleted_column =
		first + (is_message ? CS_MESSAGE_COL_IS_DELETED : CS_CHAT_COL_IS_DELETED);
	int id_column = first + (is_message ? CS_MESSAGE_COL_ID : CS_CHAT_COL_ID);

	/* literal pieces, not printf: a page holds up to hundreds of changes */
	cs_buf_puts(out, is_message ? "{\"table\":\"messages\",\"op\":\""
				    : "{\"table\":\"chats\",\"op\":\"");
	cs_buf_puts(out, PQgetvalue(res, row, deleted_column)[0] == 't' ? "delete\",\"id\":"
									: "upsert\",\"id\":");
	cs_buf_json_string(out, PQgetvalue(res, row, id_column),
			   (size_t)PQgetlength(res, row, id_column));
	cs_buf_puts(out, ",\"version\":");
	cs_buf_append(out, PQgetvalue(res, row, SYNC_PAGE_COL_VERSION),
		      (size_t)PQgetlength(res, row, SYNC_PAGE_COL_VERSION));
	cs_buf_puts(out, ",\"doc\":");
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

/* The user's newest version as the pool's server shows it (0: none yet); -1 when it cannot be asked. */
static long long latest_version(struct cs_db *db, const char *user_id)
{
	struct cs_error err = CS_ERROR_INIT;
	PGresult *res = NULL;
	const char *params[1] = { user_id };
	const struct cs_db_step step = { "sync_latest", NULL, 1, params };
	long long version = -1;

	if (cs_db_read(db, user_id, &step, 1, &res, &err) == 0)
		version = PQntuples(res) ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
	PQclear(res);
	return version;
}

/*
 * The pool a page is read from: the replica once it shows the user's version
 * `needed`, waiting for it up to SYNC_REPLICA_WAIT_MS; else the primary. A
 * replica replays commits in order and a user's versions commit in order, so
 * a replica that shows version V holds every change of the user up to V: a
 * page read there after V skips nothing (docs/decisions/replica-reads.md).
 */
static struct cs_db *reading_pool(struct cs_request *req, long long needed)
{
	struct cs_db *replica = cs_server_replica_db(req->server);
	const struct cs_config *cfg = cs_server_config(req->server);
	long long deadline;

	/* a replica that just failed is skipped for SYNC_REPLICA_RETRY_MS */
	if (!replica || !cs_db_usable(replica))
		return cs_server_db(req->server);
	if (needed <= 0)
		return replica;
	deadline = cs_clock_monotonic_us() + cfg->replica_wait_ms * 1000LL;
	for (;;) {
		long long version = latest_version(replica, req->user_id);

		if (version < 0) {
			cs_db_failed(replica, cfg->replica_retry_ms);
			return cs_server_db(req->server);
		}
		if (version >= needed)
			return replica;
		if (cs_clock_monotonic_us() >= deadline) {
			/* behind, but answering: not a failure */
			cs_db_answered(replica);
			return cs_server_db(req->server);
		}
		usleep(REPLICA_POLL_US);
	}
}

static int read_rows(struct cs_request *req, struct cs_db *pool, const char *const *params,
		     PGresult **res, struct cs_error *err)
{
	const struct cs_db_step step = { "sync_changes", NULL, 3, params };

	return cs_db_read(pool, req->user_id, &step, 1, res, err);
}

int sync_page_load(struct cs_request *req, long long after, long long needed, long long limit,
		   struct sync_streams *streams, struct cs_buf *out, struct sync_page *page,
		   struct cs_error *err)
{
	struct cs_db *primary = cs_server_db(req->server);
	struct cs_db *pool = reading_pool(req, needed > after ? needed : after);
	struct cs_metrics *metrics = cs_server_metrics(req->server);
	PGresult *res = NULL;
	char after_text[24], limit_text[24];
	const char *params[3] = { req->user_id, after_text, limit_text };
	int rows, row, rc;

	snprintf(after_text, sizeof(after_text), "%lld", after);
	snprintf(limit_text, sizeof(limit_text), "%lld", limit + 1);
	rc = read_rows(req, pool, params, &res, err);
	if (pool != primary && rc == 0)
		cs_db_answered(pool);
	if (pool != primary && rc < 0) {
		/* a replica that fails (down, stopped, restarting) leaves the reads to the primary */
		cs_db_failed(pool, cs_server_config(req->server)->replica_retry_ms);
		*err = (struct cs_error)CS_ERROR_INIT;
		pool = primary;
		rc = read_rows(req, pool, params, &res, err);
	}
	if (cs_server_replica_db(req->server))
		cs_metrics_add(metrics,
			       pool == primary ? CS_COUNTER_REPLICA_FALLBACKS
					       : CS_COUNTER_REPLICA_READS,
			       1);
	if (rc < 0)
		return -1;
	rows = PQntuples(res);
	page->last = after;
	page->count = cs_document_answer_rows(res, SYNC_PAGE_COL_STORED_BYTES, limit);
	page->has_more = page->count < rows;
	/* the change's own fields around each document: table, op, id, version */
	cs_document_reserve(out, res, page->count, 64 + CS_ID_MAX);
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

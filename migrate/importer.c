/*
 * importer.c - staging a legacy export, classifying its rows in SQL, and
 * writing the new ones in batches that take per-user versions.
 *
 * Everything set-based happens in Postgres on the session's temporary
 * tables; the client holds one COPY chunk and one row at a time.
 */
#include "importer.h"
#include "events.h"
#include "rowstream.h"

#include <pthread.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_CHUNK_BYTES (8 << 20)
#define WRITE_ATTEMPTS 5
#define PROGRESS_EVERY_ROWS 2000

struct batches {
	long long *starts; /* the first ord of each batch */
	size_t count, cap;
	long long rows;    /* rows and bytes of the last batch so far */
	size_t bytes;
};

struct cs_import;

struct copier {
	struct cs_import *imp;
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t changed;
	struct cs_buf chunk; /* the staging lines being COPYed */
	int table;
	int busy;            /* a chunk is handed over and not done */
	int quit;
	int failed;          /* a chunk failed: err says why; later ones are dropped */
	int running;
	struct cs_error err;
};

struct cs_import {
	struct cs_db_conn *conn;
	struct cs_import_options options;
	struct cs_import_counts counts[CS_LEGACY_TABLES];
	struct batches batches[CS_LEGACY_TABLES];
	long long rows_read;
	int copy_table;      /* the table of the lines in copy; -1: none */
	struct cs_buf copy;  /* staging lines not handed to the copier yet */
	struct copier copier;
	struct cs_error *stage_err;
	int tables_created;
	int checked_only;
};

static const char *const staged[CS_LEGACY_TABLES] = {
	CS_IMPORT_STAGED_CHATS, CS_IMPORT_STAGED_MESSAGES, CS_IMPORT_STAGED_SYNC_STATUS
};
static const char *const stage_columns[CS_LEGACY_TABLES] = {
	CS_LEGACY_CHAT_COLUMNS, CS_LEGACY_MESSAGE_COLUMNS, CS_LEGACY_SYNC_STATUS_COLUMNS
};

static const char *const create_sql[] = {
	"CREATE TEMP TABLE " CS_IMPORT_STAGED_CHATS " (ord bigint NOT NULL, reason text, "
	"id text, user_id text, title text, \"timestamp\" bigint, parent_chat_id text, "
	"branch_from_message_id text, branches jsonb, is_deleted boolean, created_at bigint, "
	"updated_at bigint)",
	"CREATE TEMP TABLE " CS_IMPORT_STAGED_MESSAGES " (ord bigint NOT NULL, reason text, "
	"id text, chat_id text, user_id text, content text, role text, \"timestamp\" bigint, "
	"position integer, attachments jsonb, is_deleted boolean, created_at bigint, "
	"updated_at bigint)",
	"CREATE TEMP TABLE " CS_IMPORT_STAGED_SYNC_STATUS " (ord bigint NOT NULL, reason text, "
	"user_id text, device_id text, last_sync_timestamp bigint, cursor text, "
	"updated_at bigint)",
};

/* ---- classification (one statement per table, then its index) ---- */

#define VERDICT(t) t CS_IMPORT_VERDICT_SUFFIX

static const char classify_chats[] =
	"CREATE TEMP TABLE " VERDICT(CS_IMPORT_STAGED_CHATS) " AS "
	"SELECT s.ord, s.user_id, (CASE WHEN s.reason IS NOT NULL THEN 'r' "
	"  WHEN f.first_ord <> s.ord THEN 'd' WHEN c.id IS NULL THEN 'i' "
	"  WHEN c.user_id = s.user_id THEN 'e' ELSE 'r' END)::\"char\" AS status, "
	" CASE WHEN s.reason IS NOT NULL THEN s.reason WHEN f.first_ord <> s.ord THEN NULL "
	"  WHEN c.user_id <> s.user_id THEN 'id: belongs to another user' END AS reason "
	"FROM " CS_IMPORT_STAGED_CHATS " s "
	"LEFT JOIN (SELECT id, min(ord) AS first_ord FROM " CS_IMPORT_STAGED_CHATS
	"  WHERE reason IS NULL GROUP BY id) f ON f.id = s.id "
	"LEFT JOIN chats c ON c.id = s.id AND s.reason IS NULL";

/*
 * A message's chat is the store's, else the file's accepted one. A position
 * is taken by a stored message of the chat; between the file's own messages
 * the first in file order keeps it (the UPDATE after).
 */
static const char classify_messages[] =
	"CREATE TEMP TABLE " VERDICT(CS_IMPORT_STAGED_MESSAGES) " AS "
	"SELECT s.ord, s.user_id, s.chat_id, s.position, (CASE WHEN s.reason IS NOT NULL THEN 'r' "
	"  WHEN f.first_ord <> s.ord THEN 'd' "
	"  WHEN m.id IS NOT NULL AND m.user_id = s.user_id THEN 'e' WHEN m.id IS NOT NULL THEN 'r' "
	"  WHEN coalesce(c.user_id, fc.user_id) IS DISTINCT FROM s.user_id THEN 'r' "
	"  WHEN p.id IS NOT NULL THEN 'r' ELSE 'i' END)::\"char\" AS status, "
	" CASE WHEN s.reason IS NOT NULL THEN s.reason WHEN f.first_ord <> s.ord THEN NULL "
	"  WHEN m.id IS NOT NULL AND m.user_id = s.user_id THEN NULL "
	"  WHEN m.id IS NOT NULL THEN 'id: belongs to another user' "
	"  WHEN coalesce(c.user_id, fc.user_id) IS NULL THEN 'chat_id: no chat \"' || s.chat_id || "
	"   '\" in the store or among the file''s accepted chats' "
	"  WHEN coalesce(c.user_id, fc.user_id) <> s.user_id THEN 'chat_id: chat \"' || s.chat_id || "
	"   '\" belongs to another user' "
	"  WHEN p.id IS NOT NULL THEN 'position: ' || s.position || ' is taken in chat \"' || "
	"   s.chat_id || '\" by message \"' || p.id || '\"' END AS reason "
	"FROM " CS_IMPORT_STAGED_MESSAGES " s "
	"LEFT JOIN (SELECT id, min(ord) AS first_ord FROM " CS_IMPORT_STAGED_MESSAGES
	"  WHERE reason IS NULL GROUP BY id) f ON f.id = s.id "
	"LEFT JOIN messages m ON m.id = s.id AND s.reason IS NULL "
	"LEFT JOIN chats c ON c.id = s.chat_id AND s.reason IS NULL "
	"LEFT JOIN (SELECT fs.id, fs.user_id FROM " CS_IMPORT_STAGED_CHATS " fs JOIN "
	VERDICT(CS_IMPORT_STAGED_CHATS) " fv USING (ord) WHERE fv.status = 'i') fc "
	"  ON fc.id = s.chat_id AND s.reason IS NULL "
	"LEFT JOIN messages p ON p.chat_id = s.chat_id AND p.position = s.position "
	"  AND s.reason IS NULL";

static const char classify_message_positions[] =
	"UPDATE " VERDICT(CS_IMPORT_STAGED_MESSAGES) " v SET status = 'r', "
	"reason = 'position: ' || v.position || ' is taken in chat \"' || v.chat_id || "
	"'\" by row ' || d.first_ord || ' of the file' "
	"FROM (SELECT chat_id, position, min(ord) AS first_ord FROM "
	VERDICT(CS_IMPORT_STAGED_MESSAGES) " WHERE status = 'i' AND position IS NOT NULL "
	"GROUP BY chat_id, position HAVING count(*) > 1) d "
	"WHERE v.status = 'i' AND v.chat_id = d.chat_id AND v.position = d.position "
	"AND v.ord <> d.first_ord";

static const char classify_sync_status[] =
	"CREATE TEMP TABLE " VERDICT(CS_IMPORT_STAGED_SYNC_STATUS) " AS "
	"SELECT s.ord, s.user_id, s.device_id, (CASE WHEN s.reason IS NOT NULL THEN 'r' "
	"  WHEN f.first_ord <> s.ord THEN 'd' WHEN t.user_id IS NOT NULL THEN 'e' "
	"  ELSE 'i' END)::\"char\" AS status, s.reason "
	"FROM " CS_IMPORT_STAGED_SYNC_STATUS " s "
	"LEFT JOIN (SELECT user_id, device_id, min(ord) AS first_ord FROM "
	CS_IMPORT_STAGED_SYNC_STATUS " WHERE reason IS NULL GROUP BY user_id, device_id) f "
	"  ON f.user_id = s.user_id AND f.device_id = s.device_id "
	"LEFT JOIN sync_status t ON t.user_id = s.user_id AND t.device_id = s.device_id "
	"  AND s.reason IS NULL";

/* ---- writing a batch: ord in [%lld, %lld) ---- */

/*
 * The range is repeated on the staging table so that the planner reads just
 * the batch's rows of it (by its ord index), not all of it into a hash.
 *
 * The batch's new rows take consecutive versions per user, in file order;
 * user_versions rows are locked in user order, so that two imports (or an
 * import and a live writer, who locks one user) never wait on each other in
 * a cycle. The result is one row per user: the last version and the count.
 */
static const char write_chats[] =
	"WITH k AS (SELECT ord, user_id AS k_user, "
	"  row_number() OVER (PARTITION BY user_id ORDER BY ord) AS rn FROM "
	VERDICT(CS_IMPORT_STAGED_CHATS) " WHERE status = 'i' AND ord >= %1$lld AND ord < %2$lld), "
	"n AS (SELECT k_user AS user_id, count(*) AS cnt FROM k GROUP BY k_user), "
	"uv AS (INSERT INTO user_versions AS u (user_id, version) "
	"  SELECT user_id, cnt FROM n ORDER BY user_id "
	"  ON CONFLICT (user_id) DO UPDATE SET version = u.version + EXCLUDED.version "
	"  RETURNING user_id, version), "
	"ins AS (INSERT INTO chats (" CS_LEGACY_CHAT_COLUMNS ", version) "
	"  SELECT " CS_LEGACY_CHAT_COLUMNS ", version - cnt + rn FROM " CS_IMPORT_STAGED_CHATS " s "
	"  JOIN k USING (ord) JOIN n USING (user_id) JOIN uv USING (user_id) "
	"  WHERE s.ord >= %1$lld AND s.ord < %2$lld RETURNING user_id, version) "
	"SELECT user_id, max(version), count(*) FROM ins GROUP BY user_id";

static const char write_messages[] =
	"WITH k AS (SELECT ord, user_id AS k_user, "
	"  row_number() OVER (PARTITION BY user_id ORDER BY ord) AS rn FROM "
	VERDICT(CS_IMPORT_STAGED_MESSAGES) " WHERE status = 'i' AND ord >= %1$lld AND ord < %2$lld), "
	"n AS (SELECT k_user AS user_id, count(*) AS cnt FROM k GROUP BY k_user), "
	"uv AS (INSERT INTO user_versions AS u (user_id, version) "
	"  SELECT user_id, cnt FROM n ORDER BY user_id "
	"  ON CONFLICT (user_id) DO UPDATE SET version = u.version + EXCLUDED.version "
	"  RETURNING user_id, version), "
	"ins AS (INSERT INTO messages (" CS_LEGACY_MESSAGE_COLUMNS ", version) "
	"  SELECT " CS_LEGACY_MESSAGE_COLUMNS ", version - cnt + rn FROM " CS_IMPORT_STAGED_MESSAGES
	" s JOIN k USING (ord) JOIN n USING (user_id) JOIN uv USING (user_id) "
	"  WHERE s.ord >= %1$lld AND s.ord < %2$lld RETURNING user_id, version) "
	"SELECT user_id, max(version), count(*) FROM ins GROUP BY user_id";

/* Sync status has no versions and no wake-up: it is no document of the sync. */
static const char write_sync_status[] =
	"INSERT INTO sync_status (" CS_LEGACY_SYNC_STATUS_COLUMNS ") "
	"SELECT " CS_LEGACY_SYNC_STATUS_COLUMNS " FROM " CS_IMPORT_STAGED_SYNC_STATUS
	" WHERE ord >= %1$lld AND ord < %2$lld AND ord IN (SELECT ord FROM "
	VERDICT(CS_IMPORT_STAGED_SYNC_STATUS) " WHERE status = 'i' AND ord >= %1$lld AND ord < %2$lld)";

/* After a batch met rows written meanwhile: classify its inserts again. */
static const char *const reclassify[CS_LEGACY_TABLES][2] = {
	{ "UPDATE " VERDICT(CS_IMPORT_STAGED_CHATS) " v SET "
	  "status = CASE WHEN c.user_id = v.user_id THEN 'e' ELSE 'r' END, "
	  "reason = CASE WHEN c.user_id = v.user_id THEN NULL ELSE 'id: belongs to another user' END "
	  "FROM " CS_IMPORT_STAGED_CHATS " s, chats c WHERE v.status = 'i' "
	  "AND v.ord >= %lld AND v.ord < %lld AND s.ord = v.ord AND c.id = s.id",
	  NULL },
	{ "UPDATE " VERDICT(CS_IMPORT_STAGED_MESSAGES) " v SET "
	  "status = CASE WHEN m.user_id = v.user_id THEN 'e' ELSE 'r' END, "
	  "reason = CASE WHEN m.user_id = v.user_id THEN NULL ELSE 'id: belongs to another user' END "
	  "FROM " CS_IMPORT_STAGED_MESSAGES " s, messages m WHERE v.status = 'i' "
	  "AND v.ord >= %lld AND v.ord < %lld AND s.ord = v.ord AND m.id = s.id",
	  "UPDATE " VERDICT(CS_IMPORT_STAGED_MESSAGES) " v SET status = 'r', "
	  "reason = 'position: ' || v.position || ' is taken in chat \"' || v.chat_id || "
	  "'\" by message \"' || p.id || '\"' FROM messages p WHERE v.status = 'i' "
	  "AND v.ord >= %lld AND v.ord < %lld AND p.chat_id = v.chat_id AND p.position = v.position" },
	{ "UPDATE " VERDICT(CS_IMPORT_STAGED_SYNC_STATUS) " v SET status = 'e' "
	  "FROM sync_status t WHERE v.status = 'i' AND v.ord >= %lld AND v.ord < %lld "
	  "AND t.user_id = v.user_id AND t.device_id = v.device_id",
	  NULL },
};

static const char list_rejects[] =
	"SELECT 0, s.ord, s.id, v.reason FROM " CS_IMPORT_STAGED_CHATS " s JOIN "
	VERDICT(CS_IMPORT_STAGED_CHATS) " v USING (ord) WHERE v.status = 'r' "
	"UNION ALL SELECT 1, s.ord, s.id, v.reason FROM " CS_IMPORT_STAGED_MESSAGES " s JOIN "
	VERDICT(CS_IMPORT_STAGED_MESSAGES) " v USING (ord) WHERE v.status = 'r' "
	"UNION ALL SELECT 2, s.ord, CASE WHEN s.user_id IS NULL AND s.device_id IS NULL THEN NULL "
	"  ELSE coalesce(s.user_id, '?') || '/' || coalesce(s.device_id, '?') END, v.reason FROM "
	CS_IMPORT_STAGED_SYNC_STATUS " s JOIN " VERDICT(CS_IMPORT_STAGED_SYNC_STATUS)
	" v USING (ord) WHERE v.status = 'r' ORDER BY 1, 2";

static void copier_stop(struct cs_import *imp);

/* ---- small helpers ---- */

/* err from a failed result, with Postgres' own words for the operator. */
static int db_fail(struct cs_import *imp, PGresult *res, const char *what, struct cs_error *err)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	cs_db_error(imp->conn->pg, res, err);
	if (err)
		snprintf(err->message, sizeof(err->message), "could not %s: %s", what,
			 primary ? primary : PQerrorMessage(imp->conn->pg));
	PQclear(res);
	return -1;
}

static int run(struct cs_import *imp, const char *sql, const char *what, struct cs_error *err)
{
	PGresult *res = PQexec(imp->conn->pg, sql);
	ExecStatusType status = PQresultStatus(res);

	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK)
		return db_fail(imp, res, what, err);
	PQclear(res);
	return 0;
}

static int runf(struct cs_import *imp, const char *what, struct cs_error *err, const char *fmt,
		long long lo, long long hi)
{
	size_t size = strlen(fmt) + 64;
	char *sql = malloc(size);
	int rc;

	if (!sql)
		return cs_error_set(err, 500, "out of memory");
	snprintf(sql, size, fmt, lo, hi);
	rc = run(imp, sql, what, err);
	free(sql);
	return rc;
}

static void progress(struct cs_import *imp, enum cs_import_step step, enum cs_legacy_table table,
		     long long rows, long long total)
{
	struct cs_import_progress p = { step, table, rows, total, &imp->counts[table] };

	if (imp->options.progress)
		imp->options.progress(imp->options.progress_arg, &p);
}

/* ---- life ---- */

static int session_setup(struct cs_import *imp, struct cs_error *err)
{
	static const char *const settings[] = {
		"SET client_encoding = 'UTF8'", "SET client_min_messages = warning",
		"SET work_mem = '64MB'", "SET jit = off",
	};
	size_t i;

	/* only possible before the session's first temporary table: a bonus, not a need */
	PQclear(PQexec(imp->conn->pg, "SET temp_buffers = '128MB'"));
	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (run(imp, settings[i], "prepare the session", err) < 0)
			return -1;
	return 0;
}

static void drop_tables(struct cs_import *imp)
{
	char sql[160];
	int t;

	if (!imp->conn->pg || PQstatus(imp->conn->pg) != CONNECTION_OK)
		return;
	if (PQtransactionStatus(imp->conn->pg) != PQTRANS_IDLE)
		PQclear(PQexec(imp->conn->pg, "ROLLBACK"));
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS pg_temp.%s, pg_temp.%s%s", staged[t],
			 staged[t], CS_IMPORT_VERDICT_SUFFIX);
		PQclear(PQexec(imp->conn->pg, sql));
	}
}

int cs_import_new(struct cs_db_conn *conn, const struct cs_import_options *options,
		  struct cs_import **out, struct cs_error *err)
{
	struct cs_import *imp = calloc(1, sizeof(*imp));
	int t;

	if (!imp)
		return cs_error_set(err, 500, "out of memory");
	imp->conn = conn;
	if (options)
		imp->options = *options;
	imp->copy_table = -1;
	if (session_setup(imp, err) < 0)
		goto fail;
	drop_tables(imp); /* left by an import on this session that could not clean up */
	imp->tables_created = 1;
	for (t = 0; t < CS_LEGACY_TABLES; t++)
		if (run(imp, create_sql[t], "create the staging tables", err) < 0)
			goto fail;
	*out = imp;
	return 0;
fail:
	cs_import_free(imp);
	return -1;
}

void cs_import_free(struct cs_import *imp)
{
	int t;

	if (!imp)
		return;
	copier_stop(imp);
	if (imp->tables_created) {
		drop_tables(imp);
		/* a pooled connection goes back as it came (temp_buffers cannot be reset) */
		if (imp->conn->pg && PQstatus(imp->conn->pg) == CONNECTION_OK) {
			PQclear(PQexec(imp->conn->pg, "RESET work_mem"));
			PQclear(PQexec(imp->conn->pg, "RESET jit"));
		}
	}
	for (t = 0; t < CS_LEGACY_TABLES; t++)
		free(imp->batches[t].starts);
	cs_buf_release(&imp->copy);
	free(imp);
}

struct cs_db_conn *cs_import_conn(const struct cs_import *imp)
{
	return imp->conn;
}

const struct cs_import_counts *cs_import_counts(const struct cs_import *imp,
						enum cs_legacy_table table)
{
	return &imp->counts[table];
}

/* ---- staging ---- */

static int copy_begin(struct cs_import *imp, int table, struct cs_error *err)
{
	char sql[512];
	PGresult *res;

	snprintf(sql, sizeof(sql), "COPY %s (ord, reason, %s) FROM STDIN", staged[table],
		 stage_columns[table]);
	res = PQexec(imp->conn->pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		return db_fail(imp, res, "stage rows", err);
	PQclear(res);
	return 0;
}

/* Sends lines as one COPY. *data_error is set when Postgres refused a value. */
static int copy_send(struct cs_import *imp, int table, const char *data, size_t len,
		     int *data_error, struct cs_error *err)
{
	PGconn *pg = imp->conn->pg;
	PGresult *res;
	int rc = 0;

	*data_error = 0;
	if (len > INT_MAX)
		return cs_error_set(err, 500, "could not copy: a batch of %zu bytes is too large", len);
	if (copy_begin(imp, table, err) < 0)
		return -1;
	if (PQputCopyData(pg, data, (int)len) != 1 || PQputCopyEnd(pg, NULL) != 1) {
		/* leave the connection usable for whoever borrows it next */
		PQputCopyEnd(pg, "import aborted");
		while ((res = PQgetResult(pg)) != NULL)
			PQclear(res);
		return db_fail(imp, NULL, "stage rows", err);
	}
	while ((res = PQgetResult(pg)) != NULL) {
		if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
			const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);

			*data_error = state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2));
			rc = db_fail(imp, res, "stage rows", err);
			continue;
		}
		PQclear(res);
	}
	return rc;
}

/*
 * A line Postgres refused becomes a reject line: its ord, the reason, and the
 * fields that identify the row (already COPY text).
 */
static void refused_line(int table, const char *line, size_t len, const char *reason,
			 struct cs_buf *out)
{
	static const int columns[CS_LEGACY_TABLES] = { 10, 11, 5 };
	int keep = table == CS_LEGACY_SYNC_STATUS ? 2 : 1, field = 0, i;
	size_t start = 0, pos;

	for (pos = 0; pos <= len; pos++) {
		if (pos < len && line[pos] != '\t')
			continue;
		if (field == 0 || (field >= 2 && field < 2 + keep)) {
			if (field > 0)
				cs_buf_putc(out, '\t');
			cs_buf_append(out, line + start, pos - start);
		}
		if (field == 0) {
			cs_buf_puts(out, "\t");
			for (i = 0; reason[i]; i++)
				if (reason[i] != '\\' && reason[i] != '\t' && reason[i] != '\n')
					cs_buf_putc(out, reason[i]);
		}
		field++;
		start = pos + 1;
	}
	for (i = keep; i < columns[table]; i++)
		cs_buf_puts(out, "\t\\N");
	cs_buf_putc(out, '\n');
}

/* Postgres refused a chunk: send it line by line, turning refused lines into rejects. */
static int copy_line_by_line(struct cs_import *imp, int table, const struct cs_buf *chunk,
			     struct cs_error *err)
{
	struct cs_buf rejected = CS_BUF_INIT;
	char reason[sizeof(err->message) + 32];
	size_t start = 0;
	int rc = 0;

	while (rc == 0 && start < chunk->len) {
		const char *line = chunk->data + start;
		size_t len = (size_t)((const char *)memchr(line, '\n', chunk->len - start) - line);
		int data_error = 0;

		if (copy_send(imp, table, line, len + 1, &data_error, err) < 0) {
			if (!data_error) {
				rc = -1;
				break;
			}
			snprintf(reason, sizeof(reason), "refused by the database (%s)", err->message);
			cs_buf_reset(&rejected);
			refused_line(table, line, len, reason, &rejected);
			rc = copy_send(imp, table, rejected.data, rejected.len, &data_error, err);
		}
		start += len + 1;
	}
	cs_buf_release(&rejected);
	return rc;
}

static int copy_chunk(struct cs_import *imp, int table, const struct cs_buf *chunk,
		      struct cs_error *err)
{
	int data_error = 0;

	if (copy_send(imp, table, chunk->data, chunk->len, &data_error, err) == 0)
		return 0;
	return data_error ? copy_line_by_line(imp, table, chunk, err) : -1;
}

/*
 * The copier: a thread that COPYs one chunk while the reader checks the
 * next, so that Postgres and the client work at the same time. The reader
 * hands a full chunk over by swapping buffers; the connection belongs to the
 * copier until copier_stop.
 */
static void *copier_main(void *arg)
{
	struct copier *c = arg;

	pthread_mutex_lock(&c->lock);
	for (;;) {
		while (!c->busy && !c->quit)
			pthread_cond_wait(&c->changed, &c->lock);
		if (!c->busy)
			break;
		pthread_mutex_unlock(&c->lock);
		if (!c->failed && copy_chunk(c->imp, c->table, &c->chunk, &c->err) < 0)
			c->failed = 1;
		pthread_mutex_lock(&c->lock);
		cs_buf_reset(&c->chunk);
		c->busy = 0;
		pthread_cond_broadcast(&c->changed);
	}
	pthread_mutex_unlock(&c->lock);
	return NULL;
}

static int copier_start(struct cs_import *imp, struct cs_error *err)
{
	struct copier *c = &imp->copier;

	c->imp = imp;
	c->err = (struct cs_error)CS_ERROR_INIT;
	pthread_mutex_init(&c->lock, NULL);
	pthread_cond_init(&c->changed, NULL);
	if (pthread_create(&c->thread, NULL, copier_main, c) != 0) {
		pthread_mutex_destroy(&c->lock);
		pthread_cond_destroy(&c->changed);
		return cs_error_set(err, 500, "could not start the staging thread");
	}
	c->running = 1;
	return 0;
}

/* Waits for the chunk in flight; -1 with its error when a chunk failed. */
static int copier_wait(struct cs_import *imp, struct cs_error *err)
{
	struct copier *c = &imp->copier;
	int failed;

	pthread_mutex_lock(&c->lock);
	while (c->busy)
		pthread_cond_wait(&c->changed, &c->lock);
	failed = c->failed;
	pthread_mutex_unlock(&c->lock);
	if (failed && err)
		*err = c->err;
	return failed ? -1 : 0;
}

static void copier_stop(struct cs_import *imp)
{
	struct copier *c = &imp->copier;

	if (!c->running)
		return;
	pthread_mutex_lock(&c->lock);
	c->quit = 1;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	pthread_join(c->thread, NULL);
	pthread_mutex_destroy(&c->lock);
	pthread_cond_destroy(&c->changed);
	cs_buf_release(&c->chunk);
	c->running = 0;
}

/* Hands the lines read so far to the copier (after the chunk before is done). */
static int copy_flush(struct cs_import *imp, struct cs_error *err)
{
	struct copier *c = &imp->copier;
	struct cs_buf swap;

	if (imp->copy_table < 0 || imp->copy.len == 0)
		return 0;
	if (copier_wait(imp, err) < 0)
		return -1;
	pthread_mutex_lock(&c->lock);
	swap = c->chunk;
	c->chunk = imp->copy;
	imp->copy = swap;
	c->table = imp->copy_table;
	c->busy = 1;
	pthread_cond_broadcast(&c->changed);
	pthread_mutex_unlock(&c->lock);
	progress(imp, CS_IMPORT_READING, (enum cs_legacy_table)imp->copy_table, imp->rows_read, 0);
	return 0;
}

static void batch_track(struct batches *b, long long ord, size_t len, long long max_rows)
{
	if (b->count == 0 || b->rows >= max_rows || b->bytes >= CS_IMPORT_BATCH_BYTES) {
		if (b->count == b->cap) {
			b->cap = b->cap ? 2 * b->cap : 64;
			b->starts = realloc(b->starts, b->cap * sizeof(*b->starts));
			if (!b->starts)
				abort();
		}
		b->starts[b->count++] = ord;
		b->rows = 0;
		b->bytes = 0;
	}
	b->rows++;
	b->bytes += len;
}

static int on_row(void *arg, const char *key, const char *row, size_t len)
{
	struct cs_import *imp = arg;
	int table = cs_legacy_table_of(key);
	long long ord;

	if (table != imp->copy_table && copy_flush(imp, imp->stage_err) < 0)
		return -1;
	imp->copy_table = table;
	ord = imp->counts[table].read++;
	batch_track(&imp->batches[table], ord, len,
		    imp->options.batch_rows > 0 ? imp->options.batch_rows : CS_IMPORT_BATCH_ROWS);
	cs_legacy_stage_row((enum cs_legacy_table)table, ord, row, len, &imp->copy);
	if (++imp->rows_read % PROGRESS_EVERY_ROWS == 0)
		progress(imp, CS_IMPORT_READING, (enum cs_legacy_table)table, imp->rows_read, 0);
	if (imp->copy.len >= COPY_CHUNK_BYTES)
		return copy_flush(imp, imp->stage_err);
	return 0;
}

int cs_import_stage(struct cs_import *imp, cs_jsonstream_read_fn read, void *ctx,
		    struct cs_error *err)
{
	struct cs_jsonstream_error parse_err;
	char sql[160];
	int rc, t;

	imp->stage_err = err;
	if (copier_start(imp, err) < 0)
		return -1;
	rc = cs_jsonstream_parse(read, ctx, cs_legacy_members(), on_row, imp, &parse_err);
	if (rc == 0 && (copy_flush(imp, err) < 0 || copier_wait(imp, err) < 0))
		rc = -2;
	copier_stop(imp);
	if (rc == -1)
		return cs_error_set(err, 400, "document: %s", parse_err.message);
	if (rc < 0)
		return -1;
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		snprintf(sql, sizeof(sql), "CREATE INDEX ON %s (ord)", staged[t]);
		if (run(imp, sql, "index the staging tables", err) < 0)
			return -1;
		/* without row counts the planner joins a batch by scanning all the staging table */
		snprintf(sql, sizeof(sql), "ANALYZE %s (ord, user_id)", staged[t]);
		if (run(imp, sql, "analyze the staging tables", err) < 0)
			return -1;
	}
	return 0;
}

/* ---- classification ---- */

/* Counts from the verdicts; read must come out as their sum. */
static int count_verdicts(struct cs_import *imp, enum cs_legacy_table table,
			  struct cs_error *err)
{
	struct cs_import_counts *c = &imp->counts[table];
	char sql[192];
	PGresult *res;
	int i;

	snprintf(sql, sizeof(sql), "SELECT status, count(*) FROM %s%s GROUP BY status",
		 staged[table], CS_IMPORT_VERDICT_SUFFIX);
	res = PQexec(imp->conn->pg, sql);
	if (PQresultStatus(res) != PGRES_TUPLES_OK)
		return db_fail(imp, res, "count the rows", err);
	c->inserted = c->skipped = c->rejected = c->duplicates = 0;
	for (i = 0; i < PQntuples(res); i++) {
		char status = PQgetvalue(res, i, 0)[0];
		long long n = strtoll(PQgetvalue(res, i, 1), NULL, 10);

		if (status == CS_IMPORT_INSERT)
			c->inserted += n;
		else if (status == CS_IMPORT_REJECT)
			c->rejected += n;
		else
			c->skipped += n;
		if (status == CS_IMPORT_DUPLICATE)
			c->duplicates += n;
	}
	PQclear(res);
	if (c->inserted + c->skipped + c->rejected != c->read)
		return cs_error_set(err, 500, "%s: %lld rows read but %lld classified",
				    cs_legacy_member(table), c->read,
				    c->inserted + c->skipped + c->rejected);
	return 0;
}

static int classify(struct cs_import *imp, enum cs_legacy_table table, struct cs_error *err)
{
	static const char *const statements[CS_LEGACY_TABLES] = {
		classify_chats, classify_messages, classify_sync_status
	};
	char sql[192];

	progress(imp, CS_IMPORT_CHECKING, table, 0, imp->counts[table].read);
	if (run(imp, statements[table], "classify the rows", err) < 0)
		return -1;
	if (table == CS_LEGACY_MESSAGES &&
	    run(imp, classify_message_positions, "classify the rows", err) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "CREATE INDEX ON %s%s (ord)", staged[table],
		 CS_IMPORT_VERDICT_SUFFIX);
	if (run(imp, sql, "index the classification", err) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "ANALYZE %s%s", staged[table], CS_IMPORT_VERDICT_SUFFIX);
	if (run(imp, sql, "analyze the classification", err) < 0)
		return -1;
	return count_verdicts(imp, table, err);
}

int cs_import_check(struct cs_import *imp, struct cs_error *err)
{
	int t;

	imp->checked_only = 1;
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		if (classify(imp, (enum cs_legacy_table)t, err) < 0)
			return -1;
		progress(imp, CS_IMPORT_DONE, (enum cs_legacy_table)t, imp->counts[t].inserted,
			 imp->counts[t].inserted);
	}
	return 0;
}

/* ---- writing ---- */

/* Wake-ups for the batch's users: best effort, live requests re-check Postgres anyway. */
static void publish(struct cs_import *imp, const PGresult *res)
{
	int i;

	if (!imp->options.events)
		return;
	for (i = 0; i < PQntuples(res); i++)
		cs_events_publish(imp->options.events, PQgetvalue(res, i, 0),
				  strtoll(PQgetvalue(res, i, 1), NULL, 10));
}

/* One batch in one transaction (one round trip); *written rows went in. */
static int write_batch(struct cs_import *imp, enum cs_legacy_table table, long long lo,
		       long long hi, long long *written, struct cs_error *err)
{
	static const char *const statements[CS_LEGACY_TABLES] = {
		write_chats, write_messages, write_sync_status
	};
	size_t size = strlen(statements[table]) + 64;
	char *sql = malloc(size);
	PGresult *results[3] = { NULL, NULL, NULL };
	struct cs_db_step steps[3] = {
		{ NULL, "BEGIN", 0, NULL }, { NULL, sql, 0, NULL }, { NULL, "COMMIT", 0, NULL }
	};
	int rc, i;

	if (!sql)
		return cs_error_set(err, 500, "out of memory");
	snprintf(sql, size, statements[table], lo, hi);
	rc = cs_db_pipeline(imp->conn, steps, 3, results, err);
	free(sql);
	if (rc == 0) {
		*written = 0;
		if (table == CS_LEGACY_SYNC_STATUS) {
			*written = strtoll(PQcmdTuples(results[1]), NULL, 10);
		} else {
			for (i = 0; i < PQntuples(results[1]); i++)
				*written += strtoll(PQgetvalue(results[1], i, 2), NULL, 10);
			publish(imp, results[1]);
		}
	}
	for (i = 0; i < 3; i++)
		PQclear(results[i]);
	return rc;
}

/* A batch, again after someone else wrote some of its rows meanwhile. */
static int write_batch_retrying(struct cs_import *imp, enum cs_legacy_table table, long long lo,
				long long hi, long long *written, struct cs_error *err)
{
	int attempt, i;

	for (attempt = 1;; attempt++) {
		if (write_batch(imp, table, lo, hi, written, err) == 0)
			return 0;
		if (attempt == WRITE_ATTEMPTS || PQstatus(imp->conn->pg) != CONNECTION_OK)
			break;
		if (err->status == 409) {
			for (i = 0; i < 2; i++)
				if (reclassify[table][i] &&
				    runf(imp, "classify the rows again", err, reclassify[table][i],
					 lo, hi) < 0)
					return -1;
		} else if (!err->retry) {
			break;
		}
	}
	if (err->status < 500)
		err->status = 500; /* the document is fine: this is the store's trouble */
	return -1;
}

static int write_table(struct cs_import *imp, enum cs_legacy_table table, struct cs_error *err)
{
	const struct batches *b = &imp->batches[table];
	long long total = imp->counts[table].inserted, done = 0;
	size_t i;

	progress(imp, CS_IMPORT_WRITING, table, 0, total);
	for (i = 0; i < b->count && total > 0; i++) {
		long long lo = b->starts[i];
		long long hi = i + 1 < b->count ? b->starts[i + 1] : imp->counts[table].read;
		long long written = 0;

		if (write_batch_retrying(imp, table, lo, hi, &written, err) < 0)
			return -1;
		done += written;
		progress(imp, CS_IMPORT_WRITING, table, done, total);
	}
	if (count_verdicts(imp, table, err) < 0)
		return -1;
	if (imp->counts[table].inserted != done)
		return cs_error_set(err, 500, "%s: %lld rows written but %lld counted",
				    cs_legacy_member(table), done, imp->counts[table].inserted);
	progress(imp, CS_IMPORT_DONE, table, done, total);
	return 0;
}

int cs_import_write(struct cs_import *imp, struct cs_error *err)
{
	int t;

	/* in table order: a message's chat is in the store before the message is classified */
	for (t = 0; t < CS_LEGACY_TABLES; t++)
		if (classify(imp, (enum cs_legacy_table)t, err) < 0 ||
		    write_table(imp, (enum cs_legacy_table)t, err) < 0)
			return -1;
	return 0;
}

/* ---- the report ---- */

int cs_import_each_reject(struct cs_import *imp, cs_import_reject_fn fn, void *arg,
			  struct cs_error *err)
{
	struct cs_rowstream rs = CS_ROWSTREAM_INIT;
	const PGresult *res;
	int row, rc;

	if (run(imp, "BEGIN", "list the rejected rows", err) < 0)
		return -1;
	rc = cs_rowstream_open(&rs, imp->conn, "cs_import_rejects", list_rejects, 0, NULL, err);
	while (rc == 0 && (rc = cs_rowstream_next(&rs, &res, &row, err)) == 1) {
		rc = fn(arg, (enum cs_legacy_table)strtol(PQgetvalue(res, row, 0), NULL, 10),
			PQgetisnull(res, row, 2) ? NULL : PQgetvalue(res, row, 2),
			strtoll(PQgetvalue(res, row, 1), NULL, 10), PQgetvalue(res, row, 3));
		if (rc < 0)
			cs_error_set(err, 500, "could not list the rejected rows");
	}
	cs_rowstream_close(&rs);
	if (rc == 0)
		return run(imp, "COMMIT", "list the rejected rows", err);
	PQclear(PQexec(imp->conn->pg, "ROLLBACK"));
	return -1;
}

static int reject_json(void *arg, enum cs_legacy_table table, const char *id, long long index,
		       const char *reason)
{
	struct cs_buf *out = arg;

	if (out->data[out->len - 1] != '[')
		cs_buf_putc(out, ',');
	cs_buf_printf(out, "{\"table\":\"%s\",\"id\":", cs_legacy_member(table));
	if (id)
		cs_buf_json_string(out, id, strlen(id));
	else
		cs_buf_puts(out, "null");
	cs_buf_printf(out, ",\"index\":%lld,\"reason\":", index);
	cs_buf_json_string(out, reason, strlen(reason));
	cs_buf_putc(out, '}');
	return 0;
}

int cs_import_report_json(struct cs_import *imp, struct cs_buf *out, struct cs_error *err)
{
	int t;

	cs_buf_putc(out, '{');
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		const struct cs_import_counts *c = &imp->counts[t];

		cs_buf_printf(out,
			      "\"%s\":{\"read\":%lld,\"inserted\":%lld,\"skipped\":%lld,"
			      "\"rejected\":%lld},",
			      cs_legacy_member((enum cs_legacy_table)t), c->read, c->inserted,
			      c->skipped, c->rejected);
	}
	if (imp->checked_only)
		cs_buf_puts(out, "\"dryRun\":true,");
	cs_buf_puts(out, "\"rejects\":[");
	if (cs_import_each_reject(imp, reject_json, out, err) < 0)
		return -1;
	cs_buf_puts(out, "]}");
	return 0;
}

/*
 * importer_stage.c - staging: every row of the document checked
 * (migrate/legacy.h) and COPYed into the session's temporary tables by a
 * thread of its own while the next chunk is read.
 */
#include "importer.h"
#include "importer_internal.h"

#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define COPY_CHUNK_BYTES (8 << 20)
#define PROGRESS_EVERY_ROWS 2000

static const char *const stage_columns[CS_LEGACY_TABLES] = { CS_LEGACY_CHAT_COLUMNS,
							     CS_LEGACY_MESSAGE_COLUMNS,
							     CS_LEGACY_SYNC_STATUS_COLUMNS };

/* err from a failed result of the raw COPY, with Postgres' own words for the operator. */
static int copy_fail(struct cs_importer *imp, PGresult *res, const char *what, struct cs_error *err)
{
	cs_db_error_for(imp->conn->pg, res, what, err);
	PQclear(res);
	return -1;
}

/*
 * COPY is raw libpq: db.c's statements wait for a result, and COPY FROM STDIN
 * answers with a state to send data in. Its errors still map through db.c
 * (cs_db_error_for, cs_db_refused_value).
 */
static int copy_begin(struct cs_importer *imp, int table, struct cs_error *err)
{
	char sql[512];
	PGresult *res;

	snprintf(sql, sizeof(sql), "COPY %s (ord, reason, %s) FROM STDIN",
		 cs_importer__staged[table], stage_columns[table]);
	res = PQexec(imp->conn->pg, sql);
	if (PQresultStatus(res) != PGRES_COPY_IN)
		return copy_fail(imp, res, "stage rows", err);
	PQclear(res);
	return 0;
}

/* Sends lines as one COPY. *data_error is set when Postgres refused a value. */
static int copy_send(struct cs_importer *imp, int table, const char *data, size_t len,
		     int *data_error, struct cs_error *err)
{
	PGconn *pg = imp->conn->pg;
	PGresult *res;
	int rc = 0;

	*data_error = 0;
	if (len > INT_MAX)
		return cs_error_set(err, 500, "could not copy: a batch of %zu bytes is too large",
				    len);
	if (copy_begin(imp, table, err) < 0)
		return -1;
	if (PQputCopyData(pg, data, (int)len) != 1 || PQputCopyEnd(pg, NULL) != 1) {
		/* leave the connection usable for whoever borrows it next */
		PQputCopyEnd(pg, "import aborted");
		while ((res = PQgetResult(pg)) != NULL)
			PQclear(res);
		return copy_fail(imp, NULL, "stage rows", err);
	}
	while ((res = PQgetResult(pg)) != NULL) {
		if (rc == 0 && PQresultStatus(res) != PGRES_COMMAND_OK) {
			*data_error = cs_db_refused_value(res);
			rc = copy_fail(imp, res, "stage rows", err);
			continue;
		}
		PQclear(res);
	}
	return rc;
}

/*
 * A line Postgres refused becomes a reject line: its ord, the reason, and the
 * fields of the columns that identify the row (already COPY text; the
 * schema's KEY columns), \N for the others.
 */
static void refused_line(int table, const char *line, size_t len, const char *reason,
			 struct cs_buf *out)
{
	int count, field = 0, i;
	const struct cs_legacy_column *columns =
		cs_legacy_columns((enum cs_legacy_table)table, &count);
	size_t start = 0, pos;

	for (pos = 0; pos <= len; pos++) {
		if (pos < len && line[pos] != '\t')
			continue;
		if (field == 0) {
			cs_buf_append(out, line + start, pos - start);
			cs_buf_puts(out, "\t");
			for (i = 0; reason[i]; i++)
				if (reason[i] != '\\' && reason[i] != '\t' && reason[i] != '\n')
					cs_buf_putc(out, reason[i]);
		} else if (field >= 2 && field - 2 < count) {
			cs_buf_putc(out, '\t');
			if (columns[field - 2].key)
				cs_buf_append(out, line + start, pos - start);
			else
				cs_buf_puts(out, "\\N");
		}
		field++;
		start = pos + 1;
	}
	for (i = field > 2 ? field - 2 : 0; i < count; i++)
		cs_buf_puts(out, "\t\\N");
	cs_buf_putc(out, '\n');
}

/* Postgres refused a chunk: send it line by line, turning refused lines into rejects. */
static int copy_line_by_line(struct cs_importer *imp, int table, const struct cs_buf *chunk,
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
			snprintf(reason, sizeof(reason), "refused by the database (%s)",
				 err->message);
			cs_buf_reset(&rejected);
			refused_line(table, line, len, reason, &rejected);
			rc = copy_send(imp, table, rejected.data, rejected.len, &data_error, err);
		}
		start += len + 1;
	}
	cs_buf_release(&rejected);
	return rc;
}

static int copy_chunk(struct cs_importer *imp, int table, const struct cs_buf *chunk,
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
	struct cs_importer_copier *c = arg;

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

static int copier_start(struct cs_importer *imp, struct cs_error *err)
{
	struct cs_importer_copier *c = &imp->copier;

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
static int copier_wait(struct cs_importer *imp, struct cs_error *err)
{
	struct cs_importer_copier *c = &imp->copier;
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

void cs_importer__copier_stop(struct cs_importer *imp)
{
	struct cs_importer_copier *c = &imp->copier;

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
static int copy_flush(struct cs_importer *imp, struct cs_error *err)
{
	struct cs_importer_copier *c = &imp->copier;
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
	cs_importer__progress(imp, CS_IMPORTER_READING, (enum cs_legacy_table)imp->copy_table,
			      imp->rows_read, 0);
	return 0;
}

static void batch_track(struct cs_importer_batches *b, long long ord, size_t len,
			long long max_rows)
{
	if (b->count == 0 || b->rows >= max_rows || b->bytes >= CS_IMPORTER_BATCH_BYTES) {
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
	struct cs_importer *imp = arg;
	int table = cs_legacy_table_of(key);
	long long ord;

	if (table != imp->copy_table && copy_flush(imp, imp->stage_err) < 0)
		return -1;
	imp->copy_table = table;
	ord = imp->counts[table].read++;
	batch_track(&imp->batches[table], ord, len,
		    imp->options.batch_rows > 0 ? imp->options.batch_rows : CS_IMPORTER_BATCH_ROWS);
	cs_legacy_stage_row((enum cs_legacy_table)table, ord, row, len, &imp->copy);
	if (++imp->rows_read % PROGRESS_EVERY_ROWS == 0)
		cs_importer__progress(imp, CS_IMPORTER_READING, (enum cs_legacy_table)table,
				      imp->rows_read, 0);
	if (imp->copy.len >= COPY_CHUNK_BYTES)
		return copy_flush(imp, imp->stage_err);
	return 0;
}

int cs_importer_stage(struct cs_importer *imp, cs_jsonstream_read_fn read, void *ctx,
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
	cs_importer__copier_stop(imp);
	if (rc == -1)
		return cs_error_set(err, 400, "document: %s", parse_err.message);
	if (rc < 0)
		return -1;
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		snprintf(sql, sizeof(sql), "CREATE INDEX ON %s (ord)", cs_importer__staged[t]);
		if (cs_importer__run(imp, sql, "index the staging tables", err) < 0)
			return -1;
		/* without row counts the planner joins a batch by scanning all the staging table */
		snprintf(sql, sizeof(sql), "ANALYZE %s (ord, user_id)", cs_importer__staged[t]);
		if (cs_importer__run(imp, sql, "analyze the staging tables", err) < 0)
			return -1;
	}
	return 0;
}

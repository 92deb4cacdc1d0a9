/* exporter.c - streaming the store out as a legacy export. */
#include "exporter.h"
#include "clock.h"
#include "buf.h"
#include "id.h"
#include "rowstream.h"
#include "timestamp.h"

#include <stdio.h>
#include <string.h>

#define FLUSH_BYTES (64 << 10)

/* The user filter: NULL ($1 IS NULL) for everyone. */
#define USER_FILTER " WHERE $1::text[] IS NULL OR user_id = ANY ($1::text[]) "

static const char *const queries[CS_LEGACY_TABLES] = {
	"SELECT " CS_LEGACY_CHAT_SELECT " FROM chats" USER_FILTER "ORDER BY user_id, version",
	"SELECT " CS_LEGACY_MESSAGE_SELECT " FROM messages" USER_FILTER "ORDER BY user_id, version",
	"SELECT " CS_LEGACY_SYNC_STATUS_SELECT " FROM sync_status" USER_FILTER
	"ORDER BY user_id, device_id",
};

struct writer {
	cs_exporter_write_fn write;
	void *arg;
	struct cs_buf buf;
};

static int flush(struct writer *w, size_t at_least, struct cs_error *err)
{
	if (w->buf.len < at_least || w->buf.len == 0)
		return 0;
	if (w->write(w->arg, w->buf.data, w->buf.len) < 0)
		return cs_error_set(err, 499, "the reader of the export went away");
	cs_buf_reset(&w->buf);
	return 0;
}

/* A Postgres array literal {"a","b"} of the user ids. */
static void user_array(const char *const *user_ids, size_t count, struct cs_buf *out)
{
	size_t i;
	const char *p;

	cs_buf_putc(out, '{');
	for (i = 0; i < count; i++) {
		if (i > 0)
			cs_buf_putc(out, ',');
		cs_buf_putc(out, '"');
		for (p = user_ids[i]; *p; p++) {
			if (*p == '"' || *p == '\\')
				cs_buf_putc(out, '\\');
			cs_buf_putc(out, *p);
		}
		cs_buf_putc(out, '"');
	}
	cs_buf_putc(out, '}');
}

static int export_table(struct cs_db_conn *conn, enum cs_legacy_table table, const char *users,
			struct writer *w, long long *rows, struct cs_error *err)
{
	struct cs_rowstream rs = CS_ROWSTREAM_INIT;
	const char *params[1] = { users };
	const PGresult *res;
	int row, rc;

	cs_buf_printf(&w->buf, "\"%s\":[", cs_legacy_member(table));
	rc = cs_rowstream_open(&rs, conn, "cs_exporter_rows", queries[table], 1, params, err);
	while (rc == 0 && (rc = cs_rowstream_next(&rs, &res, &row, err)) == 1) {
		cs_buf_puts(&w->buf, *rows ? ",\n" : "\n");
		cs_legacy_write_row(table, res, row, &w->buf);
		(*rows)++;
		rc = flush(w, FLUSH_BYTES, err);
	}
	cs_rowstream_close(&rs);
	cs_buf_puts(&w->buf, *rows ? "\n]" : "]");
	return rc;
}

int cs_exporter_run(struct cs_db_conn *conn, const char *const *user_ids, size_t count,
		    cs_exporter_write_fn write, void *arg, struct cs_exporter_counts *counts,
		    struct cs_error *err)
{
	struct writer w = { write, arg, CS_BUF_INIT };
	struct cs_buf users = CS_BUF_INIT;
	char now[CS_TIMESTAMP_MAX];
	int rc = -1, t;

	memset(counts, 0, sizeof(*counts));
	if (count > 0)
		user_array(user_ids, count, &users);
	if (cs_db_begin_with(conn, "ISOLATION LEVEL REPEATABLE READ READ ONLY", err) < 0)
		goto out;
	cs_buf_putc(&w.buf, '{');
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		if (t > 0)
			cs_buf_puts(&w.buf, ",\n");
		if (export_table(conn, (enum cs_legacy_table)t, count ? users.data : NULL, &w,
				 &counts->rows[t], err) < 0)
			goto out;
	}
	cs_timestamp_format(cs_clock_now_ms(), now);
	cs_buf_printf(&w.buf, ",\n\"exportedAt\":\"%s\"}\n", now);
	if (cs_db_commit(conn, err) < 0 || flush(&w, 1, err) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		cs_db_rollback(conn);
	cs_buf_release(&w.buf);
	cs_buf_release(&users);
	return rc;
}

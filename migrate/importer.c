/*
 * importer.c - an import's life: the session set up for bulk work, the
 * staging tables created and dropped, and the helpers the other parts run
 * their SQL with. Staging is importer_stage.c, classification
 * importer_classify.c, writing importer_write.c, the report importer_report.c.
 *
 * Everything set-based happens in Postgres on the session's temporary
 * tables; the client holds one COPY chunk and one row at a time.
 */
#include "importer.h"
#include "importer_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const char *const cs_importer__staged[CS_LEGACY_TABLES] = { CS_IMPORTER_STAGED_CHATS,
							    CS_IMPORTER_STAGED_MESSAGES,
							    CS_IMPORTER_STAGED_SYNC_STATUS };

#define STAGING_TABLE(name, columns) \
	"CREATE TEMP TABLE " name " (ord bigint NOT NULL, reason text, " columns ")"
static const char *const create_sql[] = {
	STAGING_TABLE(CS_IMPORTER_STAGED_CHATS, CS_LEGACY_CHAT_STAGING),
	STAGING_TABLE(CS_IMPORTER_STAGED_MESSAGES, CS_LEGACY_MESSAGE_STAGING),
	STAGING_TABLE(CS_IMPORTER_STAGED_SYNC_STATUS, CS_LEGACY_SYNC_STATUS_STAGING),
};

/* ---- small helpers ---- */

int cs_importer__run(struct cs_importer *imp, const char *sql, const char *what,
		     struct cs_error *err)
{
	return cs_db_run(imp->conn, sql, what, NULL, err);
}

void cs_importer__progress(struct cs_importer *imp, enum cs_importer_step step,
			   enum cs_legacy_table table, long long rows, long long total)
{
	struct cs_importer_progress p = { step, table, rows, total, &imp->counts[table] };

	if (imp->options.progress)
		imp->options.progress(imp->options.progress_arg, &p);
}

/* ---- life ---- */

static int session_setup(struct cs_importer *imp, struct cs_error *err)
{
	static const char *const settings[] = {
		"SET client_encoding = 'UTF8'",
		"SET client_min_messages = warning",
		"SET work_mem = '64MB'",
		"SET jit = off",
	};
	size_t i;

	/* only possible before the session's first temporary table: a bonus, not a need */
	cs_db_command(imp->conn, "SET temp_buffers = '128MB'", NULL);
	for (i = 0; i < sizeof(settings) / sizeof(settings[0]); i++)
		if (cs_importer__run(imp, settings[i], "prepare the session", err) < 0)
			return -1;
	return 0;
}

static void drop_tables(struct cs_importer *imp)
{
	char sql[160];
	int t;

	if (!imp->conn->pg || PQstatus(imp->conn->pg) != CONNECTION_OK)
		return;
	if (PQtransactionStatus(imp->conn->pg) != PQTRANS_IDLE)
		cs_db_rollback(imp->conn);
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		snprintf(sql, sizeof(sql), "DROP TABLE IF EXISTS pg_temp.%s, pg_temp.%s%s",
			 cs_importer__staged[t], cs_importer__staged[t],
			 CS_IMPORTER_VERDICT_SUFFIX);
		cs_db_command(imp->conn, sql, NULL);
	}
}

int cs_importer_new(struct cs_db_conn *conn, const struct cs_importer_options *options,
		    struct cs_importer **out, struct cs_error *err)
{
	struct cs_importer *imp = calloc(1, sizeof(*imp));
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
		if (cs_importer__run(imp, create_sql[t], "create the staging tables", err) < 0)
			goto fail;
	*out = imp;
	return 0;
fail:
	cs_importer_free(imp);
	return -1;
}

void cs_importer_free(struct cs_importer *imp)
{
	int t;

	if (!imp)
		return;
	cs_importer__copier_stop(imp);
	if (imp->tables_created) {
		drop_tables(imp);
		/* a pooled connection goes back as it came (temp_buffers cannot be reset) */
		if (imp->conn->pg && PQstatus(imp->conn->pg) == CONNECTION_OK) {
			cs_db_command(imp->conn, "RESET work_mem", NULL);
			cs_db_command(imp->conn, "RESET jit", NULL);
		}
	}
	for (t = 0; t < CS_LEGACY_TABLES; t++)
		free(imp->batches[t].starts);
	cs_buf_release(&imp->copy);
	free(imp);
}

struct cs_db_conn *cs_importer_conn(const struct cs_importer *imp)
{
	return imp->conn;
}

const struct cs_importer_counts *cs_importer_counts(const struct cs_importer *imp,
						    enum cs_legacy_table table)
{
	return &imp->counts[table];
}

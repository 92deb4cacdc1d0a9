/*
 * importer_report.c - the rejected rows, listed in file order, and the
 * API.md report of an import.
 */
#include "importer.h"
#include "importer_internal.h"
#include "rowstream.h"

#include <stdlib.h>
#include <string.h>

static const char list_rejects[] =
	"SELECT 0, s.ord, s.id, v.reason FROM " CS_IMPORTER_STAGED_CHATS " s JOIN "
	VERDICT(CS_IMPORTER_STAGED_CHATS) " v USING (ord) WHERE v.status = 'r' "
	"UNION ALL SELECT 1, s.ord, s.id, v.reason FROM " CS_IMPORTER_STAGED_MESSAGES " s JOIN "
	VERDICT(CS_IMPORTER_STAGED_MESSAGES) " v USING (ord) WHERE v.status = 'r' "
	"UNION ALL SELECT 2, s.ord, CASE WHEN s.user_id IS NULL AND s.device_id IS NULL THEN NULL "
	"  ELSE coalesce(s.user_id, '?') || '/' || coalesce(s.device_id, '?') END, v.reason FROM "
	CS_IMPORTER_STAGED_SYNC_STATUS " s JOIN " VERDICT(CS_IMPORTER_STAGED_SYNC_STATUS)
	" v USING (ord) WHERE v.status = 'r' ORDER BY 1, 2";

/* ---- the report ---- */

int cs_importer_each_reject(struct cs_importer *imp, cs_importer_reject_fn fn, void *arg,
			    struct cs_error *err)
{
	struct cs_rowstream rs = CS_ROWSTREAM_INIT;
	const PGresult *res;
	int row, rc;

	if (cs_importer__run(imp, "BEGIN", "list the rejected rows", err) < 0)
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
		return cs_importer__run(imp, "COMMIT", "list the rejected rows", err);
	cs_db_rollback(imp->conn);
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

int cs_importer_report_json(struct cs_importer *imp, struct cs_buf *out, struct cs_error *err)
{
	int t;

	cs_buf_putc(out, '{');
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		const struct cs_importer_counts *c = &imp->counts[t];

		cs_buf_printf(out,
			      "\"%s\":{\"read\":%lld,\"inserted\":%lld,\"skipped\":%lld,"
			      "\"rejected\":%lld},",
			      cs_legacy_member((enum cs_legacy_table)t), c->read, c->inserted,
			      c->skipped, c->rejected);
	}
	if (imp->checked_only)
		cs_buf_puts(out, "\"dryRun\":true,");
	cs_buf_puts(out, "\"rejects\":[");
	if (cs_importer_each_reject(imp, reject_json, out, err) < 0)
		return -1;
	cs_buf_puts(out, "]}");
	return 0;
}

/*
 * import.c - POST /api/import: a thin shell around the import core that the
 * command-line tool uses as well.
 */
#include "import.h"
#include "db.h"
#include "importer.h"
#include "metrics.h"

#include <string.h>

static int query_flag(struct cs_request *req, const char *name)
{
	const char *value = cs_http_query(req, name);

	return value && (!strcmp(value, "1") || !strcmp(value, "true"));
}

/* Stages the body, writes (or only checks) it, and builds the report. */
static int run_import(struct cs_request *req, struct cs_db_conn *conn, int dry_run,
		      struct cs_buf *report, struct cs_error *err)
{
	struct cs_jsonstream_memory body = { req->body, req->body_len, 0 };
	struct cs_importer_options options = { NULL, 0, NULL, NULL };
	struct cs_importer *imp = NULL;
	long long inserted = 0;
	int rc = -1, t;

	if (!dry_run)
		options.events = cs_server_events(req->server);
	if (cs_importer_new(conn, &options, &imp, err) < 0 ||
	    cs_importer_stage(imp, cs_jsonstream_read_memory, &body, err) < 0 ||
	    (dry_run ? cs_importer_check(imp, err) : cs_importer_write(imp, err)) < 0 ||
	    cs_importer_report_json(imp, report, err) < 0)
		goto out;
	for (t = 0; t < CS_LEGACY_TABLES && !dry_run; t++)
		inserted += cs_importer_counts(imp, (enum cs_legacy_table)t)->inserted;
	cs_metrics_add(cs_server_metrics(req->server), CS_COUNTER_IMPORT_ROWS, inserted);
	rc = 0;
out:
	cs_importer_free(imp);
	return rc;
}

void import_post(struct cs_request *req)
{
	struct cs_error err = CS_ERROR_INIT;
	struct cs_db_conn *conn = NULL;
	struct cs_buf report = CS_BUF_INIT;

	if (cs_db_acquire(cs_server_db(req->server), &conn, &err) < 0 ||
	    cs_db_bulk(conn, &err) < 0 ||
	    run_import(req, conn, query_flag(req, "dryRun"), &report, &err) < 0)
		cs_http_fail(req, &err);
	else
		cs_http_respond(req, 200, report.data, report.len);
	cs_db_release(conn);
	cs_buf_release(&report);
}

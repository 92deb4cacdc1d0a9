/*
 * export.c - GET /api/export: a thin shell around the exporter that the
 * command-line tool uses as well.
 */
#include "export.h"
#include "db.h"
#include "exporter.h"

/* The stream starts with the first piece, so that an early failure can still answer an error. */
static int stream_piece(void *arg, const char *data, size_t len)
{
	struct cs_request *req = arg;

	if (!cs_http_responded(req) && cs_http_stream_begin(req, "application/json") < 0)
		return -1;
	return cs_http_stream_write(req, data, len);
}

void export_get(struct cs_request *req)
{
	struct cs_error err = CS_ERROR_INIT;
	struct cs_db_conn *conn = NULL;
	struct cs_exporter_counts counts;
	const char *user = cs_http_query(req, "userId");

	if (user && !*user) {
		cs_http_error(req, 400, "userId: empty");
		return;
	}
	if (cs_db_acquire(cs_server_db(req->server), &conn, &err) < 0 ||
	    cs_db_bulk(conn, &err) < 0 ||
	    cs_exporter_run(conn, &user, user ? 1 : 0, stream_piece, req, &counts, &err) < 0) {
		/* once streaming, the unfinished document is the error a reader sees */
		if (!cs_http_responded(req))
			cs_http_fail(req, &err);
	}
	cs_db_release(conn);
}

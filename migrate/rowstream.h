/*
 * rowstream.h - reading a result of any size a few thousand rows at a time.
 *
 * A server-side cursor inside the caller's transaction (BEGIN first: a cursor
 * lives until the transaction ends), fetched in pages, so that neither the
 * client nor libpq ever holds the whole result. Two row streams may be open
 * on one connection at once (verify reads the file's rows and the store's
 * side by side).
 *
 *   struct cs_rowstream rs = CS_ROWSTREAM_INIT;
 *   if (cs_rowstream_open(&rs, conn, "export_chats", sql, 0, NULL, &err) < 0) goto out;
 *   while ((rc = cs_rowstream_next(&rs, &res, &row, &err)) == 1)
 *           ... PQgetvalue(res, row, col) ...   // valid until the next call
 *   out: cs_rowstream_close(&rs);               // always safe
 */
#ifndef CS_ROWSTREAM_H
#define CS_ROWSTREAM_H

#include <libpq-fe.h>

#include "db.h"

#define CS_ROWSTREAM_PAGE 2000

struct cs_rowstream {
	struct cs_db_conn *conn;
	char name[48];
	PGresult *page;
	int row;
	int open;
	int done;
};

/* clang-format off */
#define CS_ROWSTREAM_INIT { NULL, "", NULL, 0, 0, 0 }
/* clang-format on */

/* DECLARE name CURSOR FOR sql (with text parameters $1..); name: a plain identifier. */
int cs_rowstream_open(struct cs_rowstream *rs, struct cs_db_conn *conn, const char *name,
		      const char *sql, int nparams, const char *const *params,
		      struct cs_error *err);
/* 1 with the next row (*res borrowed until the next call), 0 at the end, -1 on error. */
int cs_rowstream_next(struct cs_rowstream *rs, const PGresult **res, int *row,
		      struct cs_error *err);
/* Closes the cursor (when the transaction is still usable) and frees the page. */
void cs_rowstream_close(struct cs_rowstream *rs);

#endif

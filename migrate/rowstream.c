/*
 * rowstream.c - paged reading through a server-side cursor. Every statement
 * goes through db.c (cs_db_run*): the borrow's answer deadline, its
 * bookkeeping and the one SQLSTATE mapping, with an operator's message.
 */
#include "rowstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cs_rowstream_open(struct cs_rowstream *rs, struct cs_db_conn *conn, const char *name,
		      const char *sql, int nparams, const char *const *params, struct cs_error *err)
{
	char head[96], what[96];
	size_t head_len, sql_len = strlen(sql);
	char *declare;
	int rc;

	rs->conn = conn;
	snprintf(rs->name, sizeof(rs->name), "%s", name);
	head_len =
		(size_t)snprintf(head, sizeof(head), "DECLARE %s NO SCROLL CURSOR FOR ", rs->name);
	declare = malloc(head_len + sql_len + 1);
	if (!declare)
		return cs_error_set(err, 500, "out of memory");
	memcpy(declare, head, head_len);
	memcpy(declare + head_len, sql, sql_len + 1);
	snprintf(what, sizeof(what), "declare cursor %s", rs->name);
	rc = cs_db_run_params(conn, declare, nparams, params, what, NULL, err);
	free(declare);
	if (rc < 0)
		return -1;
	rs->open = 1;
	rs->done = 0;
	rs->page = NULL;
	rs->row = 0;
	return 0;
}

int cs_rowstream_next(struct cs_rowstream *rs, const PGresult **res, int *row, struct cs_error *err)
{
	char fetch[96], what[96];

	if (rs->page && rs->row + 1 < PQntuples(rs->page)) {
		rs->row++;
		*res = rs->page;
		*row = rs->row;
		return 1;
	}
	if (rs->done)
		return 0;
	PQclear(rs->page);
	rs->page = NULL;
	snprintf(fetch, sizeof(fetch), "FETCH %d FROM %s", CS_ROWSTREAM_PAGE, rs->name);
	snprintf(what, sizeof(what), "fetch from cursor %s", rs->name);
	if (cs_db_run(rs->conn, fetch, what, &rs->page, err) < 0)
		return -1;
	rs->row = 0;
	if (PQntuples(rs->page) < CS_ROWSTREAM_PAGE)
		rs->done = 1;
	if (PQntuples(rs->page) == 0)
		return 0;
	*res = rs->page;
	*row = 0;
	return 1;
}

void cs_rowstream_close(struct cs_rowstream *rs)
{
	char sql[96];
	struct cs_error ignored; /* best effort: the transaction's end closes it anyway */

	PQclear(rs->page);
	rs->page = NULL;
	if (rs->open && rs->conn->pg && PQstatus(rs->conn->pg) == CONNECTION_OK &&
	    PQtransactionStatus(rs->conn->pg) == PQTRANS_INTRANS) {
		snprintf(sql, sizeof(sql), "CLOSE %s", rs->name);
		cs_db_run(rs->conn, sql, "close a cursor", NULL, &ignored);
	}
	rs->open = 0;
}

/* rowstream.c - paged reading through a server-side cursor. */
#include "rowstream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int check(struct cs_rowstream *rs, PGresult *res, ExecStatusType want, struct cs_error *err)
{
	if (PQresultStatus(res) == want)
		return 0;
	cs_db_error(rs->conn->pg, res, err);
	PQclear(res);
	return -1;
}

int cs_rowstream_open(struct cs_rowstream *rs, struct cs_db_conn *conn, const char *name,
		      const char *sql, int nparams, const char *const *params, struct cs_error *err)
{
	char head[96];
	size_t head_len, sql_len = strlen(sql);
	char *declare;
	PGresult *res;

	rs->conn = conn;
	snprintf(rs->name, sizeof(rs->name), "%s", name);
	head_len =
		(size_t)snprintf(head, sizeof(head), "DECLARE %s NO SCROLL CURSOR FOR ", rs->name);
	declare = malloc(head_len + sql_len + 1);
	if (!declare)
		return cs_error_set(err, 500, "out of memory");
	memcpy(declare, head, head_len);
	memcpy(declare + head_len, sql, sql_len + 1);
	res = PQexecParams(conn->pg, declare, nparams, NULL, params, NULL, NULL, 0);
	free(declare);
	if (check(rs, res, PGRES_COMMAND_OK, err) < 0)
		return -1;
	PQclear(res);
	rs->open = 1;
	rs->done = 0;
	rs->page = NULL;
	rs->row = 0;
	return 0;
}

int cs_rowstream_next(struct cs_rowstream *rs, const PGresult **res, int *row, struct cs_error *err)
{
	char fetch[96];

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
	rs->page = PQexec(rs->conn->pg, fetch);
	if (check(rs, rs->page, PGRES_TUPLES_OK, err) < 0) {
		rs->page = NULL;
		return -1;
	}
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

	PQclear(rs->page);
	rs->page = NULL;
	if (rs->open && rs->conn->pg && PQstatus(rs->conn->pg) == CONNECTION_OK &&
	    PQtransactionStatus(rs->conn->pg) == PQTRANS_INTRANS) {
		snprintf(sql, sizeof(sql), "CLOSE %s", rs->name);
		PQclear(PQexec(rs->conn->pg, sql));
	}
	rs->open = 0;
}

/*
 * db_error.c - the one place where a Postgres error becomes an HTTP status
 * (by SQLSTATE), for the services' answers and the bulk tools' messages.
 */
#include "db.h"
#include "log.h"

#include <stdio.h>
#include <string.h>

static int unavailable(struct cs_error *err, const char *message)
{
	cs_error_set(err, 503, "%s", message);
	if (err)
		err->retry = 1;
	return -1;
}

int cs_db_error(PGconn *pg, const PGresult *res, struct cs_error *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (!pg || PQstatus(pg) != CONNECTION_OK || !state)
		return unavailable(err, "database unavailable");
	if (!strcmp(state, "23505"))
		return cs_error_set(err, 409, "conflict with an existing document");
	if (!strcmp(state, "23503"))
		return cs_error_set(err, 404, "referenced document not found");
	/* serialization failure, deadlock, lock_timeout */
	if (!strcmp(state, "40001") || !strcmp(state, "40P01") || !strcmp(state, "55P03"))
		return unavailable(err, "database busy, try again");
	/* statement_timeout (or a cancel), idle_in_transaction_session_timeout */
	if (!strcmp(state, "57014") || !strcmp(state, "25P03"))
		return unavailable(err, "database timeout, try again");
	/* connection trouble, shutdown, too many connections, out of resources */
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strncmp(state, "53", 2))
		return unavailable(err, "database unavailable");
	if (!strncmp(state, "22", 2) || !strcmp(state, "23514"))
		return cs_error_set(err, 400, "invalid value");
	cs_log_error("database error %s: %s", state, PQresultErrorMessage(res));
	return cs_error_set(err, 500, "internal error");
}

int cs_db_error_for(PGconn *pg, const PGresult *res, const char *what, struct cs_error *err)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;

	cs_db_error(pg, res, err);
	if (err)
		snprintf(err->message, sizeof(err->message), "could not %s: %s", what,
			 primary ? primary : PQerrorMessage(pg));
	return -1;
}

int cs_db_refused_value(const PGresult *res)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	return state && (!strncmp(state, "22", 2) || !strncmp(state, "23", 2));
}

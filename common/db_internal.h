/*
 * db_internal.h - what the pool (db.c) and the statements (db_query.c) share;
 * nothing outside common/db*.c includes it.
 */
#ifndef CS_DB_INTERNAL_H
#define CS_DB_INTERNAL_H

#include "db.h"

/*
 * The server cancels a statement at statement_timeout and says so at once;
 * an answer later than this past it means the server cannot answer at all.
 */
#define ANSWER_GRACE_MS 1000

/* Closes the connection of a slot (the next borrower reconnects). */
void cs_db__close_conn(struct cs_db_conn *conn);
/*
 * The one "reconnect on first use" rule: after a statement failed, 1 when the
 * connection was found dead before anything was done on this borrow and is
 * open again (run the statement once more), 0 when the failure stands, -1
 * (503 in err) when it could not be reopened.
 */
int cs_db__reconnect_if_stale(struct cs_db_conn *conn, struct cs_error *err);
/* The pool's bookkeeping after every statement (or pipeline) run on conn. */
void cs_db__statement_done(struct cs_db_conn *conn);
/* Every result of the query sent: the last, or the first error; NULL when none came in time. */
PGresult *cs_db__last_result(struct cs_db_conn *conn);
/* Sends one step outside pipeline mode and reads its answer; NULL when none came. */
PGresult *cs_db__run_step(struct cs_db_conn *conn, const struct cs_db_step *step,
			  const int *lengths);

#endif

/*
 * db.h - the Postgres pool a service's threads borrow connections from.
 *
 * A process holds a few connections (DB_POOL_SIZE), not one per thread: a
 * request borrows one with cs_db_acquire for as long as it talks to Postgres
 * and gives it back with cs_db_release. Borrowers that must wait are served
 * first come, first served (skipping those at their user's cap), and a
 * release wakes only the one it serves. A connection is (re)opened lazily on
 * acquire, so the pool recovers by itself after a Postgres restart, and every
 * statement of the service's table is prepared on it once per connection.
 *
 * Every wait is bounded (docs/decisions/timeouts.md): the wait for a free
 * connection (DB_ACQUIRE_TIMEOUT_MS), the connect (DB_CONNECT_TIMEOUT_S), each
 * statement on the server (statement_timeout, lock_timeout and
 * idle_in_transaction_session_timeout, set at connect) and each wait for an
 * answer on the client (the statement timeout and a second of grace: a
 * server that stays silent longer, stopped or cut off, costs the connection,
 * which is closed). TCP keepalives find dead idle connections.
 *
 * A connection goes back to the pool only idle: a transaction left open is
 * rolled back, pipeline mode left, and a connection that cannot be made
 * idle is closed, so that the next borrower reconnects.
 *
 * Errors map to HTTP here and only here (by SQLSTATE): unique violation 409,
 * foreign key 404, serialization failure, deadlock, lock timeout, statement
 * timeout and connection loss retryable 503, bad data 400, anything else 500.
 * migrate/'s statements map the same way; only their messages are longer.
 *
 * Results (PGresult *) belong to the caller: PQclear them.
 */
#ifndef CS_DB_H
#define CS_DB_H

#include <libpq-fe.h>
#include <stddef.h>

#include "config.h"
#include "error.h"

struct cs_db_statement {
	const char *name;
	const char *sql;
};

struct cs_db;
struct cs_db_conn {
	PGconn *pg; /* NULL once closed (lost, or no answer in time) */
	struct cs_db *db;
	int slot;
	/* private to the pool (common/db*.c) */
	int used;               /* statements run since acquire (cs_db__statement_done) */
	const char *user;       /* the borrower's user id (cs_db_acquire_for), or NULL */
	long answer_timeout_ms; /* longest wait for one answer on this borrow */
	long long deadline_ms;  /* 0, or when a batch of reads must be done (cs_db__run_reads) */
	int bulk;               /* cs_db_bulk changed the session's timeouts */
};

/*
 * The pool of cfg (DATABASE_URL, DB_POOL_SIZE, DB_ACQUIRE_TIMEOUT_MS, the
 * DB_*_TIMEOUT and keepalive rows). The statements are prepared on every
 * connection; the table must outlive the pool.
 */
int cs_db_new(const struct cs_config *cfg, const struct cs_db_statement *statements, size_t count,
	      struct cs_db **out, char *err, size_t errlen);
void cs_db_free(struct cs_db *db);

/* Borrows a connection, connecting if needed; 503 when Postgres cannot be reached. */
int cs_db_acquire(struct cs_db *db, struct cs_db_conn **out, struct cs_error *err);
/*
 * The same for a request of user_id, who holds at most DB_POOL_USER_MAX of
 * the pool's connections at once (further borrows wait like any other), so
 * that one user's requests (writes queue on the user's lock anyway) cannot
 * hold the whole pool. user_id is borrowed until cs_db_release.
 */
int cs_db_acquire_for(struct cs_db *db, const char *user_id, struct cs_db_conn **out,
		      struct cs_error *err);
/* Gives it back idle (rolled back, out of pipeline mode) or closed. NULL is fine. */
void cs_db_release(struct cs_db_conn *conn);

/*
 * For a borrow that runs bulk work (import, export, verify): its session's
 * statement and idle-in-transaction timeouts, and the client's wait for an
 * answer, become DB_BULK_TIMEOUT_MS until cs_db_release puts them back.
 */
int cs_db_bulk(struct cs_db_conn *conn, struct cs_error *err);

/* Runs a prepared statement of the table. *out is a TUPLES_OK or COMMAND_OK result. */
int cs_db_exec(struct cs_db_conn *conn, const char *name, int nparams, const char *const *values,
	       const int *lengths, PGresult **out, struct cs_error *err);
/* Runs plain SQL with no parameters (SET, ...). */
int cs_db_command(struct cs_db_conn *conn, const char *sql, struct cs_error *err);
/*
 * For the bulk tools (migrate/), whose messages an operator reads: plain SQL
 * as cs_db_command, its result in *out when out is not NULL, and on failure
 * err's message "could not <what>: <Postgres' own words>" (cs_db_error_for).
 */
int cs_db_run(struct cs_db_conn *conn, const char *sql, const char *what, PGresult **out,
	      struct cs_error *err);
/* The same with text parameters $1..$nparams (one statement only). */
int cs_db_run_params(struct cs_db_conn *conn, const char *sql, int nparams,
		     const char *const *values, const char *what, PGresult **out,
		     struct cs_error *err);

/*
 * Transactions, begun through these or in one pipeline ("BEGIN" … "COMMIT"
 * steps). mode: what follows BEGIN ("ISOLATION LEVEL REPEATABLE READ"), or
 * NULL. A rollback is best effort: the pool closes what it cannot make idle.
 */
int cs_db_begin(struct cs_db_conn *conn, struct cs_error *err);
int cs_db_begin_with(struct cs_db_conn *conn, const char *mode, struct cs_error *err);
int cs_db_commit(struct cs_db_conn *conn, struct cs_error *err);
void cs_db_rollback(struct cs_db_conn *conn);

/*
 * Several statements in one round trip (libpq pipeline mode). A step runs a
 * prepared statement of the table (name) or plain SQL without parameters
 * (sql: "BEGIN", "COMMIT"). Postgres runs them in order and stops at the
 * first error, which is what err then describes; the steps after it are not
 * run (their results are NULL). results[i] belongs to the caller (PQclear).
 * On a connection found dead before anything else ran on the borrow, the
 * steps run once more on a new one, all of them: the old session may have
 * ended after some ran, a COMMIT included, so a pipeline that commits must be
 * harmless twice (append: its id chosen before, ON CONFLICT DO NOTHING, so
 * the second run answers as a replay).
 */
struct cs_db_step {
	const char *name;
	const char *sql;
	int nparams;
	const char *const *values;
};
int cs_db_pipeline(struct cs_db_conn *conn, const struct cs_db_step *steps, int count,
		   PGresult **results, struct cs_error *err);

/*
 * A read of user_id (steps that change nothing and take no lock: a SELECT,
 * no BEGIN), as cs_db_pipeline would run it on a borrowed connection, but
 * without one of its own: a reader that gets a connection carries the reads
 * queued behind it (up to 8 in all) in the same round trip, each up to its
 * own sync, so that an error ends only its own read. The wait for a
 * connection is bounded as cs_db_acquire's; a read is carried only by a
 * connected reader, each answer is awaited as a borrower's, and the whole
 * batch within DB_ACQUIRE_TIMEOUT_MS and an answer's timeout. A user's reads
 * count as its connections: none is carried for a user who holds
 * DB_POOL_USER_MAX with it. results[i]
 * belongs to the caller (PQclear); all NULL on failure.
 */
int cs_db_read(struct cs_db *db, const char *user_id, const struct cs_db_step *steps, int count,
	       PGresult **results, struct cs_error *err);
/* Reads run through cs_db_read, and how many of them another reader carried (for /metrics). */
void cs_db_read_counts(struct cs_db *db, long long *reads, long long *carried);

/* Fills err from a failed result (by SQLSTATE) or a lost connection. */
int cs_db_error(PGconn *pg, const PGresult *res, struct cs_error *err);
/*
 * The same, with the message "could not <what>: <Postgres' own words>" for
 * an operator (the bulk tools), never for a client's answer.
 */
int cs_db_error_for(PGconn *pg, const PGresult *res, const char *what, struct cs_error *err);
/*
 * 1 when the failed result says Postgres refused a value of the statement
 * (SQLSTATE class 22, data exception, or 23, integrity constraint), else 0.
 */
int cs_db_refused_value(const PGresult *res);

/*
 * For a pool that has another to fall back on (sync-svc's replica): after
 * cs_db_failed, cs_db_usable answers 0 for retry_ms, so that a stopped or
 * cut-off server costs one caller its timeout, not every caller; then 1 to
 * one caller per retry_ms (the probe) until one reports cs_db_answered.
 */
int cs_db_usable(struct cs_db *db);
void cs_db_failed(struct cs_db *db, long retry_ms);
void cs_db_answered(struct cs_db *db);

/* 0 when Postgres answers a trivial query through the pool. */
int cs_db_ping(struct cs_db *db, struct cs_error *err);
/*
 * How far a streaming replica's replay is behind, in milliseconds: 0 when it
 * has replayed all it received (an idle primary is no lag), else the age of
 * the last transaction it replayed. 0 on a primary; -1 when it cannot be asked.
 */
int cs_db_replica_lag_ms(struct cs_db *db, long long *lag_ms, struct cs_error *err);

#endif

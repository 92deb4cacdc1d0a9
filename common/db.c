/*
 * db.c - Postgres pool, prepared statements, SQLSTATE → HTTP mapping.
 */
#include "db.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cs_db {
	char *url;
	const struct cs_db_statement *statements;
	size_t statement_count;
	long acquire_timeout_ms;
	pthread_mutex_t lock;
	pthread_cond_t freed;
	int size;
	struct cs_db_conn *conns;
	int *busy;
};

int cs_db_new(const char *url, int size, long acquire_timeout_ms,
	      const struct cs_db_statement *statements, size_t count, struct cs_db **out,
	      char *err, size_t errlen)
{
	struct cs_db *db = calloc(1, sizeof(*db));
	int i;

	if (!db)
		goto fail;
	db->url = strdup(url);
	db->conns = calloc((size_t)size, sizeof(*db->conns));
	db->busy = calloc((size_t)size, sizeof(*db->busy));
	if (!db->url || !db->conns || !db->busy)
		goto fail;
	db->size = size;
	db->statements = statements;
	db->statement_count = count;
	db->acquire_timeout_ms = acquire_timeout_ms;
	pthread_mutex_init(&db->lock, NULL);
	pthread_cond_init(&db->freed, NULL);
	for (i = 0; i < size; i++) {
		db->conns[i].db = db;
		db->conns[i].slot = i;
	}
	*out = db;
	return 0;
fail:
	if (db) {
		free(db->url);
		free(db->conns);
		free(db->busy);
		free(db);
	}
	snprintf(err, errlen, "could not create database pool: out of memory");
	return -1;
}

void cs_db_free(struct cs_db *db)
{
	int i;

	if (!db)
		return;
	for (i = 0; i < db->size; i++)
		if (db->conns[i].pg)
			PQfinish(db->conns[i].pg);
	pthread_mutex_destroy(&db->lock);
	pthread_cond_destroy(&db->freed);
	free(db->conns);
	free(db->busy);
	free(db->url);
	free(db);
}

static int prepare_all(struct cs_db_conn *conn, struct cs_error *err)
{
	size_t i;

	for (i = 0; i < conn->db->statement_count; i++) {
		const struct cs_db_statement *s = &conn->db->statements[i];
		PGresult *res = PQprepare(conn->pg, s->name, s->sql, 0, NULL);

		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			cs_log_error("could not prepare statement %s: %s", s->name,
				     PQresultErrorMessage(res));
			cs_db_error(conn->pg, res, err);
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}

/* Opens the slot's connection when it has none or lost it. */
static int connect_slot(struct cs_db_conn *conn, struct cs_error *err)
{
	static const char *const keys[] = { "dbname", "connect_timeout", "application_name", NULL };
	const char *values[] = { conn->db->url, "2", "chatsync", NULL };

	if (conn->pg && PQstatus(conn->pg) == CONNECTION_OK)
		return 0;
	if (conn->pg)
		PQfinish(conn->pg);
	conn->pg = PQconnectdbParams(keys, values, 1);
	if (!conn->pg || PQstatus(conn->pg) != CONNECTION_OK) {
		cs_log_warn("could not connect to database: %s",
			    conn->pg ? PQerrorMessage(conn->pg) : "out of memory");
		if (conn->pg)
			PQfinish(conn->pg);
		conn->pg = NULL;
		cs_error_set(err, 503, "database unavailable");
		err->retry = 1;
		return -1;
	}
	if (prepare_all(conn, err) < 0) {
		PQfinish(conn->pg);
		conn->pg = NULL;
		return -1;
	}
	return 0;
}

int cs_db_acquire(struct cs_db *db, struct cs_db_conn **out, struct cs_error *err)
{
	struct timespec deadline;
	int slot = -1, i, rc = 0;

	clock_gettime(CLOCK_REALTIME, &deadline);
	deadline.tv_sec += db->acquire_timeout_ms / 1000;
	deadline.tv_nsec += (db->acquire_timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&db->lock);
	while (slot < 0 && rc != ETIMEDOUT) {
		/* Prefer a connected slot so that one dead slot is not retried first. */
		for (i = 0; i < db->size; i++) {
			if (db->busy[i])
				continue;
			if (slot < 0 || db->conns[i].pg)
				slot = i;
			if (db->conns[i].pg)
				break;
		}
		if (slot < 0)
			rc = pthread_cond_timedwait(&db->freed, &db->lock, &deadline);
	}
	if (slot >= 0)
		db->busy[slot] = 1;
	pthread_mutex_unlock(&db->lock);
	if (slot < 0)
		return cs_error_set(err, 503, "database busy");

	struct cs_db_conn *conn = &db->conns[slot];

	if (connect_slot(conn, err) < 0) {
		cs_db_release(conn);
		return -1;
	}
	conn->used = 0;
	conn->in_transaction = 0;
	*out = conn;
	return 0;
}

void cs_db_release(struct cs_db_conn *conn)
{
	struct cs_db *db;

	if (!conn)
		return;
	db = conn->db;
	if (conn->pg && PQstatus(conn->pg) == CONNECTION_OK &&
	    PQtransactionStatus(conn->pg) != PQTRANS_IDLE)
		cs_db_rollback(conn);
	pthread_mutex_lock(&db->lock);
	db->busy[conn->slot] = 0;
	pthread_cond_signal(&db->freed);
	pthread_mutex_unlock(&db->lock);
}

int cs_db_error(PGconn *pg, const PGresult *res, struct cs_error *err)
{
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;

	if (!pg || PQstatus(pg) != CONNECTION_OK || !state) {
		cs_error_set(err, 503, "database unavailable");
		if (err)
			err->retry = 1;
		return -1;
	}
	if (!strcmp(state, "23505"))
		return cs_error_set(err, 409, "conflict with an existing document");
	if (!strcmp(state, "23503"))
		return cs_error_set(err, 404, "referenced document not found");
	if (!strcmp(state, "40001") || !strcmp(state, "40P01")) {
		cs_error_set(err, 503, "database busy, try again");
		if (err)
			err->retry = 1;
		return -1;
	}
	if (!strncmp(state, "08", 2) || !strncmp(state, "57P", 3) || !strcmp(state, "53300")) {
		cs_error_set(err, 503, "database unavailable");
		if (err)
			err->retry = 1;
		return -1;
	}
	if (!strncmp(state, "22", 2) || !strcmp(state, "23514"))
		return cs_error_set(err, 400, "invalid value");
	cs_log_error("database error %s: %s", state, PQresultErrorMessage(res));
	return cs_error_set(err, 500, "internal error");
}

static int check_result(struct cs_db_conn *conn, PGresult *res, PGresult **out,
			struct cs_error *err)
{
	ExecStatusType status = PQresultStatus(res);

	if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
		if (out)
			*out = res;
		else
			PQclear(res);
		return 0;
	}
	cs_db_error(conn->pg, res, err);
	PQclear(res);
	return -1;
}

int cs_db_exec(struct cs_db_conn *conn, const char *name, int nparams, const char *const *values,
	       const int *lengths, PGresult **out, struct cs_error *err)
{
	PGresult *res = PQexecPrepared(conn->pg, name, nparams, values, lengths, NULL, 0);

	/*
	 * A pooled connection learns that Postgres restarted only when it is
	 * used. If this is the first statement of the borrow, nothing has been
	 * done on it yet, so reconnecting and running it again is safe.
	 */
	if (PQstatus(conn->pg) != CONNECTION_OK && conn->used == 0 && !conn->in_transaction) {
		PQclear(res);
		if (connect_slot(conn, err) < 0)
			return -1;
		res = PQexecPrepared(conn->pg, name, nparams, values, lengths, NULL, 0);
	}
	conn->used++;
	return check_result(conn, res, out, err);
}

int cs_db_command(struct cs_db_conn *conn, const char *sql, struct cs_error *err)
{
	PGresult *res = PQexec(conn->pg, sql);

	if (PQstatus(conn->pg) != CONNECTION_OK && conn->used == 0 && !conn->in_transaction) {
		PQclear(res);
		if (connect_slot(conn, err) < 0)
			return -1;
		res = PQexec(conn->pg, sql);
	}
	conn->used++;
	return check_result(conn, res, NULL, err);
}

static int send_steps(struct cs_db_conn *conn, const struct cs_db_step *steps, int count)
{
	int i, ok = PQenterPipelineMode(conn->pg);

	for (i = 0; ok && i < count; i++) {
		if (steps[i].name)
			ok = PQsendQueryPrepared(conn->pg, steps[i].name, steps[i].nparams,
						 steps[i].values, NULL, NULL, 0);
		else
			ok = PQsendQueryParams(conn->pg, steps[i].sql, 0, NULL, NULL, NULL, NULL, 0);
	}
	return ok && PQpipelineSync(conn->pg) ? 0 : -1;
}

/* Reads every result up to the pipeline's sync; the first failure fills err. */
static int read_steps(struct cs_db_conn *conn, int count, PGresult **results,
		      struct cs_error *err)
{
	int i, rc = 0;

	for (i = 0; i < count; i++) {
		PGresult *res = PQgetResult(conn->pg);
		ExecStatusType status = PQresultStatus(res);

		if (!res)
			return cs_db_error(conn->pg, NULL, err);
		if (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK) {
			results[i] = res;
		} else {
			if (rc == 0 && status != PGRES_PIPELINE_ABORTED)
				rc = cs_db_error(conn->pg, res, err);
			else if (rc == 0)
				rc = cs_error_set(err, 500, "internal error");
			PQclear(res);
		}
		PQclear(PQgetResult(conn->pg)); /* the NULL that ends each query's results */
	}
	{
		PGresult *sync = PQgetResult(conn->pg);

		if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC && rc == 0)
			rc = cs_db_error(conn->pg, NULL, err);
		PQclear(sync);
	}
	return rc;
}

int cs_db_pipeline(struct cs_db_conn *conn, const struct cs_db_step *steps, int count,
		   PGresult **results, struct cs_error *err)
{
	int i, rc, attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		for (i = 0; i < count; i++)
			results[i] = NULL;
		rc = send_steps(conn, steps, count);
		if (rc == 0)
			rc = read_steps(conn, count, results, err);
		else
			cs_db_error(conn->pg, NULL, err);
		if (PQpipelineStatus(conn->pg) != PQ_PIPELINE_OFF)
			PQexitPipelineMode(conn->pg);
		/* as in cs_db_exec: a first use may meet a connection Postgres dropped */
		if (rc == 0 || PQstatus(conn->pg) == CONNECTION_OK || conn->used > 0 ||
		    conn->in_transaction)
			break;
		for (i = 0; i < count; i++)
			PQclear(results[i]);
		if (connect_slot(conn, err) < 0)
			return -1;
	}
	conn->used++;
	if (rc < 0) {
		/* an error inside BEGIN … COMMIT leaves the transaction open and failed */
		if (PQstatus(conn->pg) == CONNECTION_OK && PQtransactionStatus(conn->pg) != PQTRANS_IDLE)
			cs_db_rollback(conn);
		for (i = 0; i < count; i++) {
			PQclear(results[i]);
			results[i] = NULL;
		}
	}
	return rc;
}

int cs_db_begin(struct cs_db_conn *conn, struct cs_error *err)
{
	if (cs_db_command(conn, "BEGIN", err) < 0)
		return -1;
	conn->in_transaction = 1;
	return 0;
}

int cs_db_commit(struct cs_db_conn *conn, struct cs_error *err)
{
	int rc = cs_db_command(conn, "COMMIT", err);

	conn->in_transaction = 0;
	return rc;
}

void cs_db_rollback(struct cs_db_conn *conn)
{
	if (conn->pg && PQstatus(conn->pg) == CONNECTION_OK)
		PQclear(PQexec(conn->pg, "ROLLBACK"));
	conn->in_transaction = 0;
}

int cs_db_ping(struct cs_db *db, struct cs_error *err)
{
	struct cs_db_conn *conn = NULL;
	int rc;

	if (cs_db_acquire(db, &conn, err) < 0)
		return -1;
	rc = cs_db_command(conn, "SELECT 1", err);
	cs_db_release(conn);
	return rc;
}

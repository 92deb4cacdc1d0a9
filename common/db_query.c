/*
 * db_query.c - statements on a borrowed connection: prepared, plain and
 * pipelined, each answer awaited within the borrow's deadline.
 *
 * libpq has no read timeout: a blocking call waits as long as the server
 * says nothing. So every statement here is sent asynchronously on a
 * non-blocking connection and its answer awaited with poll() against a
 * deadline (await_answer); libpq's blocking calls are left to the importer's
 * COPY (migrate/importer_stage.c), which the server's timeouts and TCP
 * keepalives bound. Whether a failed statement may
 * run again on a new connection is db.c's rule (cs_db__reconnect_if_stale).
 */
#include "db.h"
#include "clock.h"
#include "db_internal.h"
#include "id.h"
#include "log.h"

#include <errno.h>
#include <poll.h>

/* ---- one answer at a time, each within the borrow's deadline ---- */

/*
 * Waits until libpq holds an answer it can hand out without blocking,
 * sending what is still queued meanwhile. When the server stays silent past
 * the deadline the connection is closed: whatever it was doing can no
 * longer be trusted to end, and the next borrower reconnects.
 */
static int await_answer(struct cs_db_conn *conn)
{
	long long deadline = cs_clock_monotonic_us() / 1000 + conn->answer_timeout_ms;
	int sending = 1;

	if (conn->deadline_ms && conn->deadline_ms < deadline)
		deadline = conn->deadline_ms;
	while (conn->pg) {
		struct pollfd p = { PQsocket(conn->pg), POLLIN, 0 };
		long long left;
		int rc;

		if (sending) {
			rc = PQflush(conn->pg);
			if (rc < 0)
				return -1;
			sending = rc == 1;
		}
		if (!sending && !PQisBusy(conn->pg))
			return 0;
		left = deadline - cs_clock_monotonic_us() / 1000;
		if (left <= 0) {
			cs_log_warn(
				"could not get an answer from the database within %ld ms: "
				"closing the connection",
				conn->answer_timeout_ms);
			cs_db__close_conn(conn);
			return -1;
		}
		if (sending)
			p.events |= POLLOUT;
		rc = poll(&p, 1, (int)left);
		if (rc < 0 && errno != EINTR)
			return -1;
		if (rc > 0 && (p.revents & (POLLIN | POLLERR | POLLHUP)) &&
		    !PQconsumeInput(conn->pg))
			return -1; /* the connection is lost: PQstatus says so */
	}
	return -1;
}

/* The next result of the query in progress, NULL at its end or when none came in time. */
static PGresult *next_result(struct cs_db_conn *conn)
{
	if (await_answer(conn) < 0)
		return NULL;
	return PQgetResult(conn->pg);
}

/* Every result of the query, as PQexec keeps them: the last, or the first error. */
PGresult *cs_db__last_result(struct cs_db_conn *conn)
{
	PGresult *last = NULL, *res;

	while ((res = next_result(conn)) != NULL) {
		if (last && PQresultStatus(last) == PGRES_FATAL_ERROR) {
			PQclear(res);
			continue;
		}
		PQclear(last);
		last = res;
	}
	return last;
}

/* Sends one step outside pipeline mode and reads its answer; NULL when none came. */
PGresult *cs_db__run_step(struct cs_db_conn *conn, const struct cs_db_step *step,
			  const int *lengths)
{
	int sent;

	if (!conn->pg)
		return NULL;
	if (step->name)
		sent = PQsendQueryPrepared(conn->pg, step->name, step->nparams, step->values,
					   lengths, NULL, 0);
	else if (step->nparams > 0)
		sent = PQsendQueryParams(conn->pg, step->sql, step->nparams, NULL, step->values,
					 lengths, NULL, 0);
	else
		sent = PQsendQuery(conn->pg, step->sql); /* may hold several statements */
	return sent ? cs_db__last_result(conn) : NULL;
}

/* ---- statements ---- */

/* what: NULL for the client's short message, else the operator's (cs_db_error_for). */
static int check_result(struct cs_db_conn *conn, PGresult *res, const char *what, PGresult **out,
			struct cs_error *err)
{
	ExecStatusType status = PQresultStatus(res);

	if (res && (status == PGRES_TUPLES_OK || status == PGRES_COMMAND_OK)) {
		if (out)
			*out = res;
		else
			PQclear(res);
		return 0;
	}
	if (what)
		cs_db_error_for(conn->pg, res, what, err);
	else
		cs_db_error(conn->pg, res, err);
	PQclear(res);
	return -1;
}

static int run_once_more_if_stale(struct cs_db_conn *conn, const struct cs_db_step *step,
				  const int *lengths, const char *what, PGresult **out,
				  struct cs_error *err)
{
	PGresult *res = cs_db__run_step(conn, step, lengths);
	int stale = cs_db__reconnect_if_stale(conn, err);

	if (stale != 0) {
		PQclear(res);
		if (stale < 0)
			return -1;
		res = cs_db__run_step(conn, step, lengths);
	}
	cs_db__statement_done(conn);
	return check_result(conn, res, what, out, err);
}

int cs_db_exec(struct cs_db_conn *conn, const char *name, int nparams, const char *const *values,
	       const int *lengths, PGresult **out, struct cs_error *err)
{
	const struct cs_db_step step = { name, NULL, nparams, values };

	return run_once_more_if_stale(conn, &step, lengths, NULL, out, err);
}

int cs_db_command(struct cs_db_conn *conn, const char *sql, struct cs_error *err)
{
	const struct cs_db_step step = { NULL, sql, 0, NULL };

	return run_once_more_if_stale(conn, &step, NULL, NULL, NULL, err);
}

int cs_db_run(struct cs_db_conn *conn, const char *sql, const char *what, PGresult **out,
	      struct cs_error *err)
{
	return cs_db_run_params(conn, sql, 0, NULL, what, out, err);
}

int cs_db_run_params(struct cs_db_conn *conn, const char *sql, int nparams,
		     const char *const *values, const char *what, PGresult **out,
		     struct cs_error *err)
{
	const struct cs_db_step step = { NULL, sql, nparams, values };

	return run_once_more_if_stale(conn, &step, NULL, what, out, err);
}

/* Queues steps and a sync on a connection in pipeline mode; -1 when libpq refuses. */
static int queue_steps(struct cs_db_conn *conn, const struct cs_db_step *steps, int count)
{
	int i, ok = 1;

	for (i = 0; ok && i < count; i++) {
		if (steps[i].name)
			ok = PQsendQueryPrepared(conn->pg, steps[i].name, steps[i].nparams,
						 steps[i].values, NULL, NULL, 0);
		else
			ok = PQsendQueryParams(conn->pg, steps[i].sql, 0, NULL, NULL, NULL, NULL,
					       0);
	}
	return ok && PQpipelineSync(conn->pg) ? 0 : -1;
}

static int send_steps(struct cs_db_conn *conn, const struct cs_db_step *steps, int count)
{
	if (!conn->pg || !PQenterPipelineMode(conn->pg))
		return -1;
	return queue_steps(conn, steps, count);
}

/* Reads every result up to the pipeline's sync; the first failure fills err. */
static int read_steps(struct cs_db_conn *conn, int count, PGresult **results, struct cs_error *err)
{
	int i, rc = 0;

	for (i = 0; i < count; i++) {
		PGresult *res = next_result(conn);
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
		PQclear(next_result(conn)); /* the NULL that ends each query's results */
	}
	{
		PGresult *sync = next_result(conn);

		if (PQresultStatus(sync) != PGRES_PIPELINE_SYNC && rc == 0)
			rc = cs_db_error(conn->pg, NULL, err);
		PQclear(sync);
	}
	return rc;
}

/*
 * Results left unread on a live connection: it cannot be reused, so it is
 * closed. A dead one is left as it is, for cs_db__reconnect_if_stale to
 * replace (closed, it would not know it had been stale) or the release to close.
 */
static void leave_pipeline(struct cs_db_conn *conn)
{
	if (PQpipelineStatus(conn->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(conn->pg) &&
	    PQstatus(conn->pg) == CONNECTION_OK)
		cs_db__close_conn(conn);
}

static void clear_results(PGresult **results, int count)
{
	int i;

	for (i = 0; i < count; i++) {
		PQclear(results[i]);
		results[i] = NULL;
	}
}

int cs_db_pipeline(struct cs_db_conn *conn, const struct cs_db_step *steps, int count,
		   PGresult **results, struct cs_error *err)
{
	int i, rc, attempt, stale = 0;

	for (attempt = 0; attempt < 2; attempt++) {
		for (i = 0; i < count; i++)
			results[i] = NULL;
		rc = send_steps(conn, steps, count);
		if (rc == 0)
			rc = read_steps(conn, count, results, err);
		else
			cs_db_error(conn->pg, NULL, err);
		leave_pipeline(conn);
		if (rc == 0 || attempt > 0 || (stale = cs_db__reconnect_if_stale(conn, err)) == 0)
			break;
		clear_results(results, count);
		if (stale < 0)
			return -1;
		*err = (struct cs_error)CS_ERROR_INIT; /* the dead connection's, not the answer's */
	}
	cs_db__statement_done(conn);
	if (rc < 0) {
		/* an error inside BEGIN … COMMIT leaves the transaction open and failed */
		if (PQstatus(conn->pg) == CONNECTION_OK &&
		    PQtransactionStatus(conn->pg) != PQTRANS_IDLE)
			cs_db_rollback(conn);
		clear_results(results, count);
	}
	return rc;
}

/* Sends the reads still in reads (not NULL), each up to its own sync. */
static int send_reads(struct cs_db_conn *conn, struct cs_db__read *const *reads, int n)
{
	int i;

	if (!conn->pg || !PQenterPipelineMode(conn->pg))
		return -1;
	for (i = 0; i < n; i++)
		if (reads[i] && queue_steps(conn, reads[i]->steps, reads[i]->count) < 0)
			return -1;
	return 0;
}

/*
 * As cs_db_pipeline's, for several reads. Each answer is awaited as a
 * borrower's, and the whole batch within what a borrower may wait in all
 * (DB_ACQUIRE_TIMEOUT_MS and an answer's timeout), so that a carried read
 * neither fails for sharing a batch with slow ones nor waits without bound.
 * A read that succeeds is told at once and leaves reads: its reader may
 * return, and its memory with it. The failed ones run once more on a
 * connection that was found dead before anything ran on this borrow (a read
 * changes nothing, so running it again is safe), and are told after.
 */
void cs_db__run_reads(struct cs_db_conn *conn, struct cs_db__read **reads, int n)
{
	int i, attempt;

	conn->deadline_ms = cs_clock_monotonic_us() / 1000 + conn->db->acquire_timeout_ms +
			    conn->answer_timeout_ms;
	for (attempt = 0; attempt < 2; attempt++) {
		struct cs_error lost = CS_ERROR_INIT;
		int failed = 0, sent = send_reads(conn, reads, n) == 0;

		for (i = 0; i < n; i++) {
			struct cs_db__read *read = reads[i];

			if (!read)
				continue;
			read->rc = sent ? read_steps(conn, read->count, read->results, read->err)
					: cs_db_error(conn->pg, NULL, read->err);
			if (read->rc < 0) {
				clear_results(read->results, read->count);
				failed++;
				continue;
			}
			reads[i] = NULL;
			cs_db__read_done(read);
		}
		leave_pipeline(conn);
		if (!failed || attempt > 0 || cs_db__reconnect_if_stale(conn, &lost) <= 0)
			break;
	}
	conn->deadline_ms = 0;
	cs_db__statement_done(conn);
	for (i = 0; i < n; i++)
		if (reads[i])
			cs_db__read_done(reads[i]); /* failed: rc -1, err says why */
}

int cs_db_begin(struct cs_db_conn *conn, struct cs_error *err)
{
	return cs_db_command(conn, "BEGIN", err);
}

int cs_db_begin_with(struct cs_db_conn *conn, const char *mode, struct cs_error *err)
{
	char sql[128];

	if (!mode)
		return cs_db_begin(conn, err);
	if ((size_t)snprintf(sql, sizeof(sql), "BEGIN %s", mode) >= sizeof(sql))
		return cs_error_set(err, 500, "could not begin a transaction: mode too long");
	return cs_db_command(conn, sql, err);
}

int cs_db_commit(struct cs_db_conn *conn, struct cs_error *err)
{
	return cs_db_command(conn, "COMMIT", err);
}

void cs_db_rollback(struct cs_db_conn *conn)
{
	const struct cs_db_step rollback = { NULL, "ROLLBACK", 0, NULL };

	if (conn->pg && PQstatus(conn->pg) == CONNECTION_OK)
		PQclear(cs_db__run_step(conn, &rollback, NULL));
}

/*
 * db.c - the Postgres pool: connecting with the configured timeouts, the
 * queue of waiters, borrowing and giving back (idle or closed), the per-user
 * cap, and the one "reconnect on first use" rule. Running statements on a
 * borrowed connection is db_query.c; reads carried in another's round trip,
 * db_read.c; the SQLSTATE → HTTP mapping, db_error.c.
 */
#include "db.h"
#include "clock.h"
#include "db_internal.h"
#include "log.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- connecting ---- */

static void add_param(struct cs_db *db, int *n, const char *key, const char *value)
{
	db->keys[*n] = key;
	db->values[*n] = value;
	(*n)++;
}

static void add_number(struct cs_db *db, int *n, const char *key, long value)
{
	snprintf(db->numbers[*n], NUMBER_SIZE, "%ld", value);
	add_param(db, n, key, db->numbers[*n]);
}

/*
 * The keywords every connection opens with. Those after dbname override what
 * DATABASE_URL says; `options` keeps the URL's own and adds the timeouts, so
 * that they hold from the first statement on, with no round trip per request.
 */
static int connect_params(struct cs_db *db, const struct cs_config *cfg, char *err, size_t errlen)
{
	PQconninfoOption *parsed, *o;
	const char *url_options = "";
	char *parse_error = NULL;
	size_t size;
	int n = 0;

	parsed = PQconninfoParse(cfg->database_url, &parse_error);
	if (!parsed) {
		snprintf(err, errlen, "DATABASE_URL: %s",
			 parse_error ? parse_error : "out of memory");
		PQfreemem(parse_error);
		return -1;
	}
	for (o = parsed; o->keyword; o++)
		if (!strcmp(o->keyword, "options") && o->val)
			url_options = o->val;
	size = strlen(url_options) + 200;
	db->options = malloc(size);
	if (db->options)
		snprintf(db->options, size,
			 "%s%s-c statement_timeout=%ld -c lock_timeout=%ld "
			 "-c idle_in_transaction_session_timeout=%ld",
			 url_options, *url_options ? " " : "", cfg->db_statement_timeout_ms,
			 cfg->db_lock_timeout_ms, cfg->db_idle_in_transaction_timeout_ms);
	PQconninfoFree(parsed);
	if (!db->options) {
		snprintf(err, errlen, "could not create database pool: out of memory");
		return -1;
	}
	add_param(db, &n, "dbname", db->url);
	add_param(db, &n, "application_name", "chatsync");
	add_number(db, &n, "connect_timeout", cfg->db_connect_timeout_s);
	add_param(db, &n, "keepalives", "1");
	add_number(db, &n, "keepalives_idle", cfg->db_keepalives_idle_s);
	add_number(db, &n, "keepalives_interval", cfg->db_keepalives_interval_s);
	add_number(db, &n, "keepalives_count", cfg->db_keepalives_count);
	add_number(db, &n, "tcp_user_timeout", cfg->db_tcp_user_timeout_ms);
	add_param(db, &n, "options", db->options);
	db->keys[n] = NULL;
	db->values[n] = NULL;
	return 0;
}

int cs_db_new(const struct cs_config *cfg, const struct cs_db_statement *statements, size_t count,
	      struct cs_db **out, char *err, size_t errlen)
{
	struct cs_db *db = calloc(1, sizeof(*db));
	int i, size = (int)cfg->db_pool_size;

	if (!db)
		goto oom;
	db->url = strdup(cfg->database_url);
	db->conns = calloc((size_t)size, sizeof(*db->conns));
	db->busy = calloc((size_t)size, sizeof(*db->busy));
	if (!db->url || !db->conns || !db->busy)
		goto oom;
	if (connect_params(db, cfg, err, errlen) < 0)
		goto fail;
	db->size = size;
	db->statements = statements;
	db->statement_count = count;
	db->acquire_timeout_ms = cfg->db_acquire_timeout_ms;
	db->answer_timeout_ms = cfg->db_statement_timeout_ms + ANSWER_GRACE_MS;
	db->bulk_timeout_ms = cfg->db_bulk_timeout_ms;
	db->user_max = (int)cfg->db_pool_user_max;
	pthread_mutex_init(&db->lock, NULL);
	for (i = 0; i < size; i++) {
		db->conns[i].db = db;
		db->conns[i].slot = i;
	}
	*out = db;
	return 0;
oom:
	snprintf(err, errlen, "could not create database pool: out of memory");
fail:
	if (db) {
		free(db->url);
		free(db->options);
		free(db->conns);
		free(db->busy);
		free(db);
	}
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
	free(db->conns);
	free(db->busy);
	free(db->url);
	free(db->options);
	free(db);
}

/* ---- a server that failed is skipped for a while ---- */

int cs_db_usable(struct cs_db *db)
{
	long long now = cs_clock_monotonic_us();
	int usable = 1;

	pthread_mutex_lock(&db->lock);
	if (db->skip_until_us && now < db->skip_until_us) {
		usable = 0;
	} else if (db->skip_until_us) {
		/* this caller is the probe; the others skip until it has an answer */
		db->skip_until_us = now + db->retry_ms * 1000LL + 1;
	}
	pthread_mutex_unlock(&db->lock);
	return usable;
}

void cs_db_failed(struct cs_db *db, long retry_ms)
{
	pthread_mutex_lock(&db->lock);
	db->retry_ms = retry_ms;
	db->skip_until_us = cs_clock_monotonic_us() + retry_ms * 1000LL + 1;
	pthread_mutex_unlock(&db->lock);
}

void cs_db_answered(struct cs_db *db)
{
	pthread_mutex_lock(&db->lock);
	db->skip_until_us = 0;
	pthread_mutex_unlock(&db->lock);
}

void cs_db__close_conn(struct cs_db_conn *conn)
{
	if (conn->pg)
		PQfinish(conn->pg);
	conn->pg = NULL;
	conn->bulk = 0;
}

/* ---- the pool ---- */

static int prepare_all(struct cs_db_conn *conn, struct cs_error *err)
{
	size_t i;

	for (i = 0; i < conn->db->statement_count; i++) {
		const struct cs_db_statement *s = &conn->db->statements[i];
		PGresult *res = NULL;

		if (PQsendPrepare(conn->pg, s->name, s->sql, 0, NULL))
			res = cs_db__last_result(conn);
		if (PQresultStatus(res) != PGRES_COMMAND_OK) {
			cs_log_error("could not prepare statement %s: %s", s->name,
				     res ? PQresultErrorMessage(res) : PQerrorMessage(conn->pg));
			cs_db_error(conn->pg, res, err);
			PQclear(res);
			return -1;
		}
		PQclear(res);
	}
	return 0;
}

/* Opens the slot's connection when it has none or lost it; 503 in err when it cannot. */
static int connect_slot(struct cs_db_conn *conn, struct cs_error *err)
{
	struct cs_db *db = conn->db;

	if (conn->pg && PQstatus(conn->pg) == CONNECTION_OK)
		return 0;
	cs_db__close_conn(conn);
	conn->pg = PQconnectdbParams(db->keys, db->values, 1);
	if (!conn->pg || PQstatus(conn->pg) != CONNECTION_OK) {
		cs_log_warn("could not connect to database: %s",
			    conn->pg ? PQerrorMessage(conn->pg) : "out of memory");
		cs_db__close_conn(conn);
		cs_error_set(err, 503, "database unavailable");
		err->retry = 1;
		return -1;
	}
	if (PQsetnonblocking(conn->pg, 1) != 0 || prepare_all(conn, err) < 0) {
		cs_db__close_conn(conn);
		cs_error_set(err, 503, "database unavailable");
		err->retry = 1;
		return -1;
	}
	return 0;
}

int cs_db__held_by(const struct cs_db *db, const char *user)
{
	int i, n = 0;

	for (i = 0; i < db->size; i++)
		if (db->busy[i] && db->conns[i].user && !strcmp(db->conns[i].user, user))
			n++;
	return n;
}

/* With db->lock held: a free slot, a connected one first so that one dead slot is not retried first. */
static int free_slot(const struct cs_db *db, const char *user)
{
	int i, slot = -1;

	if (user && cs_db__held_by(db, user) >= db->user_max)
		return -1;
	for (i = 0; i < db->size; i++) {
		if (db->busy[i])
			continue;
		if (slot < 0 || db->conns[i].pg)
			slot = i;
		if (db->conns[i].pg)
			break;
	}
	return slot;
}

/* With db->lock held. */
static void take_slot(struct cs_db *db, int slot, const char *user)
{
	db->busy[slot] = 1;
	db->conns[slot].user = user;
}

/* sem_wait and sem_timedwait, again after a signal; 0 when posted, -1 at the deadline */
static int wait_posted(sem_t *sem, const struct timespec *deadline)
{
	int rc;

	do
		rc = deadline ? sem_timedwait(sem, deadline) : sem_wait(sem);
	while (rc < 0 && errno == EINTR);
	return rc;
}

/*
 * Entered with db->lock held, which it lets go: queues for a slot until one
 * is handed over (its index) or the deadline (SLOT_WAITING). A read another
 * reader took is waited for past the deadline if need be (SLOT_CARRIED: it
 * is done then): that reader is connected and its batch has a deadline.
 *
 * The waiter sleeps on a semaphore of its own, posted after the pool's lock
 * is let go: woken on a condition variable of the pool's lock, it had to take
 * that lock back from the thread that woke it, a second sleep per hand-over.
 */
static int wait_for_slot(struct cs_db *db, const char *user, struct cs_db__read *read,
			 const struct timespec *deadline)
{
	struct pool_waiter waiter = { .user = user, .read = read, .slot = SLOT_WAITING };
	struct pool_waiter **p;
	int slot;

	sem_init(&waiter.handed, 0, 0);
	for (p = &db->waiters; *p; p = &(*p)->next)
		;
	*p = &waiter;
	pthread_mutex_unlock(&db->lock);
	if (wait_posted(&waiter.handed, deadline) == 0) {
		slot = waiter.slot; /* written before the post */
	} else {
		pthread_mutex_lock(&db->lock);
		slot = waiter.slot;
		if (slot == SLOT_WAITING) {
			for (p = &db->waiters; *p != &waiter; p = &(*p)->next)
				;
			*p = waiter.next;
		}
		pthread_mutex_unlock(&db->lock);
		/* handed a slot or carried as it timed out: the post comes, and must land first */
		if (slot != SLOT_WAITING)
			wait_posted(&waiter.handed, NULL);
	}
	sem_destroy(&waiter.handed);
	return slot;
}

/*
 * With db->lock held, after a release: the first waiter below its user's cap
 * gets a free slot (a connected one first, as free_slot picks: the one just
 * released may have been closed), or the slots stay free. Returns the waiter
 * to post once the lock is let go, or NULL.
 */
static struct pool_waiter *hand_over(struct cs_db *db)
{
	struct pool_waiter **p, *waiter;
	int slot;

	for (p = &db->waiters; (waiter = *p); p = &waiter->next) {
		slot = free_slot(db, waiter->user);
		if (slot < 0)
			continue;
		take_slot(db, slot, waiter->user);
		waiter->slot = slot;
		*p = waiter->next;
		return waiter;
	}
	return NULL;
}

int cs_db__take_or_wait(struct cs_db *db, const char *user, struct cs_db__read *read,
			struct cs_error *err)
{
	struct timespec deadline;
	int slot;

	/*
	 * The wall clock, which sem_timedwait takes: a clock set back meanwhile
	 * lengthens this wait. sem_clockwait would take the monotonic clock, but
	 * Debian 12's ThreadSanitizer (GCC 12) does not intercept it, and would
	 * then miss the order the hand-over's post gives.
	 */
	deadline = cs_clock_deadline(CLOCK_REALTIME, db->acquire_timeout_ms);
	pthread_mutex_lock(&db->lock);
	slot = free_slot(db, user);
	if (slot >= 0) {
		take_slot(db, slot, user);
		pthread_mutex_unlock(&db->lock);
	} else {
		slot = wait_for_slot(db, user, read, &deadline);
	}
	if (slot == SLOT_WAITING) {
		cs_error_set(err, 503, "database busy, try again");
		if (err)
			err->retry = 1;
	}
	return slot;
}

struct cs_db_conn *cs_db__open_borrow(struct cs_db *db, int slot, struct cs_error *err)
{
	struct cs_db_conn *conn = &db->conns[slot];

	conn->used = 0;
	conn->answer_timeout_ms = db->answer_timeout_ms;
	conn->deadline_ms = 0;
	if (connect_slot(conn, err) < 0) {
		cs_db_release(conn);
		return NULL;
	}
	return conn;
}

int cs_db_acquire_for(struct cs_db *db, const char *user_id, struct cs_db_conn **out,
		      struct cs_error *err)
{
	int slot = cs_db__take_or_wait(db, user_id, NULL, err);

	if (slot < 0 || !(*out = cs_db__open_borrow(db, slot, err)))
		return -1;
	return 0;
}

int cs_db_acquire(struct cs_db *db, struct cs_db_conn **out, struct cs_error *err)
{
	return cs_db_acquire_for(db, NULL, out, err);
}

/*
 * A pooled connection learns that Postgres restarted only when it is used.
 * If the failed statement was the first of the borrow, nothing has been done
 * on it yet, so reconnecting and running it again is safe. (A pipeline is
 * retried whole, and the session may have ended after part of it ran, even
 * a COMMIT: db.h says what a pipeline that commits must be.) Not after a
 * timeout: a server that did not answer (the connection is closed then)
 * would only be waited for twice. A transaction begun on this borrow means a
 * statement ran before, so it is never retried on a new session either.
 */
int cs_db__reconnect_if_stale(struct cs_db_conn *conn, struct cs_error *err)
{
	if (!conn->pg || PQstatus(conn->pg) == CONNECTION_OK || conn->used > 0)
		return 0;
	return connect_slot(conn, err) < 0 ? -1 : 1;
}

void cs_db__statement_done(struct cs_db_conn *conn)
{
	conn->used++;
}

/* Settings as the pool opened them, after a bulk borrow; -1 when that failed. */
static int end_bulk(struct cs_db_conn *conn)
{
	const struct cs_db_step reset = {
		NULL, "RESET statement_timeout; RESET idle_in_transaction_session_timeout", 0, NULL
	};
	PGresult *res;
	int ok;

	conn->answer_timeout_ms = conn->db->answer_timeout_ms;
	res = cs_db__run_step(conn, &reset, NULL);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	conn->bulk = 0;
	return ok ? 0 : -1;
}

/*
 * The next borrower must find the connection idle: no transaction, no
 * pipeline, nothing left to read, the pool's own timeouts. What cannot be
 * made so is closed.
 */
static void make_idle(struct cs_db_conn *conn)
{
	if (!conn->pg)
		return;
	if (PQstatus(conn->pg) != CONNECTION_OK) {
		cs_db__close_conn(conn);
		return;
	}
	if (PQpipelineStatus(conn->pg) != PQ_PIPELINE_OFF && !PQexitPipelineMode(conn->pg)) {
		cs_db__close_conn(conn); /* results still unread */
		return;
	}
	switch (PQtransactionStatus(conn->pg)) {
	case PQTRANS_IDLE:
		break;
	case PQTRANS_INTRANS:
	case PQTRANS_INERROR:
		cs_db_rollback(conn);
		if (PQtransactionStatus(conn->pg) != PQTRANS_IDLE)
			cs_db__close_conn(conn);
		break;
	default: /* a query still running, or the connection is gone */
		cs_db__close_conn(conn);
		return;
	}
	if (conn->bulk && end_bulk(conn) < 0)
		cs_db__close_conn(conn);
}

void cs_db_release(struct cs_db_conn *conn)
{
	struct cs_db *db;
	struct pool_waiter *next;

	if (!conn)
		return;
	db = conn->db;
	make_idle(conn);
	pthread_mutex_lock(&db->lock);
	db->busy[conn->slot] = 0;
	conn->user = NULL;
	next = hand_over(db);
	pthread_mutex_unlock(&db->lock);
	if (next)
		sem_post(&next->handed);
}

int cs_db_bulk(struct cs_db_conn *conn, struct cs_error *err)
{
	char sql[160];

	snprintf(sql, sizeof(sql),
		 "SET statement_timeout = %ld; SET idle_in_transaction_session_timeout = %ld",
		 conn->db->bulk_timeout_ms, conn->db->bulk_timeout_ms);
	if (cs_db_command(conn, sql, err) < 0)
		return -1;
	conn->bulk = 1;
	conn->answer_timeout_ms = conn->db->bulk_timeout_ms + ANSWER_GRACE_MS;
	return 0;
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

int cs_db_replica_lag_ms(struct cs_db *db, long long *lag_ms, struct cs_error *err)
{
	static const char sql[] =
		"SELECT CASE WHEN NOT pg_is_in_recovery() THEN 0 "
		"WHEN pg_last_wal_receive_lsn() IS NOT DISTINCT FROM pg_last_wal_replay_lsn() THEN 0 "
		"ELSE coalesce((extract(epoch FROM clock_timestamp() - "
		"pg_last_xact_replay_timestamp()) * 1000)::bigint, 0) END";
	struct cs_db_conn *conn = NULL;
	PGresult *res = NULL;
	int rc;

	if (cs_db_acquire(db, &conn, err) < 0)
		return -1;
	rc = cs_db_run(conn, sql, "read the replica's lag", &res, err);
	cs_db_release(conn);
	if (rc == 0) {
		*lag_ms = PQntuples(res) == 1 ? strtoll(PQgetvalue(res, 0, 0), NULL, 10) : 0;
		if (*lag_ms < 0)
			*lag_ms = 0;
	}
	PQclear(res);
	return rc;
}

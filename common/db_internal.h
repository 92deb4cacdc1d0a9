/*
 * db_internal.h - what the pool (db.c) and the statements (db_query.c) share;
 * nothing outside common/db*.c includes it.
 */
#ifndef CS_DB_INTERNAL_H
#define CS_DB_INTERNAL_H

#include "db.h"

#include <pthread.h>
#include <semaphore.h>

/*
 * The server cancels a statement at statement_timeout and says so at once;
 * an answer later than this past it means the server cannot answer at all.
 */
#define ANSWER_GRACE_MS 1000

enum { PARAM_COUNT = 10, NUMBER_SIZE = 24 };

/* What cs_db_read hands to the reader whose connection carries it. */
struct cs_db__read {
	const char *user;
	const struct cs_db_step *steps;
	int count;
	PGresult **results;
	struct cs_error *err;
	int rc;                     /* 0 when read, -1 (err says why) */
	struct pool_waiter *waiter; /* the waiting reader it belongs to; NULL: the carrier's own */
};

/*
 * The most reads one connection carries in one round trip (cs_db_read). From
 * 4 on, Postgres's CPU per read is about a fifth lower than one at a time;
 * more would only lengthen the wait of the read that leads them.
 */
enum { READ_BATCH_MAX = 8 };

/* pool_waiter.slot besides a slot's index */
enum { SLOT_WAITING = -1, SLOT_CARRIED = -2 };

/*
 * A thread waiting for a connection, on its own stack. cs_db_release hands
 * the connection straight to the first waiter that may take it and wakes that
 * one alone: waking every waiter to let them race for it cost a context
 * switch per waiter per release (12 of them at 16 requests on 4 connections).
 * A waiter with a read may instead have it carried by another reader's
 * connection: it then sleeps on until that reader says the read is done.
 */
struct pool_waiter {
	sem_t handed; /* posted when handed a slot, or when its carried read is done */
	const char *user;
	struct cs_db__read *read; /* cs_db_read's, or NULL for a borrow */
	int slot;                 /* SLOT_WAITING until handed a slot or carried */
	struct pool_waiter *next;
};

struct cs_db {
	/* libpq connection keywords, built once (connect_params) */
	const char *keys[PARAM_COUNT + 1];
	const char *values[PARAM_COUNT + 1];
	char numbers[PARAM_COUNT][NUMBER_SIZE];
	char *url;
	char *options;
	const struct cs_db_statement *statements;
	size_t statement_count;
	long acquire_timeout_ms;
	long answer_timeout_ms;
	long bulk_timeout_ms;
	int user_max;
	pthread_mutex_t lock;
	struct pool_waiter *waiters; /* first come, first served */
	int size;
	struct cs_db_conn *conns;
	int *busy;
	/* cs_db_read's round trips and the reads they carried besides their own, under lock */
	long long read_trips;
	long long reads_carried;
	/* cs_db_failed/cs_db_usable, under lock: 0 while the server answers */
	long long skip_until_us;
	long retry_ms;
};

/*
 * A slot for user, taken at once or waited for up to DB_ACQUIRE_TIMEOUT_MS
 * (SLOT_WAITING and 503 in err then); SLOT_CARRIED when another reader's
 * connection carried read, which is done (read is NULL for a borrow).
 */
int cs_db__take_or_wait(struct cs_db *db, const char *user, struct cs_db__read *read,
			struct cs_error *err);
/* With db->lock held: how many connections user holds now. */
int cs_db__held_by(const struct cs_db *db, const char *user);
/* The borrow of a slot just taken, connected; NULL (503 in err, the slot given back) when it cannot be. */
struct cs_db_conn *cs_db__open_borrow(struct cs_db *db, int slot, struct cs_error *err);
/*
 * Runs reads on conn in one pipeline, each up to its own sync (an error ends
 * only its own read), and tells each waiting reader as soon as its read is
 * done (cs_db__read_done).
 */
void cs_db__run_reads(struct cs_db_conn *conn, struct cs_db__read **reads, int n);
/* Wakes the reader whose read this was (nothing for the carrier's own). */
void cs_db__read_done(struct cs_db__read *read);

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

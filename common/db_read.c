/*
 * db_read.c - reads carried in one round trip: a reader that gets a
 * connection takes the reads of the readers queued behind it and sends them
 * all at once (cs_db__run_reads), so that one wake-up of one Postgres backend
 * and one of the carrier's thread serve several requests. Postgres spends
 * about a fifth less CPU per read so (docs/decisions/request-path.md).
 */
#include "db.h"
#include "db_internal.h"

#include <string.h>

/* 1 when both are the same user's (a read of no user is nobody's) */
static int same_user(const char *a, const char *b)
{
	return a && b && !strcmp(a, b);
}

/*
 * With db->lock held: up to max reads of waiting readers, in their order,
 * taken from the queue to be carried by the carrier's connection. A read
 * counts as a connection of its user: none of a user who holds
 * DB_POOL_USER_MAX connections (the carrier's among them) with the reads
 * already taken, so that a user's reads cannot fill a batch. (Reads of the
 * user in other carriers' batches do not count: the cap is per batch.)
 */
static int take_reads(struct cs_db *db, struct cs_db__read **reads, int max)
{
	struct pool_waiter **p = &db->waiters, *waiter;
	int i, n = 0;

	while ((waiter = *p) && n < max) {
		int of_user = db->user_max; /* a borrow is not carried */

		if (waiter->read)
			of_user = waiter->user ? cs_db__held_by(db, waiter->user) : 0;
		for (i = 0; i < n && of_user < db->user_max; i++)
			of_user += same_user(reads[i]->user, waiter->user);
		if (of_user >= db->user_max) {
			p = &waiter->next;
			continue;
		}
		*p = waiter->next;
		waiter->slot = SLOT_CARRIED;
		waiter->read->waiter = waiter;
		reads[n++] = waiter->read;
	}
	return n;
}

void cs_db__read_done(struct cs_db__read *read)
{
	if (read->waiter) /* not the carrier's own */
		sem_post(&read->waiter->handed);
}

int cs_db_read(struct cs_db *db, const char *user_id, const struct cs_db_step *steps, int count,
	       PGresult **results, struct cs_error *err)
{
	struct cs_db__read own = { user_id, steps, count, results, err, -1, NULL };
	struct cs_db__read *reads[READ_BATCH_MAX];
	struct cs_db_conn *conn;
	int i, n, slot;

	for (i = 0; i < count; i++)
		results[i] = NULL;
	slot = cs_db__take_or_wait(db, user_id, &own, err);
	if (slot == SLOT_CARRIED)
		return own.rc;
	if (slot < 0 || !(conn = cs_db__open_borrow(db, slot, err)))
		return -1;
	/* only once connected: a carried read does not wait through its carrier's connect */
	pthread_mutex_lock(&db->lock);
	n = take_reads(db, reads, READ_BATCH_MAX - 1);
	db->read_trips++;
	db->reads_carried += n;
	pthread_mutex_unlock(&db->lock);
	reads[n++] = &own; /* last: the carried ones get their answers first */
	cs_db__run_reads(conn, reads, n);
	cs_db_release(conn);
	return own.rc;
}

void cs_db_read_counts(struct cs_db *db, long long *reads, long long *carried)
{
	pthread_mutex_lock(&db->lock);
	*reads = db->read_trips + db->reads_carried;
	*carried = db->reads_carried;
	pthread_mutex_unlock(&db->lock);
}

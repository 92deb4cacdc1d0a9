/*
 * hub.h - wakes the live requests of a user when a wake-up for that user
 * arrives from Redis (DESIGN.md, hard part 4).
 *
 * One reader thread per process blocks on the Redis streams; live requests
 * never touch Redis. A live request registers a waiter for its user *before*
 * it reads Postgres, so a commit between that read and the wait still wakes
 * it. Waiting is bounded: while Redis is healthy a waiter re-checks Postgres
 * every `idle_recheck_ms` anyway (a wake-up lost to a crash between commit and
 * publish only delays a change); while Redis is down, every `recheck_ms`.
 */
#ifndef SYNC_HUB_H
#define SYNC_HUB_H

#include <pthread.h>

#include "config.h"

struct sync_hub;

struct sync_waiter {
	const char *user_id;
	unsigned bucket;
	int woken;
	pthread_cond_t cond;
	struct sync_waiter *next, *prev;
};

/* Redis and the re-check interval (SYNC_LIVE_RECHECK_MS) from cfg. */
int sync_hub_start(const struct cs_config *cfg, struct sync_hub **out, char *err, size_t errlen);
void sync_hub_stop(struct sync_hub *hub);

/* Registers w (caller-owned, lives until sync_hub_leave) for user_id. */
void sync_hub_join(struct sync_hub *hub, struct sync_waiter *w, const char *user_id);
void sync_hub_leave(struct sync_hub *hub, struct sync_waiter *w);
/*
 * Waits until w is woken or deadline_us (monotonic) passes; clears the
 * wake-up. Returns 1 when woken, 0 on the deadline.
 */
int sync_hub_wait(struct sync_hub *hub, struct sync_waiter *w, long long deadline_us);
/* How long a waiter may go without reading Postgres: long while Redis is healthy. */
long long sync_hub_recheck_us(struct sync_hub *hub);
/* Wakes every waiter for good: the process is stopping. */
void sync_hub_drain(struct sync_hub *hub);
int sync_hub_draining(struct sync_hub *hub);
/* Live requests being held now, and a slot for one more (0) or none (-1). */
int sync_hub_admit(struct sync_hub *hub, long max_live);
void sync_hub_release(struct sync_hub *hub);
long sync_hub_live_count(struct sync_hub *hub);

#endif

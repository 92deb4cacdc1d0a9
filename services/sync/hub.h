/*
 * hub.h - the live requests a sync-svc process holds: their slots, and what
 * wakes them (DESIGN.md, hard part 4).
 *
 * One reader thread per process blocks on the Redis streams; live requests
 * never touch Redis. A live request registers a waiter for its user *before*
 * it reads Postgres, so a commit between that read and the wait still wakes
 * it. Waiting is bounded: while Redis is healthy a waiter re-checks Postgres
 * every `idle_recheck_ms` anyway (a wake-up lost to a crash between commit and
 * publish only delays a change); while Redis is down, every `recheck_ms`.
 *
 * Registering takes one of the process's `max_live` slots, and no more than
 * `max_per_user` per user: a user at its cap is refused before it can take a
 * slot another user needs. A second thread watches each waiter's connection
 * to nginx and wakes the waiter when it closes (the client went away), so
 * that an abandoned request gives its slot back at once, not at its timeout.
 * docs/decisions/live-limits.md says why it is built this way.
 */
#ifndef SYNC_HUB_H
#define SYNC_HUB_H

#include <pthread.h>

#include "config.h"
#include "metrics.h"

struct sync_hub;

/*
 * A chunk of a streamed reply, as the hub queued it for a waiter (one
 * allocation: the strings follow the struct; sync_hub_chunks_free frees a list).
 */
struct sync_chunk {
	struct sync_chunk *next;
	long long seq;
	const char *message_id;
	const char *chat_id;
	const char *text;
	size_t text_len;
};

/* Caller-owned (a live request's stack); fields are the hub's. */
struct sync_waiter {
	const char *user_id;
	unsigned bucket;
	unsigned slot;
	int connection_fd;
	int woken;
	int gone;
	/* chunks of the user's streamed replies, oldest first, bounded in bytes */
	struct sync_chunk *chunks, **chunks_tail;
	size_t chunks_bytes;
	int chunks_lost; /* some were dropped (queue full, Redis reconnected): catch up */
	pthread_cond_t cond;
	struct sync_waiter *next, *prev;
};

struct sync_hub_limits {
	long max_live;     /* live requests the process holds at once */
	long max_per_user; /* of which one user holds at most */
	long recheck_ms;   /* re-check interval while Redis is down */
};

/* Redis and its timeouts from cfg (borrowed). */
/* metrics (borrowed, may be NULL) counts the wake-ups read from Redis. */
int sync_hub_start(const struct cs_config *cfg, const struct sync_hub_limits *limits,
		   struct cs_metrics *metrics, struct sync_hub **out, char *err, size_t errlen);
void sync_hub_stop(struct sync_hub *hub);

enum { SYNC_HUB_JOINED = 0, SYNC_HUB_USER_FULL = -1, SYNC_HUB_FULL = -2 };
/*
 * Takes a slot for user_id and registers w until sync_hub_leave. connection_fd
 * (borrowed, open until sync_hub_leave; -1: none) is watched for the peer's
 * close. Returns SYNC_HUB_JOINED, or without registering: SYNC_HUB_USER_FULL
 * (the user holds max_per_user), SYNC_HUB_FULL (the process holds max_live).
 */
int sync_hub_join(struct sync_hub *hub, struct sync_waiter *w, const char *user_id,
		  int connection_fd);
void sync_hub_leave(struct sync_hub *hub, struct sync_waiter *w);
enum { SYNC_HUB_CHANGES = 1, SYNC_HUB_CHUNKS = 2 };
/*
 * Waits until w is woken or deadline_us (monotonic) passes; clears the
 * wake-up. Returns SYNC_HUB_CHANGES (a new version) and/or SYNC_HUB_CHUNKS
 * (chunks queued or lost: sync_hub_take_chunks), 0 on the deadline, -1 once
 * the client has gone (for good: every later call returns -1 at once).
 */
int sync_hub_wait(struct sync_hub *hub, struct sync_waiter *w, long long deadline_us);
/*
 * The chunks queued for w, oldest first (the caller's: sync_hub_chunks_free);
 * *lost is set when some were dropped since the last call.
 */
struct sync_chunk *sync_hub_take_chunks(struct sync_hub *hub, struct sync_waiter *w, int *lost);
void sync_hub_chunks_free(struct sync_chunk *list);
/* How long a waiter may go without reading Postgres: long while Redis is healthy. */
long long sync_hub_recheck_us(struct sync_hub *hub);
/* Wakes every waiter for good: the process is stopping. */
void sync_hub_drain(struct sync_hub *hub);
int sync_hub_draining(struct sync_hub *hub);

#endif

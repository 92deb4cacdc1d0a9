/*
 * wakeup.h - the wake-up publisher: wake-ups leave the request's path.
 *
 *   cs_wakeup_new(events, metrics, queue_max, &w, err, sizeof err);
 *   ...after a commit, in any thread: cs_wakeup_post(w, user_id, version);
 *   ...at exit: cs_wakeup_free(w);   (publishes what is queued, then stops)
 *
 * cs_wakeup_post only queues: one thread per process publishes (events.h),
 * so a write answers without waiting for Redis (docs/decisions/request-path.md).
 * What events.h promises still holds: a wake-up that is dropped (the queue is
 * full, or Redis fails) only delays a change, and is counted as a Redis error.
 *
 * Batches: on a single Redis the thread waits 4 ms after each batch that did
 * not fill, so that under load what was queued meanwhile goes out as one
 * pipeline (events.h); a wake-up waits at most that long on top of the batch
 * before it.
 *
 * Order: the thread publishes in the order of the queue, and never publishes
 * for a user a version below one it has already published for that user: a
 * wake-up says "changes up to V", so a lower one after it is redundant, and
 * dropping it keeps each user's wake-ups in version order even when two
 * writers of one user queue theirs in the other order (the commit of one and
 * its post are not atomic). The memory of published versions is bounded
 * (CS_WAKEUP_RECENT users, the most recent by slot).
 */
#ifndef CS_WAKEUP_H
#define CS_WAKEUP_H

#include <stddef.h>

#define CS_WAKEUP_RECENT 4096 /* users whose last published version is remembered */

struct cs_events;
struct cs_metrics;
struct cs_wakeup;

int cs_wakeup_new(struct cs_events *events, struct cs_metrics *metrics, long queue_max,
		  struct cs_wakeup **out, char *err, size_t errlen);
/* Queues a wake-up; never blocks on Redis. */
void cs_wakeup_post(struct cs_wakeup *w, const char *user_id, long long version);
/* Publishes what is queued (each publish bounded by events.h's timeouts) and stops; NULL is fine. */
void cs_wakeup_free(struct cs_wakeup *w);

#endif

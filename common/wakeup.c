/*
 * wakeup.c - the wake-up publisher: a bounded queue and the one thread that
 * empties it into Redis (see wakeup.h for what it promises).
 */
#include "wakeup.h"
#include "events.h"
#include "hash.h"
#include "log.h"
#include "metrics.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define BATCH 64 /* wake-ups taken off the queue at once: coalesced per user */
/*
 * After a batch, the publisher waits this long before the next, so that under
 * load a batch is many wake-ups in one pipeline (one round trip, one wake-up
 * of Redis) rather than one XADD per append; a wake-up waits at most this on
 * top of the batch before it. Only where batches pipeline (a single Redis).
 */
#define COALESCE_NS (4 * 1000 * 1000)

struct cs_wakeup {
	struct cs_events *events;
	struct cs_metrics *metrics;

	pthread_mutex_t lock;
	pthread_cond_t posted;
	struct cs_event *queue; /* a ring of cap entries */
	size_t cap, head, count;
	int stopping;

	pthread_t thread;
	int started, lock_made;

	/* the publisher's own: the last version published per recent user */
	struct cs_event *recent; /* CS_WAKEUP_RECENT slots, by hash of the user id */
};

void cs_wakeup_post(struct cs_wakeup *w, const char *user_id, long long version)
{
	struct cs_event *e;
	int full;

	pthread_mutex_lock(&w->lock);
	full = w->count == w->cap;
	if (!full) {
		e = &w->queue[(w->head + w->count) % w->cap];
		snprintf(e->user_id, sizeof e->user_id, "%s", user_id);
		e->version = version;
		w->count++;
		pthread_cond_signal(&w->posted);
	}
	pthread_mutex_unlock(&w->lock);
	if (full) {
		/* Redis is slower than the writers: a missed wake-up only delays a change */
		cs_metrics_add(w->metrics, CS_COUNTER_REDIS_ERRORS, 1);
		cs_log_warn("could not queue wake-up for version %lld: the publish queue is full",
			    version);
	}
}

/* 1 when version is not above what was already published for the user. */
static int superseded(struct cs_wakeup *w, const struct cs_event *e)
{
	struct cs_event *slot = &w->recent[cs_hash_fnv1a(e->user_id) % CS_WAKEUP_RECENT];

	if (strcmp(slot->user_id, e->user_id) == 0 && slot->version >= e->version)
		return 1;
	*slot = *e;
	return 0;
}

static void publish(struct cs_wakeup *w, struct cs_event *batch, size_t n)
{
	size_t kept = 0, published;

	for (size_t i = 0; i < n; i++) {
		int later = 0;

		/* a later wake-up of the same user in this batch covers this one */
		for (size_t j = i + 1; j < n && !later; j++)
			later = strcmp(batch[j].user_id, batch[i].user_id) == 0 &&
				batch[j].version >= batch[i].version;
		if (!later && !superseded(w, &batch[i]))
			batch[kept++] = batch[i];
	}
	if (!kept)
		return;
	published = cs_events_publish_batch(w->events, batch, kept);
	cs_metrics_add(w->metrics, CS_COUNTER_WAKEUPS_PUBLISHED, (long long)published);
	if (published < kept) {
		cs_metrics_add(w->metrics, CS_COUNTER_REDIS_ERRORS, (long long)(kept - published));
		cs_log_warn(
			"could not publish %zu wake-ups (the last for version %lld): redis unavailable",
			kept - published, batch[kept - 1].version);
	}
}

static void *publisher(void *arg)
{
	struct cs_wakeup *w = arg;
	struct cs_event *batch = malloc(BATCH * sizeof *batch);
	struct timespec coalesce = { 0, COALESCE_NS };
	int pipelines = cs_events_pipelines(w->events);
	size_t n;

	if (!batch)
		abort(); /* as buf.h: a process that cannot allocate this has nothing better to do */
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->count == 0 && !w->stopping)
			pthread_cond_wait(&w->posted, &w->lock);
		if (w->count == 0)
			break; /* stopping, and all published */
		for (n = 0; n < BATCH && w->count > 0; n++) {
			batch[n] = w->queue[w->head];
			w->head = (w->head + 1) % w->cap;
			w->count--;
		}
		pthread_mutex_unlock(&w->lock);
		publish(w, batch, n);
		/*
		 * What comes meanwhile goes out in the next pipeline: under load one per
		 * window. After a full batch more may be queued: no wait then, so that
		 * the window never caps a process at BATCH wake-ups per window.
		 */
		if (pipelines && n < BATCH)
			nanosleep(&coalesce, NULL);
		pthread_mutex_lock(&w->lock);
	}
	pthread_mutex_unlock(&w->lock);
	free(batch);
	return NULL;
}

int cs_wakeup_new(struct cs_events *events, struct cs_metrics *metrics, long queue_max,
		  struct cs_wakeup **out, char *err, size_t errlen)
{
	struct cs_wakeup *w = calloc(1, sizeof *w);
	int rc = -1;

	if (!w || queue_max < 1 || !(w->queue = calloc((size_t)queue_max, sizeof *w->queue)) ||
	    !(w->recent = calloc(CS_WAKEUP_RECENT, sizeof *w->recent))) {
		snprintf(err, errlen, "could not create the wake-up publisher: out of memory");
		goto out;
	}
	w->events = events;
	w->metrics = metrics;
	w->cap = (size_t)queue_max;
	if (pthread_mutex_init(&w->lock, NULL) != 0 || pthread_cond_init(&w->posted, NULL) != 0) {
		snprintf(err, errlen, "could not create the wake-up publisher's locks");
		goto out;
	}
	w->lock_made = 1;
	if (pthread_create(&w->thread, NULL, publisher, w) != 0) {
		snprintf(err, errlen, "could not start the wake-up publisher");
		goto out;
	}
	w->started = 1;
	*out = w;
	w = NULL;
	rc = 0;
out:
	cs_wakeup_free(w);
	return rc;
}

void cs_wakeup_free(struct cs_wakeup *w)
{
	if (!w)
		return;
	if (w->started) {
		pthread_mutex_lock(&w->lock);
		w->stopping = 1;
		pthread_cond_signal(&w->posted);
		pthread_mutex_unlock(&w->lock);
		pthread_join(w->thread, NULL);
	}
	if (w->lock_made) {
		pthread_cond_destroy(&w->posted);
		pthread_mutex_destroy(&w->lock);
	}
	free(w->recent);
	free(w->queue);
	free(w);
}

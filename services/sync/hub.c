/* hub.c - the per-process Redis reader and the table of waiting live requests. */
#include "hub.h"
#include "events.h"
#include "id.h"
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define HUB_BUCKETS 4096
/* With Redis healthy, a waiter still looks at Postgres this often. */
#define IDLE_RECHECK_MS 30000
#define READ_BLOCK_MS 500

struct sync_hub {
	pthread_mutex_t lock;
	struct sync_waiter *buckets[HUB_BUCKETS];
	struct cs_events *events;
	pthread_t reader;
	atomic_int stopping;
	atomic_int redis_ok;
	atomic_long live;
	long recheck_ms;
};

static unsigned bucket_of(const char *user_id)
{
	unsigned hash = 2166136261u;

	for (; *user_id; user_id++)
		hash = (hash ^ (unsigned char)*user_id) * 16777619u;
	return hash % HUB_BUCKETS;
}

static void sync_hub_wake_all(struct sync_hub *hub);

static void wake_user(const struct cs_event *event, void *arg)
{
	struct sync_hub *hub = arg;
	unsigned bucket = bucket_of(event->user_id);
	struct sync_waiter *w;

	pthread_mutex_lock(&hub->lock);
	for (w = hub->buckets[bucket]; w; w = w->next) {
		if (!strcmp(w->user_id, event->user_id)) {
			w->woken = 1;
			pthread_cond_signal(&w->cond);
		}
	}
	pthread_mutex_unlock(&hub->lock);
}

static void sync_hub_wake_all(struct sync_hub *hub)
{
	struct sync_waiter *w;
	size_t b;

	pthread_mutex_lock(&hub->lock);
	for (b = 0; b < HUB_BUCKETS; b++)
		for (w = hub->buckets[b]; w; w = w->next) {
			w->woken = 1;
			pthread_cond_signal(&w->cond);
		}
	pthread_mutex_unlock(&hub->lock);
}

static void redis_lost(struct sync_hub *hub)
{
	if (atomic_exchange(&hub->redis_ok, 0)) {
		cs_log_warn("redis unavailable: live requests fall back to polling postgres");
		/* waiters recompute their timeouts with the short interval */
		sync_hub_wake_all(hub);
	}
	usleep(200000);
}

static void *read_wakeups(void *arg)
{
	struct sync_hub *hub = arg;
	char last_ids[CS_EVENTS_SHARDS][64];
	int positioned = 0;

	while (!atomic_load(&hub->stopping)) {
		/*
		 * After a (re)connect, start after what the streams hold now:
		 * wake-ups published while we were away are covered by the
		 * wake-all below, which makes every waiter read Postgres.
		 */
		if (!positioned) {
			if (cs_events_tail(hub->events, last_ids) < 0) {
				redis_lost(hub);
				continue;
			}
			positioned = 1;
		}
		if (cs_events_read(hub->events, last_ids, READ_BLOCK_MS, wake_user, hub) < 0) {
			positioned = 0;
			redis_lost(hub);
			continue;
		}
		if (!atomic_exchange(&hub->redis_ok, 1)) {
			cs_log_info("redis available: live wake-ups resumed");
			sync_hub_wake_all(hub);
		}
	}
	return NULL;
}

int sync_hub_start(const struct cs_config *cfg, struct sync_hub **out, char *err, size_t errlen)
{
	struct sync_hub *hub = calloc(1, sizeof(*hub));
	struct cs_events_options events;

	if (!hub) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&hub->lock, NULL);
	hub->recheck_ms = cfg->live_recheck_ms;
	cs_events_options_from(&events, cfg);
	if (cs_events_new(&events, &hub->events, err, errlen) < 0)
		goto fail;
	if (pthread_create(&hub->reader, NULL, read_wakeups, hub) != 0) {
		snprintf(err, errlen, "could not start the redis reader thread");
		cs_events_free(hub->events);
		goto fail;
	}
	*out = hub;
	return 0;
fail:
	pthread_mutex_destroy(&hub->lock);
	free(hub);
	return -1;
}

void sync_hub_stop(struct sync_hub *hub)
{
	if (!hub)
		return;
	sync_hub_drain(hub);
	pthread_join(hub->reader, NULL);
	cs_events_free(hub->events);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

void sync_hub_join(struct sync_hub *hub, struct sync_waiter *w, const char *user_id)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	w->user_id = user_id;
	w->bucket = bucket_of(user_id);
	w->woken = 0;
	w->prev = NULL;
	pthread_mutex_lock(&hub->lock);
	w->next = hub->buckets[w->bucket];
	if (w->next)
		w->next->prev = w;
	hub->buckets[w->bucket] = w;
	pthread_mutex_unlock(&hub->lock);
}

void sync_hub_leave(struct sync_hub *hub, struct sync_waiter *w)
{
	pthread_mutex_lock(&hub->lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		hub->buckets[w->bucket] = w->next;
	if (w->next)
		w->next->prev = w->prev;
	pthread_mutex_unlock(&hub->lock);
	pthread_cond_destroy(&w->cond);
}

int sync_hub_wait(struct sync_hub *hub, struct sync_waiter *w, long long deadline_us)
{
	struct timespec ts;
	int woken;

	ts.tv_sec = (time_t)(deadline_us / 1000000);
	ts.tv_nsec = (long)(deadline_us % 1000000) * 1000;
	pthread_mutex_lock(&hub->lock);
	while (!w->woken && !atomic_load(&hub->stopping))
		if (pthread_cond_timedwait(&w->cond, &hub->lock, &ts) == ETIMEDOUT)
			break;
	woken = w->woken;
	w->woken = 0;
	pthread_mutex_unlock(&hub->lock);
	return woken;
}

long long sync_hub_recheck_us(struct sync_hub *hub)
{
	return (atomic_load(&hub->redis_ok) ? IDLE_RECHECK_MS : hub->recheck_ms) * 1000LL;
}

void sync_hub_drain(struct sync_hub *hub)
{
	atomic_store(&hub->stopping, 1);
	sync_hub_wake_all(hub);
}

int sync_hub_draining(struct sync_hub *hub)
{
	return atomic_load(&hub->stopping);
}

int sync_hub_admit(struct sync_hub *hub, long max_live)
{
	if (atomic_fetch_add(&hub->live, 1) >= max_live) {
		atomic_fetch_sub(&hub->live, 1);
		return -1;
	}
	return 0;
}

void sync_hub_release(struct sync_hub *hub)
{
	atomic_fetch_sub(&hub->live, 1);
}

long sync_hub_live_count(struct sync_hub *hub)
{
	return atomic_load(&hub->live);
}

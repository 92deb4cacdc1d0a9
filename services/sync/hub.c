/*
 * hub.c - the table of waiting live requests, their slots, and the two
 * threads that wake them: the Redis reader (a change for their user) and the
 * connection watcher (their client went away).
 */
#include "hub.h"
#include "events.h"
#include "hash.h"
#include "log.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <time.h>
#include <unistd.h>

#define HUB_BUCKETS 4096
/* With Redis healthy, a waiter still looks at Postgres this often. */
#define IDLE_RECHECK_MS 30000
#define READ_BLOCK_MS 500
/*
 * After a read that brought entries, the next waits this long, so that under
 * load one XREAD carries every wake-up of the window: an XREAD over the 16
 * shard streams costs Redis about 35 µs and a round trip, once per append
 * when re-issued at once. A quiet process is blocked in XREAD already and
 * delivers at once; under load a wake-up waits at most this.
 */
#define READ_COALESCE_NS (4 * 1000 * 1000)
#define WATCH_BLOCK_MS 500
#define WATCH_BATCH 64
/*
 * Chunks queued for one waiter, in bytes: a client that cannot keep up loses
 * the queue's excess and catches up from Redis's chunk log instead. Small
 * enough that SYNC_LIVE_MAX slow clients cannot take much memory, large enough
 * for a second of 500 streams' chunks to one user.
 */
#define CHUNK_QUEUE_BYTES (256 * 1024)

/*
 * A slot is what the watcher's epoll registration names: (generation << 32
 * | index). The watcher may still hold an event of a waiter that has left
 * (and whose stack is gone); the generation, bumped on every leave, tells it
 * so, and slots live as long as the hub.
 */
struct hub_slot {
	struct sync_waiter *waiter; /* NULL: free */
	uint32_t generation;
};

struct sync_hub {
	pthread_mutex_t lock;
	/* under lock */
	struct sync_waiter *buckets[HUB_BUCKETS];
	struct hub_slot *slots;
	unsigned *free_slots;
	size_t free_count;
	/* set at start */
	struct sync_hub_limits limits;
	struct cs_metrics *metrics;
	struct cs_events *events;
	int epoll_fd;
	pthread_t reader, watcher;
	int reader_started, watcher_started;
	atomic_int stopping;
	atomic_int redis_ok;
};

static unsigned bucket_of(const char *user_id)
{
	return cs_hash_fnv1a(user_id) % HUB_BUCKETS;
}

static void sync_hub_wake_all(struct sync_hub *hub);

/* A copy of a chunk event, or NULL when out of memory. */
static struct sync_chunk *chunk_copy(const struct cs_event *event)
{
	const char *chat_id = event->chat_id ? event->chat_id : "";
	size_t id_len = strlen(event->message_id), chat_len = strlen(chat_id);
	struct sync_chunk *c = malloc(sizeof(*c) + id_len + chat_len + event->text_len + 3);
	char *p;

	if (!c)
		return NULL;
	p = (char *)(c + 1);
	c->next = NULL;
	c->seq = event->seq;
	c->message_id = memcpy(p, event->message_id, id_len + 1);
	p += id_len + 1;
	c->chat_id = memcpy(p, chat_id, chat_len + 1);
	p += chat_len + 1;
	memcpy(p, event->text, event->text_len);
	p[event->text_len] = '\0';
	c->text = p;
	c->text_len = event->text_len;
	return c;
}

/* Under hub->lock: queues a chunk for w, or notes it lost. */
static void queue_chunk(struct sync_waiter *w, const struct cs_event *event)
{
	struct sync_chunk *c;

	if (w->chunks_bytes + event->text_len > CHUNK_QUEUE_BYTES || !(c = chunk_copy(event))) {
		w->chunks_lost = 1;
		return;
	}
	*w->chunks_tail = c;
	w->chunks_tail = &c->next;
	w->chunks_bytes += event->text_len;
}

static void wake_user(const struct cs_event *event, void *arg)
{
	struct sync_hub *hub = arg;
	unsigned bucket = bucket_of(event->user_id);
	int is_chunk = event->message_id && event->text;
	struct sync_waiter *w;

	pthread_mutex_lock(&hub->lock);
	for (w = hub->buckets[bucket]; w; w = w->next) {
		if (!strcmp(w->user_id, event->user_id)) {
			if (is_chunk) {
				queue_chunk(w, event);
			} else {
				w->woken = 1;
				if (event->version > w->version)
					w->version = event->version;
			}
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
	/* chunks published meanwhile may be lost too: every waiter catches up */
	for (b = 0; b < HUB_BUCKETS; b++)
		for (w = hub->buckets[b]; w; w = w->next) {
			w->woken = 1;
			w->chunks_lost = 1;
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
	int positioned = 0, received;

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
		received = cs_events_read(hub->events, last_ids, READ_BLOCK_MS, wake_user, hub);
		if (received < 0) {
			positioned = 0;
			redis_lost(hub);
			continue;
		}
		cs_metrics_add(hub->metrics, CS_COUNTER_WAKEUPS_RECEIVED, received);
		if (!atomic_exchange(&hub->redis_ok, 1)) {
			cs_log_info("redis available: live wake-ups resumed");
			sync_hub_wake_all(hub);
		}
		if (received > 0) {
			struct timespec coalesce = { 0, READ_COALESCE_NS };

			nanosleep(&coalesce, NULL);
		}
	}
	return NULL;
}

/* Wakes the waiters whose connection to nginx closed. */
static void *watch_connections(void *arg)
{
	struct sync_hub *hub = arg;
	struct epoll_event ready[WATCH_BATCH];

	while (!atomic_load(&hub->stopping)) {
		int n = epoll_wait(hub->epoll_fd, ready, WATCH_BATCH, WATCH_BLOCK_MS), i;

		if (n < 0) {
			if (errno != EINTR) {
				cs_log_error("could not wait for closed live connections: %s",
					     strerror(errno));
				usleep(200000);
			}
			continue;
		}
		pthread_mutex_lock(&hub->lock);
		for (i = 0; i < n; i++) {
			uint64_t tag = ready[i].data.u64;
			uint32_t index = (uint32_t)tag, generation = (uint32_t)(tag >> 32);
			struct sync_waiter *w;

			if (index >= (uint64_t)hub->limits.max_live ||
			    hub->slots[index].generation != generation ||
			    !(w = hub->slots[index].waiter))
				continue; /* it left meanwhile */
			w->gone = 1;
			pthread_cond_signal(&w->cond);
		}
		pthread_mutex_unlock(&hub->lock);
	}
	return NULL;
}

int sync_hub_start(const struct cs_config *cfg, const struct sync_hub_limits *limits,
		   struct cs_metrics *metrics, struct sync_hub **out, char *err, size_t errlen)
{
	struct sync_hub *hub = calloc(1, sizeof(*hub));
	struct cs_events_options events;
	size_t i;

	if (!hub) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	pthread_mutex_init(&hub->lock, NULL);
	hub->limits = *limits;
	hub->metrics = metrics;
	hub->epoll_fd = -1;
	hub->slots = calloc((size_t)limits->max_live, sizeof(*hub->slots));
	hub->free_slots = calloc((size_t)limits->max_live, sizeof(*hub->free_slots));
	if (!hub->slots || !hub->free_slots) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	/* highest index last out, so that slot 0 is taken first */
	for (i = 0; i < (size_t)limits->max_live; i++)
		hub->free_slots[i] = (unsigned)((size_t)limits->max_live - 1 - i);
	hub->free_count = (size_t)limits->max_live;
	hub->epoll_fd = epoll_create1(EPOLL_CLOEXEC);
	if (hub->epoll_fd < 0) {
		snprintf(err, errlen, "could not create an epoll instance: %s", strerror(errno));
		goto fail;
	}
	cs_events_options_from(&events, cfg);
	if (cs_events_new(&events, &hub->events, err, errlen) < 0)
		goto fail;
	if (pthread_create(&hub->reader, NULL, read_wakeups, hub) != 0) {
		snprintf(err, errlen, "could not start the redis reader thread");
		goto fail;
	}
	hub->reader_started = 1;
	if (pthread_create(&hub->watcher, NULL, watch_connections, hub) != 0) {
		snprintf(err, errlen, "could not start the connection watcher thread");
		goto fail;
	}
	hub->watcher_started = 1;
	*out = hub;
	return 0;
fail:
	sync_hub_stop(hub);
	return -1;
}

void sync_hub_stop(struct sync_hub *hub)
{
	if (!hub)
		return;
	sync_hub_drain(hub);
	if (hub->reader_started)
		pthread_join(hub->reader, NULL);
	if (hub->watcher_started)
		pthread_join(hub->watcher, NULL);
	cs_events_free(hub->events);
	if (hub->epoll_fd >= 0)
		close(hub->epoll_fd);
	free(hub->slots);
	free(hub->free_slots);
	pthread_mutex_destroy(&hub->lock);
	free(hub);
}

/* Under hub->lock: the live requests user_id holds, counted on its bucket's chain. */
static long held_by(struct sync_hub *hub, unsigned bucket, const char *user_id)
{
	const struct sync_waiter *w;
	long held = 0;

	for (w = hub->buckets[bucket]; w; w = w->next)
		if (!strcmp(w->user_id, user_id))
			held++;
	return held;
}

int sync_hub_join(struct sync_hub *hub, struct sync_waiter *w, const char *user_id,
		  int connection_fd)
{
	pthread_condattr_t attr;
	struct epoll_event watch;

	w->user_id = user_id;
	w->bucket = bucket_of(user_id);
	w->connection_fd = connection_fd;
	w->woken = 0;
	w->version = 0;
	w->gone = 0;
	w->prev = NULL;
	w->chunks = NULL;
	w->chunks_tail = &w->chunks;
	w->chunks_bytes = 0;
	w->chunks_lost = 0;
	pthread_mutex_lock(&hub->lock);
	/* the user's cap first: a refused user never holds a slot, not even for a moment */
	if (held_by(hub, w->bucket, user_id) >= hub->limits.max_per_user) {
		pthread_mutex_unlock(&hub->lock);
		return SYNC_HUB_USER_FULL;
	}
	if (hub->free_count == 0) {
		pthread_mutex_unlock(&hub->lock);
		return SYNC_HUB_FULL;
	}
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&w->cond, &attr);
	pthread_condattr_destroy(&attr);
	w->slot = hub->free_slots[--hub->free_count];
	hub->slots[w->slot].waiter = w;
	memset(&watch, 0, sizeof(watch));
	watch.data.u64 = (uint64_t)hub->slots[w->slot].generation << 32 | w->slot;
	w->next = hub->buckets[w->bucket];
	if (w->next)
		w->next->prev = w;
	hub->buckets[w->bucket] = w;
	pthread_mutex_unlock(&hub->lock);
	/*
	 * EPOLLRDHUP: nginx never half-closes, so the peer's shutdown is the
	 * close. One shot: a gone client's socket stays ready until the waiter
	 * leaves, and the watcher must not spin on it meanwhile. A connection
	 * that closed before this call is reported at once.
	 */
	watch.events = EPOLLRDHUP | EPOLLONESHOT;
	if (connection_fd >= 0 &&
	    epoll_ctl(hub->epoll_fd, EPOLL_CTL_ADD, connection_fd, &watch) < 0) {
		/* still correct, only slower: the slot comes back at the request's timeout */
		cs_log_warn("could not watch a live connection: %s", strerror(errno));
		w->connection_fd = -1;
	}
	return SYNC_HUB_JOINED;
}

void sync_hub_leave(struct sync_hub *hub, struct sync_waiter *w)
{
	if (w->connection_fd >= 0)
		epoll_ctl(hub->epoll_fd, EPOLL_CTL_DEL, w->connection_fd, NULL);
	pthread_mutex_lock(&hub->lock);
	if (w->prev)
		w->prev->next = w->next;
	else
		hub->buckets[w->bucket] = w->next;
	if (w->next)
		w->next->prev = w->prev;
	hub->slots[w->slot].waiter = NULL;
	hub->slots[w->slot].generation++;
	hub->free_slots[hub->free_count++] = w->slot;
	pthread_mutex_unlock(&hub->lock);
	pthread_cond_destroy(&w->cond);
	sync_hub_chunks_free(w->chunks);
	w->chunks = NULL;
}

struct sync_chunk *sync_hub_take_chunks(struct sync_hub *hub, struct sync_waiter *w, int *lost)
{
	struct sync_chunk *list;

	pthread_mutex_lock(&hub->lock);
	list = w->chunks;
	*lost = w->chunks_lost;
	w->chunks = NULL;
	w->chunks_tail = &w->chunks;
	w->chunks_bytes = 0;
	w->chunks_lost = 0;
	pthread_mutex_unlock(&hub->lock);
	return list;
}

void sync_hub_chunks_free(struct sync_chunk *list)
{
	while (list) {
		struct sync_chunk *next = list->next;

		free(list);
		list = next;
	}
}

int sync_hub_wait(struct sync_hub *hub, struct sync_waiter *w, long long deadline_us)
{
	struct timespec ts;
	int woken;

	ts.tv_sec = (time_t)(deadline_us / 1000000);
	ts.tv_nsec = (long)(deadline_us % 1000000) * 1000;
	pthread_mutex_lock(&hub->lock);
	while (!w->woken && !w->chunks && !w->chunks_lost && !w->gone &&
	       !atomic_load(&hub->stopping))
		if (pthread_cond_timedwait(&w->cond, &hub->lock, &ts) == ETIMEDOUT)
			break;
	woken = w->gone ? -1
			: (w->woken ? SYNC_HUB_CHANGES : 0) |
				  (w->chunks || w->chunks_lost ? SYNC_HUB_CHUNKS : 0);
	w->woken = 0;
	pthread_mutex_unlock(&hub->lock);
	return woken;
}

long long sync_hub_version(struct sync_hub *hub, struct sync_waiter *w)
{
	long long version;

	pthread_mutex_lock(&hub->lock);
	version = w->version;
	pthread_mutex_unlock(&hub->lock);
	return version;
}

long long sync_hub_recheck_us(struct sync_hub *hub)
{
	return (atomic_load(&hub->redis_ok) ? IDLE_RECHECK_MS : hub->limits.recheck_ms) * 1000LL;
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

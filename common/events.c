/*
 * events.c - Redis wake-ups: the connection (one Redis or a cluster), publish,
 * commands, health and the readers' start positions (hiredis, blocking, with
 * timeouts). The reader itself is events_read.c.
 */
#include "events.h"
#include "events_internal.h"
#include "clock.h"
#include "hash.h"
#include "log.h"
#include "redis_cluster.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

long long cs_events__now_ms(void)
{
	return cs_clock_monotonic_us() / 1000;
}

static struct timeval timeval_ms(long long ms)
{
	struct timeval tv = { (time_t)(ms / 1000), (suseconds_t)((ms % 1000) * 1000) };

	return tv;
}

int cs_events_parse_url(const char *url, char *host, size_t hostlen, int *port)
{
	const char *p = url, *colon;
	size_t len;

	if (!strncmp(p, "redis://", 8))
		p += 8;
	colon = strrchr(p, ':');
	len = colon ? (size_t)(colon - p) : strcspn(p, "/");
	if (len == 0 || len >= hostlen)
		return -1;
	memcpy(host, p, len);
	host[len] = '\0';
	*port = colon ? (int)strtol(colon + 1, NULL, 10) : 6379;
	return *port > 0 && *port < 65536 ? 0 : -1;
}

void cs_events_options_from(struct cs_events_options *options, const struct cs_config *cfg)
{
	options->url = cfg->redis_url;
	options->cluster_nodes = cfg->redis_cluster_nodes;
	options->stream_maxlen = cfg->redis_stream_maxlen;
	options->connect_timeout_ms = cfg->redis_connect_timeout_ms;
	options->command_timeout_ms = cfg->redis_command_timeout_ms;
	options->retry_ms = cfg->redis_retry_ms;
}

int cs_events_new(const struct cs_events_options *options, struct cs_events **out, char *err,
		  size_t errlen)
{
	struct cs_events *ev = calloc(1, sizeof(*ev));

	if (!ev) {
		snprintf(err, errlen, "could not create redis client: out of memory");
		return -1;
	}
	if (options->cluster_nodes) {
		if (cs_redis_cluster_new(options->cluster_nodes, options->connect_timeout_ms,
					 &ev->cluster, err, errlen) < 0) {
			free(ev);
			return -1;
		}
	} else if (cs_events_parse_url(options->url, ev->host, sizeof(ev->host), &ev->port) < 0) {
		snprintf(err, errlen, "REDIS_URL: expected redis://host:port");
		free(ev);
		return -1;
	}
	ev->options = *options;
	ev->options.url = NULL;
	ev->options.cluster_nodes = NULL;
	pthread_mutex_init(&ev->lock, NULL);
	*out = ev;
	return 0;
}

void cs_events__close_shard_reads(struct cs_events *ev)
{
	int i;

	for (i = 0; i < CS_EVENTS_SHARDS; i++) {
		if (ev->reads[i].redis)
			redisFree(ev->reads[i].redis);
		ev->reads[i].redis = NULL;
		ev->reads[i].pending = 0;
	}
}

void cs_events_free(struct cs_events *ev)
{
	if (!ev)
		return;
	cs_events__close_shard_reads(ev);
	cs_redis_cluster_free(ev->cluster);
	if (ev->redis)
		redisFree(ev->redis);
	pthread_mutex_destroy(&ev->lock);
	free(ev);
}

static void drop_connection(struct cs_events *ev)
{
	if (ev->redis) {
		redisFree(ev->redis);
		ev->redis = NULL;
	}
}

/* A failed connect or command: close, and try nothing for REDIS_RETRY_MS. */
void cs_events__failed(struct cs_events *ev)
{
	drop_connection(ev);
	if (ev->cluster) {
		cs_events__close_shard_reads(ev);
		cs_redis_cluster_reset(ev->cluster);
	}
	ev->retry_at_ms = cs_events__now_ms() + ev->options.retry_ms;
}

/* Takes ev->lock unless deadline (monotonic ms) passes first: another thread waits on Redis. */
static int lock_until(struct cs_events *ev, long long deadline)
{
	struct timespec abs;
	long long left = deadline - cs_events__now_ms();

	if (left < 0)
		left = 0;
	abs = cs_clock_deadline(CLOCK_REALTIME, left);
	return pthread_mutex_timedlock(&ev->lock, &abs) == 0 ? 0 : -1;
}

/*
 * With ev->lock held: commands on ev->redis give up after timeout_ms, or up to
 * a 32nd of it sooner. Setting a timeout costs two system calls, and a
 * command's deadline moves by a millisecond or so between uses of the
 * connection: the one already on the socket is kept when it is not longer
 * than timeout_ms and not much shorter.
 */
static void set_timeout_near(struct cs_events *ev, long long timeout_ms)
{
	if (ev->redis_timeout_ms > timeout_ms ||
	    ev->redis_timeout_ms < timeout_ms - timeout_ms / 32) {
		redisSetTimeout(ev->redis, timeval_ms(timeout_ms));
		ev->redis_timeout_ms = timeout_ms;
	}
}

/*
 * With ev->lock held: a connection whose commands give up after timeout_ms,
 * or NULL when Redis cannot be reached or a recent failure says not to try
 * yet (always_try: a health check, which tries anyway).
 */
redisContext *cs_events__connection(struct cs_events *ev, long long timeout_ms, int always_try)
{
	long long connect_ms = ev->options.connect_timeout_ms;

	if (ev->redis && !ev->redis->err) {
		set_timeout_near(ev, timeout_ms);
		return ev->redis;
	}
	drop_connection(ev);
	if (!always_try && cs_events__now_ms() < ev->retry_at_ms)
		return NULL;
	if (connect_ms > timeout_ms)
		connect_ms = timeout_ms;
	ev->redis = redisConnectWithTimeout(ev->host, ev->port, timeval_ms(connect_ms));
	if (!ev->redis || ev->redis->err) {
		cs_events__failed(ev);
		return NULL;
	}
	redisSetTimeout(ev->redis, timeval_ms(timeout_ms));
	ev->redis_timeout_ms = timeout_ms;
	return ev->redis;
}

unsigned cs_events_shard(const char *user_id)
{
	return cs_hash_fnv1a(user_id) % CS_EVENTS_SHARDS;
}

void cs_events_wake_key(unsigned shard, char *key, size_t keylen)
{
	snprintf(key, keylen, "cs:wake:{%u}", shard);
}

/*
 * With ev->lock held: a cluster command on key's master, or NULL when no
 * master answered before deadline or a recent failure says not to try yet
 * (always_try: a health check). A failure backs off like a single Redis's.
 */
static redisReply *cluster_command(struct cs_events *ev, const char *key, long long deadline,
				   int always_try, int argc, const char **argv, const size_t *lens)
{
	redisReply *reply;

	if (!always_try && cs_events__now_ms() < ev->retry_at_ms)
		return NULL;
	reply = cs_redis_cluster_command(ev->cluster, key, deadline, argc, argv, lens);
	if (!reply)
		cs_events__failed(ev);
	return reply;
}

/* The error of a command says the connection was closed by Redis, not that Redis is slow. */
static int closed_by_peer(const redisContext *redis, int error)
{
	return redis->err == REDIS_ERR_EOF ||
	       (redis->err == REDIS_ERR_IO && (error == ECONNRESET || error == EPIPE));
}

/* Sends one command on a connection: a format and its arguments, or an argv. */
struct command {
	const char *format;
	va_list *ap;
	int argc;
	const char **argv;
	const size_t *lens;
};

static redisReply *send_command(redisContext *redis, const struct command *command)
{
	va_list ap;
	redisReply *reply;

	if (!command->format)
		return redisCommandArgv(redis, command->argc, command->argv, command->lens);
	va_copy(ap, *command->ap);
	reply = redisvCommand(redis, command->format, ap);
	va_end(ap);
	return reply;
}

static redisReply *run(struct cs_events *ev, long long deadline, int always_try,
		       const struct command *command)
{
	redisReply *reply = NULL;
	int attempt;

	for (attempt = 0; attempt < 2; attempt++) {
		long long left = deadline - cs_events__now_ms();
		redisContext *redis = left > 0 ? cs_events__connection(ev, left, always_try) : NULL;

		if (!redis)
			break;
		reply = send_command(redis, command);
		if (reply)
			break;
		if (attempt > 0 || !closed_by_peer(redis, errno)) {
			cs_events__failed(ev);
			break;
		}
		drop_connection(ev);
	}
	return reply;
}

/*
 * With ev->lock held: the reply to a command, or NULL when none came before
 * deadline (monotonic ms). A connection Redis closed (restart, failover,
 * idle timeout) fails only when used: it is reopened at once and the
 * command sent again. Anything else, a timeout above all, is Redis's
 * trouble: back off.
 */
static redisReply *run_command(struct cs_events *ev, long long deadline, int always_try,
			       const char *format, ...)
{
	struct command command = { format, NULL, 0, NULL, NULL };
	redisReply *reply;
	va_list ap;

	va_start(ap, format);
	command.ap = &ap;
	reply = run(ev, deadline, always_try, &command);
	va_end(ap);
	return reply;
}

/* The XADD of one wake-up, as an argv: the one place its shape is written. */
struct wake_xadd {
	char key[CS_EVENTS_KEY_SIZE], version[32], maxlen[32];
	const char *argv[10];
};

static void wake_xadd(const struct cs_events *ev, const char *user_id, long long version,
		      struct wake_xadd *x)
{
	cs_events_wake_key(cs_events_shard(user_id), x->key, sizeof(x->key));
	snprintf(x->version, sizeof(x->version), "%lld", version);
	snprintf(x->maxlen, sizeof(x->maxlen), "%ld", ev->options.stream_maxlen);
	x->argv[0] = "XADD";
	x->argv[1] = x->key;
	x->argv[2] = "MAXLEN";
	x->argv[3] = "~";
	x->argv[4] = x->maxlen;
	x->argv[5] = "*";
	x->argv[6] = "u";
	x->argv[7] = user_id;
	x->argv[8] = "v";
	x->argv[9] = x->version;
}

int cs_events_publish(struct cs_events *ev, const char *user_id, long long version)
{
	long long deadline = cs_events__now_ms() + ev->options.command_timeout_ms;
	redisReply *reply;
	struct wake_xadd x;
	int rc;

	wake_xadd(ev, user_id, version, &x);
	if (lock_until(ev, deadline) < 0)
		return -1;
	if (ev->cluster) {
		reply = cluster_command(ev, x.key, deadline, 0, 10, x.argv, NULL);
	} else {
		struct command command = { NULL, NULL, 10, x.argv, NULL };

		reply = run(ev, deadline, 0, &command);
	}
	pthread_mutex_unlock(&ev->lock);
	rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
	if (reply)
		freeReplyObject(reply);
	return rc;
}

/*
 * With ev->lock held: the pipeline of events[0..n) on the single Redis; how
 * many replies said yes. *closed is set when Redis had closed the connection
 * before the first reply (a restart, an idle timeout): nothing was taken then.
 */
static size_t pipeline_publish(struct cs_events *ev, long long deadline,
			       const struct cs_event *events, size_t n, int *closed)
{
	long long left = deadline - cs_events__now_ms();
	redisContext *redis = left > 0 ? cs_events__connection(ev, left, 0) : NULL;
	struct wake_xadd x;
	size_t i, published = 0;

	if (!redis)
		return 0;
	for (i = 0; i < n; i++) {
		wake_xadd(ev, events[i].user_id, events[i].version, &x);
		/* hiredis copies the command into its output buffer: x can be reused */
		if (redisAppendCommandArgv(redis, 10, x.argv, NULL) != REDIS_OK)
			break;
	}
	n = i;
	for (i = 0; i < n; i++) {
		redisReply *reply = NULL;

		/* the whole batch within the deadline, not each reply (a timeout of 0 is none) */
		left = deadline - cs_events__now_ms();
		if (left <= 0) {
			cs_events__failed(ev);
			break;
		}
		/* a reply already read takes no system call, and needs no timeout */
		if (redisGetReplyFromReader(redis, (void **)&reply) == REDIS_OK && !reply) {
			set_timeout_near(ev, left);
			redisGetReply(redis, (void **)&reply);
		}
		if (!reply) {
			*closed = i == 0 && closed_by_peer(redis, errno);
			if (*closed)
				drop_connection(ev);
			else
				cs_events__failed(ev);
			break;
		}
		published += reply->type != REDIS_REPLY_ERROR;
		freeReplyObject(reply);
	}
	return published;
}

int cs_events_pipelines(const struct cs_events *ev)
{
	return !ev->cluster;
}

size_t cs_events_publish_batch(struct cs_events *ev, const struct cs_event *events, size_t n)
{
	long long deadline = cs_events__now_ms() + ev->options.command_timeout_ms;
	size_t i, published = 0;
	int closed = 0;

	if (!ev->cluster && n > 1) {
		if (lock_until(ev, deadline) < 0)
			return 0;
		published = pipeline_publish(ev, deadline, events, n, &closed);
		pthread_mutex_unlock(&ev->lock);
		if (!closed)
			return published;
	}
	/* a cluster, a single wake-up, or a closed connection: one by one, reconnecting */
	for (i = 0; i < n; i++)
		published += cs_events_publish(ev, events[i].user_id, events[i].version) == 0;
	return published;
}

/* With ev->lock held: 0 when the map can be read and every master answers PING. */
static int cluster_ping(struct cs_events *ev, long long deadline)
{
	int node, count;

	if (cs_redis_cluster_refresh(ev->cluster, deadline) < 0)
		return -1;
	count = cs_redis_cluster_node_count(ev->cluster);
	for (node = 0; node < count; node++) {
		redisContext *redis = cs_redis_cluster_connection(ev->cluster, node, deadline);
		redisReply *reply = redis ? redisCommand(redis, "PING") : NULL;
		int ok = reply && reply->type != REDIS_REPLY_ERROR;

		if (reply)
			freeReplyObject(reply);
		if (!reply)
			cs_redis_cluster_drop(ev->cluster, node);
		if (!ok)
			return -1;
	}
	return 0;
}

redisReply *cs_events_command(struct cs_events *ev, const char *key, int argc, const char **argv,
			      const size_t *lens)
{
	long long deadline = cs_events__now_ms() + ev->options.command_timeout_ms;
	struct command command = { NULL, NULL, argc, argv, lens };
	redisReply *reply;

	if (lock_until(ev, deadline) < 0)
		return NULL;
	if (ev->cluster)
		reply = cluster_command(ev, key, deadline, 0, argc, argv, lens);
	else
		reply = run(ev, deadline, 0, &command);
	pthread_mutex_unlock(&ev->lock);
	return reply;
}

int cs_events_ping(struct cs_events *ev)
{
	long long deadline = cs_events__now_ms() + ev->options.command_timeout_ms;
	redisReply *reply;
	int rc;

	if (lock_until(ev, deadline) < 0)
		return -1;
	if (ev->cluster) {
		rc = cluster_ping(ev, deadline);
		pthread_mutex_unlock(&ev->lock);
		return rc;
	}
	reply = run_command(ev, deadline, 1, "PING");
	pthread_mutex_unlock(&ev->lock);
	rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
	if (reply)
		freeReplyObject(reply);
	return rc;
}

int cs_events_tail(struct cs_events *ev, char last_ids[CS_EVENTS_SHARDS][64])
{
	redisContext *redis = NULL;
	int i, rc = 0;

	pthread_mutex_lock(&ev->lock);
	if (ev->cluster)
		cs_events__close_shard_reads(
			ev); /* reads start again from the positions found here */
	else
		redis = cs_events__connection(ev, ev->options.command_timeout_ms, 0);
	for (i = 0; i < CS_EVENTS_SHARDS && (redis || ev->cluster) && rc == 0; i++) {
		char key[CS_EVENTS_KEY_SIZE];
		redisReply *reply;

		cs_events_wake_key((unsigned)i, key, sizeof(key));
		if (ev->cluster) {
			const char *argv[] = { "XREVRANGE", key, "+", "-", "COUNT", "1" };

			reply = cluster_command(
				ev, key, cs_events__now_ms() + ev->options.command_timeout_ms, 0, 6,
				argv, NULL);
		} else {
			reply = redisCommand(redis, "XREVRANGE %s + - COUNT 1", key);
			if (!reply)
				cs_events__failed(ev);
		}
		if (!reply) {
			rc = -1;
			break;
		}
		if (reply->type != REDIS_REPLY_ARRAY)
			rc = -1;
		else if (reply->elements == 0)
			snprintf(last_ids[i], 64, "0-0");
		else
			snprintf(last_ids[i], 64, "%s", reply->element[0]->element[0]->str);
		freeReplyObject(reply);
	}
	pthread_mutex_unlock(&ev->lock);
	return redis || ev->cluster ? rc : -1;
}

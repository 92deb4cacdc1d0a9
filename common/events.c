/* events.c - Redis stream publisher and reader (hiredis, blocking, with timeouts). */
#include "events.h"
#include "clock.h"
#include "hash.h"
#include "log.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

struct cs_events {
	char host[256];
	int port;
	struct cs_events_options options; /* options.url not kept */
	pthread_mutex_t lock;
	redisContext *redis;
	long long retry_at_ms; /* after a failure: no new attempt before this (monotonic) */
};

static long long now_ms(void)
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
	if (cs_events_parse_url(options->url, ev->host, sizeof(ev->host), &ev->port) < 0) {
		snprintf(err, errlen, "REDIS_URL: expected redis://host:port");
		free(ev);
		return -1;
	}
	ev->options = *options;
	ev->options.url = NULL;
	pthread_mutex_init(&ev->lock, NULL);
	*out = ev;
	return 0;
}

void cs_events_free(struct cs_events *ev)
{
	if (!ev)
		return;
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
static void failed(struct cs_events *ev)
{
	drop_connection(ev);
	ev->retry_at_ms = now_ms() + ev->options.retry_ms;
}

/* Takes ev->lock unless deadline (monotonic ms) passes first: another thread waits on Redis. */
static int lock_until(struct cs_events *ev, long long deadline)
{
	struct timespec abs;
	long long left = deadline - now_ms();

	if (left < 0)
		left = 0;
	clock_gettime(CLOCK_REALTIME, &abs);
	abs.tv_sec += (time_t)(left / 1000);
	abs.tv_nsec += (long)(left % 1000) * 1000000L;
	if (abs.tv_nsec >= 1000000000L) {
		abs.tv_sec++;
		abs.tv_nsec -= 1000000000L;
	}
	return pthread_mutex_timedlock(&ev->lock, &abs) == 0 ? 0 : -1;
}

/*
 * With ev->lock held: a connection whose commands give up after timeout_ms,
 * or NULL when Redis cannot be reached or a recent failure says not to try
 * yet (always_try: a health check, which tries anyway).
 */
static redisContext *connection(struct cs_events *ev, long long timeout_ms, int always_try)
{
	long long connect_ms = ev->options.connect_timeout_ms;

	if (ev->redis && !ev->redis->err) {
		redisSetTimeout(ev->redis, timeval_ms(timeout_ms));
		return ev->redis;
	}
	drop_connection(ev);
	if (!always_try && now_ms() < ev->retry_at_ms)
		return NULL;
	if (connect_ms > timeout_ms)
		connect_ms = timeout_ms;
	ev->redis = redisConnectWithTimeout(ev->host, ev->port, timeval_ms(connect_ms));
	if (!ev->redis || ev->redis->err) {
		failed(ev);
		return NULL;
	}
	redisSetTimeout(ev->redis, timeval_ms(timeout_ms));
	return ev->redis;
}

unsigned cs_events_shard(const char *user_id)
{
	return cs_hash_fnv1a(user_id) % CS_EVENTS_SHARDS;
}

void cs_events_wake_key(unsigned shard, char *key, size_t len)
{
	snprintf(key, len, "cs:wake:%u", shard);
}

/* The error of a command says the connection was closed by Redis, not that Redis is slow. */
static int closed_by_peer(const redisContext *redis, int error)
{
	return redis->err == REDIS_ERR_EOF ||
	       (redis->err == REDIS_ERR_IO && (error == ECONNRESET || error == EPIPE));
}

/*
 * With ev->lock held: the reply to a command, or NULL when none came before
 * deadline (monotonic ms). A connection Redis closed (restart, failover,
 * idle timeout) fails only when used: it is reopened at once and the
 * command sent again. Anything else, a timeout above all, is Redis's
 * trouble: back off.
 */
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
		long long left = deadline - now_ms();
		redisContext *redis = left > 0 ? connection(ev, left, always_try) : NULL;

		if (!redis)
			break;
		reply = send_command(redis, command);
		if (reply)
			break;
		if (attempt > 0 || !closed_by_peer(redis, errno)) {
			failed(ev);
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

int cs_events_publish(struct cs_events *ev, const char *user_id, long long version)
{
	long long deadline = now_ms() + ev->options.command_timeout_ms;
	redisReply *reply;
	char key[32], ver[32];
	int rc;

	cs_events_wake_key(cs_events_shard(user_id), key, sizeof(key));
	snprintf(ver, sizeof(ver), "%lld", version);
	if (lock_until(ev, deadline) < 0)
		return -1;
	reply = run_command(ev, deadline, 0, "XADD %s MAXLEN ~ %ld * u %s v %s", key,
			    ev->options.stream_maxlen, user_id, ver);
	pthread_mutex_unlock(&ev->lock);
	rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
	if (reply)
		freeReplyObject(reply);
	return rc;
}

redisReply *cs_events_command(struct cs_events *ev, int argc, const char **argv, const size_t *lens)
{
	long long deadline = now_ms() + ev->options.command_timeout_ms;
	struct command command = { NULL, NULL, argc, argv, lens };
	redisReply *reply;

	if (lock_until(ev, deadline) < 0)
		return NULL;
	reply = run(ev, deadline, 0, &command);
	pthread_mutex_unlock(&ev->lock);
	return reply;
}

int cs_events_ping(struct cs_events *ev)
{
	long long deadline = now_ms() + ev->options.command_timeout_ms;
	redisReply *reply;
	int rc;

	if (lock_until(ev, deadline) < 0)
		return -1;
	reply = run_command(ev, deadline, 1, "PING");
	pthread_mutex_unlock(&ev->lock);
	rc = reply && reply->type != REDIS_REPLY_ERROR ? 0 : -1;
	if (reply)
		freeReplyObject(reply);
	return rc;
}

int cs_events_tail(struct cs_events *ev, char last_ids[CS_EVENTS_SHARDS][64])
{
	redisContext *redis;
	int i, rc = 0;

	pthread_mutex_lock(&ev->lock);
	redis = connection(ev, ev->options.command_timeout_ms, 0);
	for (i = 0; i < CS_EVENTS_SHARDS && redis && rc == 0; i++) {
		char key[32];
		redisReply *reply;

		cs_events_wake_key((unsigned)i, key, sizeof(key));
		reply = redisCommand(redis, "XREVRANGE %s + - COUNT 1", key);

		if (!reply) {
			failed(ev);
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
	return redis ? rc : -1;
}

static void deliver_entries(const redisReply *stream, char last_id[64],
			    void (*on_event)(const struct cs_event *, void *), void *arg,
			    int *count)
{
	const redisReply *entries = stream->element[1];
	size_t i, j;

	for (i = 0; i < entries->elements; i++) {
		const redisReply *entry = entries->element[i];
		const redisReply *fields;
		struct cs_event event = { "", 0, NULL, NULL, 0, NULL, 0 };

		if (entry->type != REDIS_REPLY_ARRAY || entry->elements != 2)
			continue;
		snprintf(last_id, 64, "%s", entry->element[0]->str);
		fields = entry->element[1];
		for (j = 0; j + 1 < fields->elements; j += 2) {
			const char *name = fields->element[j]->str;
			const char *value = fields->element[j + 1]->str;

			if (!name || !value)
				continue;
			if (!strcmp(name, "u"))
				snprintf(event.user_id, sizeof(event.user_id), "%s", value);
			else if (!strcmp(name, "v"))
				event.version = strtoll(value, NULL, 10);
			else if (!strcmp(name, "m"))
				event.message_id = value;
			else if (!strcmp(name, "c"))
				event.chat_id = value;
			else if (!strcmp(name, "q"))
				event.seq = strtoll(value, NULL, 10);
			else if (!strcmp(name, "t")) {
				event.text = value;
				event.text_len = fields->element[j + 1]->len;
			}
		}
		if (event.user_id[0]) {
			on_event(&event, arg);
			(*count)++;
		}
	}
}

int cs_events_read(struct cs_events *ev, char last_ids[CS_EVENTS_SHARDS][64], int block_ms,
		   void (*on_event)(const struct cs_event *event, void *arg), void *arg)
{
	const char *argv[4 + 2 * CS_EVENTS_SHARDS];
	char keys[CS_EVENTS_SHARDS][32], block[16];
	redisContext *redis;
	redisReply *reply = NULL;
	int argc = 0, i, count = 0;
	size_t s;

	snprintf(block, sizeof(block), "%d", block_ms);
	argv[argc++] = "XREAD";
	argv[argc++] = "BLOCK";
	argv[argc++] = block;
	argv[argc++] = "STREAMS";
	for (i = 0; i < CS_EVENTS_SHARDS; i++) {
		cs_events_wake_key((unsigned)i, keys[i], sizeof(keys[i]));
		argv[argc++] = keys[i];
	}
	for (i = 0; i < CS_EVENTS_SHARDS; i++)
		argv[argc++] = last_ids[i];

	pthread_mutex_lock(&ev->lock);
	redis = connection(ev, block_ms + ev->options.command_timeout_ms, 0);
	if (!redis) {
		pthread_mutex_unlock(&ev->lock);
		return -1;
	}
	reply = redisCommandArgv(redis, argc, argv, NULL);
	if (!reply)
		failed(ev);
	pthread_mutex_unlock(&ev->lock);
	if (!reply || reply->type == REDIS_REPLY_ERROR) {
		if (reply)
			freeReplyObject(reply);
		return -1;
	}
	if (reply->type == REDIS_REPLY_ARRAY) {
		for (s = 0; s < reply->elements; s++) {
			const redisReply *stream = reply->element[s];

			if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2)
				continue;
			for (i = 0; i < CS_EVENTS_SHARDS; i++)
				if (!strcmp(stream->element[0]->str, keys[i]))
					deliver_entries(stream, last_ids[i], on_event, arg, &count);
		}
	}
	freeReplyObject(reply);
	return count;
}

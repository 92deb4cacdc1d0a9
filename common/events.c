/* events.c - Redis stream publisher and reader (hiredis, blocking, with timeouts). */
#include "events.h"
#include "log.h"

#include <hiredis/hiredis.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct cs_events {
	char host[256];
	int port;
	long maxlen;
	pthread_mutex_t lock;
	redisContext *redis;
	time_t last_attempt;
};

static int parse_url(const char *url, char *host, size_t hostlen, int *port)
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
	*port = colon ? atoi(colon + 1) : 6379;
	return *port > 0 && *port < 65536 ? 0 : -1;
}

int cs_events_new(const char *url, long stream_maxlen, struct cs_events **out, char *err,
		  size_t errlen)
{
	struct cs_events *ev = calloc(1, sizeof(*ev));

	if (!ev) {
		snprintf(err, errlen, "could not create redis client: out of memory");
		return -1;
	}
	if (parse_url(url, ev->host, sizeof(ev->host), &ev->port) < 0) {
		snprintf(err, errlen, "REDIS_URL: expected redis://host:port");
		free(ev);
		return -1;
	}
	ev->maxlen = stream_maxlen;
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

/* With ev->lock held: a usable connection, or NULL (rate-limited reconnect). */
static redisContext *connection(struct cs_events *ev, int command_timeout_ms)
{
	struct timeval connect_timeout = { 0, 300000 };
	struct timeval command_timeout = { command_timeout_ms / 1000,
					   (command_timeout_ms % 1000) * 1000 };
	time_t now = time(NULL);

	if (ev->redis && !ev->redis->err) {
		redisSetTimeout(ev->redis, command_timeout);
		return ev->redis;
	}
	if (ev->redis) {
		redisFree(ev->redis);
		ev->redis = NULL;
	}
	if (now == ev->last_attempt)
		return NULL;
	ev->last_attempt = now;
	ev->redis = redisConnectWithTimeout(ev->host, ev->port, connect_timeout);
	if (!ev->redis || ev->redis->err) {
		if (ev->redis) {
			redisFree(ev->redis);
			ev->redis = NULL;
		}
		return NULL;
	}
	redisSetTimeout(ev->redis, command_timeout);
	return ev->redis;
}

static void drop_connection(struct cs_events *ev)
{
	if (ev->redis) {
		redisFree(ev->redis);
		ev->redis = NULL;
	}
}

unsigned cs_events_shard(const char *user_id)
{
	unsigned hash = 2166136261u; /* FNV-1a */

	for (; *user_id; user_id++)
		hash = (hash ^ (unsigned char)*user_id) * 16777619u;
	return hash % CS_EVENTS_SHARDS;
}

int cs_events_publish(struct cs_events *ev, const char *user_id, long long version)
{
	redisContext *redis;
	redisReply *reply = NULL;
	char key[32], ver[32];
	int rc = -1;

	snprintf(key, sizeof(key), "cs:wake:%u", cs_events_shard(user_id));
	snprintf(ver, sizeof(ver), "%lld", version);
	pthread_mutex_lock(&ev->lock);
	redis = connection(ev, 300);
	if (redis)
		reply = redisCommand(redis, "XADD %s MAXLEN ~ %ld * u %s v %s", key, ev->maxlen,
				     user_id, ver);
	if (!reply) {
		/*
		 * A connection Redis closed (restart, failover, idle timeout) fails
		 * only when used: reconnect at once and send this wake-up again.
		 */
		drop_connection(ev);
		ev->last_attempt = 0;
		redis = connection(ev, 300);
		if (redis)
			reply = redisCommand(redis, "XADD %s MAXLEN ~ %ld * u %s v %s", key,
					     ev->maxlen, user_id, ver);
		if (!reply) {
			drop_connection(ev);
			goto out;
		}
	}
	if (reply->type == REDIS_REPLY_ERROR)
		goto out;
	rc = 0;
out:
	pthread_mutex_unlock(&ev->lock);
	if (reply)
		freeReplyObject(reply);
	return rc;
}

int cs_events_ping(struct cs_events *ev)
{
	redisContext *redis;
	redisReply *reply = NULL;
	int rc = -1;

	pthread_mutex_lock(&ev->lock);
	ev->last_attempt = 0; /* a health check may always try */
	redis = connection(ev, 500);
	if (!redis)
		goto out;
	reply = redisCommand(redis, "PING");
	if (!reply) {
		drop_connection(ev);
		goto out;
	}
	rc = reply->type == REDIS_REPLY_ERROR ? -1 : 0;
out:
	pthread_mutex_unlock(&ev->lock);
	if (reply)
		freeReplyObject(reply);
	return rc;
}

int cs_events_tail(struct cs_events *ev, char last_ids[CS_EVENTS_SHARDS][64])
{
	redisContext *redis;
	int i, rc = 0;

	pthread_mutex_lock(&ev->lock);
	redis = connection(ev, 1000);
	for (i = 0; i < CS_EVENTS_SHARDS && redis && rc == 0; i++) {
		redisReply *reply = redisCommand(redis, "XREVRANGE cs:wake:%d + - COUNT 1", i);

		if (!reply) {
			drop_connection(ev);
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
			    void (*on_event)(const struct cs_event *, void *), void *arg, int *count)
{
	const redisReply *entries = stream->element[1];
	size_t i, j;

	for (i = 0; i < entries->elements; i++) {
		const redisReply *entry = entries->element[i];
		const redisReply *fields;
		struct cs_event event = { "", 0 };

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
		snprintf(keys[i], sizeof(keys[i]), "cs:wake:%d", i);
		argv[argc++] = keys[i];
	}
	for (i = 0; i < CS_EVENTS_SHARDS; i++)
		argv[argc++] = last_ids[i];

	pthread_mutex_lock(&ev->lock);
	redis = connection(ev, block_ms + 1000);
	if (!redis) {
		pthread_mutex_unlock(&ev->lock);
		return -1;
	}
	reply = redisCommandArgv(redis, argc, argv, NULL);
	if (!reply)
		drop_connection(ev);
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

/*
 * events_read.c - the wake-up reader of a process: one blocking XREAD over the
 * 16 shard streams of one Redis, or in a cluster one per shard (keys of
 * different slots cannot share one), waited on together with poll; entries
 * become struct cs_event (a wake-up, or a chunk of a streamed reply).
 */
#include "events.h"
#include "events_internal.h"
#include "redis_cluster.h"

#include <errno.h>
#include <hiredis/hiredis.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

/* An XREAD reply: the entries of each stream, for the shard whose key it names. */
static void deliver_reply(const redisReply *reply, char keys[CS_EVENTS_SHARDS][CS_EVENTS_KEY_SIZE],
			  char last_ids[CS_EVENTS_SHARDS][64],
			  void (*on_event)(const struct cs_event *, void *), void *arg, int *count)
{
	size_t s;
	int i;

	if (reply->type != REDIS_REPLY_ARRAY)
		return;
	for (s = 0; s < reply->elements; s++) {
		const redisReply *stream = reply->element[s];

		if (stream->type != REDIS_REPLY_ARRAY || stream->elements != 2)
			continue;
		for (i = 0; i < CS_EVENTS_SHARDS; i++)
			if (!strcmp(stream->element[0]->str, keys[i]))
				deliver_entries(stream, last_ids[i], on_event, arg, count);
	}
}

/* With ev->lock held: shard's XREAD BLOCK sent on its own connection, unless one is pending. */
static int send_shard_read(struct cs_events *ev, int shard, const char *key, const char *last_id,
			   const char *block)
{
	struct shard_read *read = &ev->reads[shard];
	const char *argv[] = { "XREAD", "BLOCK", block, "STREAMS", key, last_id };
	int done = 0;

	if (read->pending)
		return 0;
	if (!read->redis) {
		read->redis = cs_redis_cluster_connect_slot(
			ev->cluster, cs_redis_cluster_slot(key, strlen(key)),
			cs_events__now_ms() + ev->options.command_timeout_ms);
		if (!read->redis)
			return -1;
	}
	if (redisAppendCommandArgv(read->redis, 6, argv, NULL) != REDIS_OK)
		return -1;
	while (!done)
		if (redisBufferWrite(read->redis, &done) != REDIS_OK)
			return -1;
	read->pending = 1;
	read->sent_ms = cs_events__now_ms();
	return 0;
}

/* With ev->lock held: the reply of a shard's XREAD that poll found readable; 0 while partial. */
static int take_shard_reply(struct cs_events *ev, int shard, redisReply **out)
{
	struct shard_read *read = &ev->reads[shard];
	void *reply = NULL;

	if (redisBufferRead(read->redis) != REDIS_OK ||
	    redisGetReplyFromReader(read->redis, &reply) != REDIS_OK)
		return -1;
	if (reply)
		read->pending = 0;
	*out = reply;
	return 0;
}

/*
 * A cluster's read: every shard's XREAD BLOCK (on its slot's master) waited on
 * with poll until one answers or block_ms passes. Reads still pending are
 * left for the next call, with the same positions; one that stays silent past
 * block_ms and the command timeout (a stopped or cut-off master) is a failure.
 */
static int cluster_read(struct cs_events *ev, char last_ids[CS_EVENTS_SHARDS][64], int block_ms,
			void (*on_event)(const struct cs_event *event, void *arg), void *arg)
{
	char keys[CS_EVENTS_SHARDS][CS_EVENTS_KEY_SIZE], block[16];
	long long deadline = cs_events__now_ms() + block_ms,
		  silent_ms = block_ms + ev->options.command_timeout_ms;
	int i, count = 0, answered = 0;

	snprintf(block, sizeof(block), "%d", block_ms);
	for (i = 0; i < CS_EVENTS_SHARDS; i++) {
		cs_events_wake_key((unsigned)i, keys[i], sizeof(keys[i]));
		if (send_shard_read(ev, i, keys[i], last_ids[i], block) < 0)
			goto fail;
	}
	while (!answered) {
		struct pollfd fds[CS_EVENTS_SHARDS];
		int shard_of[CS_EVENTS_SHARDS], n = 0, j;
		long long left = deadline - cs_events__now_ms();

		if (left <= 0)
			break; /* never poll with a negative timeout: that waits for ever */

		for (i = 0; i < CS_EVENTS_SHARDS; i++) {
			if (!ev->reads[i].pending)
				continue;
			fds[n].fd = ev->reads[i].redis->fd;
			fds[n].events = POLLIN;
			fds[n].revents = 0;
			shard_of[n++] = i;
		}
		if (poll(fds, (nfds_t)n, (int)left) < 0) {
			if (errno == EINTR)
				continue;
			goto fail;
		}
		for (j = 0; j < n; j++) {
			redisReply *reply = NULL;

			if (!fds[j].revents)
				continue;
			if (take_shard_reply(ev, shard_of[j], &reply) < 0)
				goto fail;
			if (!reply)
				continue;
			answered = 1;
			if (reply->type == REDIS_REPLY_ERROR) {
				/* MOVED (a slot migrated), CLUSTERDOWN, ...: start afresh */
				freeReplyObject(reply);
				goto fail;
			}
			deliver_reply(reply, keys, last_ids, on_event, arg, &count);
			freeReplyObject(reply);
		}
	}
	for (i = 0; i < CS_EVENTS_SHARDS; i++)
		if (ev->reads[i].pending && cs_events__now_ms() - ev->reads[i].sent_ms > silent_ms)
			goto fail;
	return count;
fail:
	cs_events__failed(ev);
	return -1;
}

int cs_events_read(struct cs_events *ev, char last_ids[CS_EVENTS_SHARDS][64], int block_ms,
		   void (*on_event)(const struct cs_event *event, void *arg), void *arg)
{
	const char *argv[4 + 2 * CS_EVENTS_SHARDS];
	char keys[CS_EVENTS_SHARDS][CS_EVENTS_KEY_SIZE], block[16];
	redisContext *redis;
	redisReply *reply = NULL;
	int argc = 0, i, count = 0;

	if (ev->cluster) {
		pthread_mutex_lock(&ev->lock);
		count = cluster_read(ev, last_ids, block_ms, on_event, arg);
		pthread_mutex_unlock(&ev->lock);
		return count;
	}
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
	redis = cs_events__connection(ev, block_ms + ev->options.command_timeout_ms, 0);
	if (!redis) {
		pthread_mutex_unlock(&ev->lock);
		return -1;
	}
	reply = redisCommandArgv(redis, argc, argv, NULL);
	if (!reply)
		cs_events__failed(ev);
	pthread_mutex_unlock(&ev->lock);
	if (!reply || reply->type == REDIS_REPLY_ERROR) {
		if (reply)
			freeReplyObject(reply);
		return -1;
	}
	deliver_reply(reply, keys, last_ids, on_event, arg, &count);
	freeReplyObject(reply);
	return count;
}

/*
 * events_internal.h - what the connection side (events.c) and the reader
 * (events_read.c) share; nothing outside common/events*.c includes it.
 */
#ifndef CS_EVENTS_INTERNAL_H
#define CS_EVENTS_INTERNAL_H

#include "events.h"

#include <hiredis/hiredis.h>
#include <pthread.h>

struct cs_events {
	char host[256];
	int port;
	struct cs_events_options options; /* options.url not kept */
	pthread_mutex_t lock;
	redisContext *redis;
	long long redis_timeout_ms; /* the timeout set on redis's socket */
	long long retry_at_ms;      /* after a failure: no new attempt before this (monotonic) */
	struct cs_redis_cluster *cluster; /* REDIS_CLUSTER_NODES, or NULL: host and port */
	/* a cluster's reader: one blocking XREAD per shard, each on its own connection */
	struct shard_read {
		redisContext *redis;
		int pending;       /* an XREAD was sent and its reply not read yet */
		long long sent_ms; /* when (monotonic) */
	} reads[CS_EVENTS_SHARDS];
};

/* The monotonic clock in ms. */
long long cs_events__now_ms(void);
/* A failed connect or command: close, and try nothing for REDIS_RETRY_MS. */
void cs_events__failed(struct cs_events *ev);
/*
 * With ev->lock held: the single Redis's connection, its commands bounded by
 * timeout_ms, or NULL when Redis cannot be reached or a recent failure says
 * not to try yet (always_try: a health check, which tries anyway).
 */
redisContext *cs_events__connection(struct cs_events *ev, long long timeout_ms, int always_try);
/* Closes a cluster reader's per-shard connections (their reads start afresh). */
void cs_events__close_shard_reads(struct cs_events *ev);

#endif

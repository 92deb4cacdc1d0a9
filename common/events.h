/*
 * events.h - wake-ups through Redis streams.
 *
 * Writers publish "user U has changes up to version V" after they commit;
 * sync-svc reads them and wakes the waiting requests of U. Redis holds
 * nothing that Postgres does not: a lost wake-up only delays a change, since
 * live requests also re-check Postgres on a timer.
 *
 * Streams are sharded by user (CS_EVENTS_SHARDS keys "cs:wake:{<n>}": the
 * hash tag puts a shard's keys, and only its, in one Redis Cluster slot), and
 * trimmed to REDIS_STREAM_MAXLEN.
 *
 * Redis is one server (REDIS_URL) or a Redis Cluster (REDIS_CLUSTER_NODES,
 * through redis_cluster.h: each shard's commands go to its slot's master,
 * following redirections and failovers). A struct cs_events is one Redis
 * connection (one per master in a cluster) shared by the process's threads
 * (a mutex serialises them); the reader's blocking reads have their own. Every call is bounded: a publish gives up after
 * REDIS_COMMAND_TIMEOUT_MS in all (waiting for the mutex, connecting and the
 * reply together). After a failure nothing is tried for REDIS_RETRY_MS: a
 * publish then fails at once, so that a Redis outage costs writers no time
 * at all, and one write per REDIS_RETRY_MS at most its timeout.
 */
#ifndef CS_EVENTS_H
#define CS_EVENTS_H

#include <stddef.h>

#include "config.h"

#define CS_EVENTS_SHARDS 16

struct cs_events;

/*
 * A wake-up read from a shard stream: "user U has changes up to version V",
 * or a chunk of a streamed message (message_id set, version 0; stream.h
 * publishes them). The chunk's strings are borrowed for on_event's call only.
 */
struct cs_event {
	char user_id[256];
	long long version;
	const char *message_id; /* NULL: a version wake-up */
	const char *chat_id;
	long long seq;
	const char *text;
	size_t text_len;
};

struct redisReply;

struct cs_events_options {
	const char *url;           /* redis://host:port */
	const char *cluster_nodes; /* host:port,... of a Redis Cluster, or NULL: url */
	long stream_maxlen;        /* XADD MAXLEN ~ */
	long connect_timeout_ms;
	long command_timeout_ms;
	long retry_ms; /* no new attempt this long after a failure */
};

/* The options of cfg (REDIS_URL, REDIS_STREAM_MAXLEN, the REDIS_*_MS rows). */
void cs_events_options_from(struct cs_events_options *options, const struct cs_config *cfg);
int cs_events_new(const struct cs_events_options *options, struct cs_events **out, char *err,
		  size_t errlen);
void cs_events_free(struct cs_events *ev);

/* XADD a wake-up; -1 when Redis is unreachable or slow (the caller logs and goes on). */
int cs_events_publish(struct cs_events *ev, const char *user_id, long long version);
/*
 * XADDs the wake-ups of events[0..n) (user_id and version) in order: pipelined
 * on a single Redis (one write, one read, the whole batch within one command
 * timeout), one by one in a cluster. How many Redis took; the others are lost
 * as a failed cs_events_publish's are.
 */
size_t cs_events_publish_batch(struct cs_events *ev, const struct cs_event *events, size_t n);
/* 1 when cs_events_publish_batch pipelines (a single Redis), 0 in a cluster. */
int cs_events_pipelines(const struct cs_events *ev);
/*
 * Runs one command (argv with lengths, hiredis' redisCommandArgv) under the
 * same bounds as a publish; in a cluster on the master of key's slot (every
 * key the command names must share that slot: one hash tag). The reply is
 * the caller's (freeReplyObject), or NULL when Redis is unreachable, slow or
 * backing off.
 */
struct redisReply *cs_events_command(struct cs_events *ev, const char *key, int argc,
				     const char **argv, const size_t *lens);
/*
 * The key of a shard's wake-up stream, "cs:wake:{<shard>}" (the one place that
 * names it; the hash tag keeps a shard's keys in one cluster slot), into key
 * (at least CS_EVENTS_KEY_SIZE bytes).
 */
#define CS_EVENTS_KEY_SIZE 32
void cs_events_wake_key(unsigned shard, char *key, size_t keylen);
/* 0 when Redis answers PING (tried even while backing off, for /readyz). */
int cs_events_ping(struct cs_events *ev);

/*
 * Sets last_ids to the newest entry of each shard ("0-0" for an empty one),
 * so that a reader starts exactly after what is there now. -1 when Redis is
 * unreachable.
 */
int cs_events_tail(struct cs_events *ev, char last_ids[CS_EVENTS_SHARDS][64]);

/*
 * Blocks up to block_ms for wake-ups after the positions in *last_ids (one per
 * shard, from cs_events_tail), calling on_event for each. Returns the number read, or
 * -1 when Redis is unreachable. Meant for one reader thread per process with
 * its own struct cs_events. In a cluster, each shard has its own blocking
 * XREAD (keys of different slots cannot share one), all waited on at once; a
 * read still pending when the call returns is kept for the next call.
 */
int cs_events_read(struct cs_events *ev, char last_ids[CS_EVENTS_SHARDS][64], int block_ms,
		   void (*on_event)(const struct cs_event *event, void *arg), void *arg);

/*
 * REDIS_URL's host (NUL-terminated, at most hostlen - 1 bytes) and port:
 * "redis://host:port", "host:port", or "host" for 6379. -1 when the host is
 * empty or too long, or the port not in 1..65535.
 */
int cs_events_parse_url(const char *url, char *host, size_t hostlen, int *port);

/* The shard of a user id (stable across processes and versions: hash.h). */
unsigned cs_events_shard(const char *user_id);

#endif

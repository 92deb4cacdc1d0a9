/*
 * redis_cluster.h - a small Redis Cluster client over hiredis: the slot map,
 * redirections and failover (docs/decisions/redis-cluster.md says why not
 * hiredis-cluster).
 *
 * A key lives in one of 16384 slots (CRC16 of the key, or of its {hash tag},
 * modulo 16384); each slot is served by one master. The map of slots to
 * masters is read with CLUSTER SLOTS from any node that answers (the known
 * masters first, then the seed nodes of REDIS_CLUSTER_NODES) at the first
 * command, and again whenever a node answers MOVED or a connection fails —
 * which is how a failover is followed: the dead master's connection fails,
 * the map read from a live node names the promoted replica.
 *
 * A command for a key goes to its slot's master; MOVED refreshes the map and
 * sends it again, ASK sends ASKING then the command to the named node, once.
 * Both are bounded: at most CS_REDIS_CLUSTER_REDIRECTS sends, all within the
 * caller's deadline. Connections are opened lazily and kept.
 *
 * Not thread-safe: a struct cs_redis_cluster belongs to one thread at a time
 * (events.c holds its mutex around every call). Replies (redisReply *) belong
 * to the caller: freeReplyObject them.
 */
#ifndef CS_REDIS_CLUSTER_H
#define CS_REDIS_CLUSTER_H

#include <hiredis/hiredis.h>
#include <stddef.h>
#include <stdint.h>

#define CS_REDIS_CLUSTER_SLOTS 16384
#define CS_REDIS_CLUSTER_MAX_NODES 64 /* masters and seeds, each */
#define CS_REDIS_CLUSTER_REDIRECTS 5

struct cs_redis_cluster;

/* CRC16/XMODEM (poly 0x1021, init 0), the one Redis Cluster's key slots use. */
uint16_t cs_redis_cluster_crc16(const char *buf, size_t len);
/* The slot of a key: of its hash tag, the part between the first '{' and the next '}', if not empty. */
unsigned cs_redis_cluster_slot(const char *key, size_t len);

/*
 * Reads "MOVED <slot> <host>:<port>" or "ASK <slot> <host>:<port>" (an error
 * reply's text): *ask 1 for ASK. -1 when error is neither or malformed.
 */
int cs_redis_cluster_parse_redirect(const char *error, int *ask, unsigned *slot, char *host,
				    size_t hostlen, int *port);

/*
 * A client for the cluster whose seed nodes are nodes ("host:port,host:port",
 * REDIS_CLUSTER_NODES). No connection is made yet. -1 with err when the list
 * is empty or an entry malformed.
 */
int cs_redis_cluster_new(const char *nodes, long connect_timeout_ms, struct cs_redis_cluster **out,
			 char *err, size_t errlen);
void cs_redis_cluster_free(struct cs_redis_cluster *cluster);

/*
 * Replaces the map with a CLUSTER SLOTS reply (borrowed): the masters it
 * names become the cluster's nodes (connections to masters it still names
 * are kept). -1 when the reply is malformed or leaves a slot without master;
 * the old map then stays.
 */
int cs_redis_cluster_apply_slots(struct cs_redis_cluster *cluster, const redisReply *reply);
/* Reads the map from the first node that answers before deadline_ms (monotonic); -1 if none. */
int cs_redis_cluster_refresh(struct cs_redis_cluster *cluster, long long deadline_ms);

/* The masters of the map (0 before the first refresh) and the one serving a slot (-1: none). */
int cs_redis_cluster_node_count(const struct cs_redis_cluster *cluster);
int cs_redis_cluster_node_of_slot(const struct cs_redis_cluster *cluster, unsigned slot);
/* "host:port" of a node (borrowed, valid until the next refresh). */
const char *cs_redis_cluster_node_name(const struct cs_redis_cluster *cluster, int node);

/*
 * The open connection to a master, connecting if needed, its commands timing
 * out at deadline_ms; NULL when it cannot be reached. Borrowed: valid until
 * cs_redis_cluster_drop, a refresh or the next command of the cluster.
 */
redisContext *cs_redis_cluster_connection(struct cs_redis_cluster *cluster, int node,
					  long long deadline_ms);
/*
 * A new connection to the master of slot (the caller's: redisFree it), for a
 * blocking command such as XREAD BLOCK, which holds a connection to itself.
 * NULL when the map has no master for it or it cannot be reached by deadline_ms.
 */
redisContext *cs_redis_cluster_connect_slot(struct cs_redis_cluster *cluster, unsigned slot,
					    long long deadline_ms);
/* Closes a node's connection (after an error on it); the next use reconnects. */
void cs_redis_cluster_drop(struct cs_redis_cluster *cluster, int node);
/* Closes every connection and forgets the map: the next command starts afresh. */
void cs_redis_cluster_reset(struct cs_redis_cluster *cluster);

/*
 * Runs argv (argc words, of lens[i] bytes each, or NUL-terminated when lens
 * is NULL) on the master of key's slot, following MOVED and
 * ASK and reconnecting after a failed connection, until deadline_ms. The
 * reply (possibly an error reply other than a redirection), or NULL when no
 * node answered in time.
 */
redisReply *cs_redis_cluster_command(struct cs_redis_cluster *cluster, const char *key,
				     long long deadline_ms, int argc, const char **argv,
				     const size_t *lens);

#endif

/*
 * redis_cluster.c - the slot map of a Redis Cluster, and commands that follow
 * it (MOVED, ASK, failover) over blocking hiredis connections.
 */
#include "redis_cluster.h"
#include "clock.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#define NO_NODE 0xffff

struct node {
	char name[280]; /* host:port */
	char host[256];
	int port;
	redisContext *redis;
};

struct cs_redis_cluster {
	struct node seeds[CS_REDIS_CLUSTER_MAX_NODES];
	int seed_count;
	struct node masters[CS_REDIS_CLUSTER_MAX_NODES];
	int master_count;
	uint16_t slot_master[CS_REDIS_CLUSTER_SLOTS]; /* index into masters, NO_NODE: unknown */
	long connect_timeout_ms;
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

uint16_t cs_redis_cluster_crc16(const char *buf, size_t len)
{
	uint16_t crc = 0;
	size_t i;
	int bit;

	for (i = 0; i < len; i++) {
		crc ^= (uint16_t)((unsigned char)buf[i] << 8);
		for (bit = 0; bit < 8; bit++)
			crc = (uint16_t)(crc & 0x8000 ? (crc << 1) ^ 0x1021 : crc << 1);
	}
	return crc;
}

unsigned cs_redis_cluster_slot(const char *key, size_t len)
{
	const char *open = memchr(key, '{', len);

	if (open) {
		size_t rest = len - (size_t)(open + 1 - key);
		const char *close = memchr(open + 1, '}', rest);

		if (close && close > open + 1)
			return cs_redis_cluster_crc16(open + 1, (size_t)(close - open - 1)) %
			       CS_REDIS_CLUSTER_SLOTS;
	}
	return cs_redis_cluster_crc16(key, len) % CS_REDIS_CLUSTER_SLOTS;
}

/* "host:port" into a node; -1 when the host is empty or too long, or the port not 1..65535. */
static int node_set(struct node *node, const char *text, size_t len)
{
	const char *colon = NULL;
	char port_text[8];
	size_t i, host_len;
	char *end;
	long port;

	for (i = 0; i < len; i++)
		if (text[i] == ':')
			colon = text + i;
	if (!colon)
		return -1;
	host_len = (size_t)(colon - text);
	if (host_len == 0 || host_len >= sizeof(node->host) ||
	    len - host_len - 1 >= sizeof(port_text) || len - host_len - 1 == 0)
		return -1;
	memcpy(port_text, colon + 1, len - host_len - 1);
	port_text[len - host_len - 1] = '\0';
	port = strtol(port_text, &end, 10);
	if (*end || port < 1 || port > 65535)
		return -1;
	memcpy(node->host, text, host_len);
	node->host[host_len] = '\0';
	node->port = (int)port;
	snprintf(node->name, sizeof(node->name), "%s:%d", node->host, node->port);
	node->redis = NULL;
	return 0;
}

int cs_redis_cluster_parse_redirect(const char *error, int *ask, unsigned *slot, char *host,
				    size_t hostlen, int *port)
{
	struct node target;
	const char *p;
	char *end;
	unsigned long parsed;

	if (!strncmp(error, "MOVED ", 6))
		*ask = 0, p = error + 6;
	else if (!strncmp(error, "ASK ", 4))
		*ask = 1, p = error + 4;
	else
		return -1;
	parsed = strtoul(p, &end, 10);
	if (end == p || *end != ' ' || parsed >= CS_REDIS_CLUSTER_SLOTS)
		return -1;
	if (node_set(&target, end + 1, strlen(end + 1)) < 0 || strlen(target.host) >= hostlen)
		return -1;
	*slot = (unsigned)parsed;
	memcpy(host, target.host, strlen(target.host) + 1);
	*port = target.port;
	return 0;
}

int cs_redis_cluster_new(const char *nodes, long connect_timeout_ms, struct cs_redis_cluster **out,
			 char *err, size_t errlen)
{
	struct cs_redis_cluster *cluster = calloc(1, sizeof(*cluster));
	const char *p = nodes;

	if (!cluster) {
		snprintf(err, errlen, "could not create redis cluster client: out of memory");
		return -1;
	}
	while (*p) {
		size_t len = strcspn(p, ",");

		if (cluster->seed_count == CS_REDIS_CLUSTER_MAX_NODES ||
		    node_set(&cluster->seeds[cluster->seed_count], p, len) < 0) {
			snprintf(
				err, errlen,
				"REDIS_CLUSTER_NODES: expected at most %d host:port, comma-separated",
				CS_REDIS_CLUSTER_MAX_NODES);
			free(cluster);
			return -1;
		}
		cluster->seed_count++;
		p += len;
		if (*p == ',')
			p++;
	}
	if (cluster->seed_count == 0) {
		snprintf(err, errlen, "REDIS_CLUSTER_NODES: no node given");
		free(cluster);
		return -1;
	}
	memset(cluster->slot_master, 0xff, sizeof(cluster->slot_master));
	cluster->connect_timeout_ms = connect_timeout_ms;
	*out = cluster;
	return 0;
}

static void node_close(struct node *node)
{
	if (node->redis) {
		redisFree(node->redis);
		node->redis = NULL;
	}
}

void cs_redis_cluster_reset(struct cs_redis_cluster *cluster)
{
	int i;

	for (i = 0; i < cluster->seed_count; i++)
		node_close(&cluster->seeds[i]);
	for (i = 0; i < cluster->master_count; i++)
		node_close(&cluster->masters[i]);
	cluster->master_count = 0;
	memset(cluster->slot_master, 0xff, sizeof(cluster->slot_master));
}

void cs_redis_cluster_free(struct cs_redis_cluster *cluster)
{
	if (!cluster)
		return;
	cs_redis_cluster_reset(cluster);
	free(cluster);
}

/* A node's connection whose commands give up at deadline_ms; NULL when it cannot be reached. */
static redisContext *node_connection(const struct cs_redis_cluster *cluster, struct node *node,
				     long long deadline_ms)
{
	long long left = deadline_ms - now_ms();

	if (left <= 0)
		return NULL;
	if (node->redis && node->redis->err)
		node_close(node);
	if (!node->redis) {
		long long connect_ms =
			cluster->connect_timeout_ms < left ? cluster->connect_timeout_ms : left;

		node->redis =
			redisConnectWithTimeout(node->host, node->port, timeval_ms(connect_ms));
		if (!node->redis || node->redis->err) {
			node_close(node);
			return NULL;
		}
	}
	redisSetTimeout(node->redis, timeval_ms(left));
	return node->redis;
}

/* One master entry of a CLUSTER SLOTS range: [host, port, id, ...]. */
static int read_master(const redisReply *entry, struct node *node)
{
	char text[280];
	int len;

	if (entry->type != REDIS_REPLY_ARRAY || entry->elements < 2 ||
	    entry->element[0]->type != REDIS_REPLY_STRING ||
	    entry->element[1]->type != REDIS_REPLY_INTEGER)
		return -1;
	len = snprintf(text, sizeof(text), "%s:%lld", entry->element[0]->str,
		       entry->element[1]->integer);
	if (len < 0 || (size_t)len >= sizeof(text))
		return -1;
	return node_set(node, text, (size_t)len);
}

/* A map being read: built aside, so that a malformed reply leaves the old one. */
struct slot_map {
	struct node masters[CS_REDIS_CLUSTER_MAX_NODES];
	int count;
	uint16_t slots[CS_REDIS_CLUSTER_SLOTS];
};

static int read_slot_map(const redisReply *reply, struct slot_map *map)
{
	size_t r;
	int i;

	memset(map->slots, 0xff, sizeof(map->slots));
	map->count = 0;
	if (reply->type != REDIS_REPLY_ARRAY)
		return -1;
	for (r = 0; r < reply->elements; r++) {
		const redisReply *range = reply->element[r];
		struct node master;
		long long first, last, s;

		if (range->type != REDIS_REPLY_ARRAY || range->elements < 3 ||
		    range->element[0]->type != REDIS_REPLY_INTEGER ||
		    range->element[1]->type != REDIS_REPLY_INTEGER ||
		    read_master(range->element[2], &master) < 0)
			return -1;
		first = range->element[0]->integer;
		last = range->element[1]->integer;
		if (first < 0 || last < first || last >= CS_REDIS_CLUSTER_SLOTS)
			return -1;
		for (i = 0; i < map->count && strcmp(map->masters[i].name, master.name) != 0; i++)
			;
		if (i == map->count) {
			if (map->count == CS_REDIS_CLUSTER_MAX_NODES)
				return -1;
			map->masters[map->count++] = master;
		}
		for (s = first; s <= last; s++)
			map->slots[s] = (uint16_t)i;
	}
	for (r = 0; r < CS_REDIS_CLUSTER_SLOTS; r++)
		if (map->slots[r] == NO_NODE)
			return -1;
	return 0;
}

int cs_redis_cluster_apply_slots(struct cs_redis_cluster *cluster, const redisReply *reply)
{
	struct slot_map *map = malloc(sizeof(*map));
	int i, j;

	if (!map)
		return -1;
	if (read_slot_map(reply, map) < 0) {
		free(map);
		return -1;
	}
	/* keep the connections to masters still named, close the others */
	for (j = 0; j < cluster->master_count; j++) {
		for (i = 0;
		     i < map->count && strcmp(map->masters[i].name, cluster->masters[j].name) != 0;
		     i++)
			;
		if (i < map->count)
			map->masters[i].redis = cluster->masters[j].redis;
		else
			node_close(&cluster->masters[j]);
	}
	memcpy(cluster->masters, map->masters, sizeof(map->masters[0]) * (size_t)map->count);
	cluster->master_count = map->count;
	memcpy(cluster->slot_master, map->slots, sizeof(cluster->slot_master));
	free(map);
	return 0;
}

/* CLUSTER SLOTS from node, applied; -1 when it does not answer or its answer is unusable. */
static int refresh_from(struct cs_redis_cluster *cluster, struct node *node, long long deadline_ms)
{
	redisContext *redis = node_connection(cluster, node, deadline_ms);
	redisReply *reply;
	int rc;

	if (!redis)
		return -1;
	reply = redisCommand(redis, "CLUSTER SLOTS");
	if (!reply) {
		node_close(node);
		return -1;
	}
	rc = cs_redis_cluster_apply_slots(cluster, reply);
	freeReplyObject(reply);
	return rc;
}

int cs_redis_cluster_refresh(struct cs_redis_cluster *cluster, long long deadline_ms)
{
	int i;

	/* the masters first: a node that just failed over knows the new map soonest */
	for (i = 0; i < cluster->master_count && now_ms() < deadline_ms; i++)
		if (refresh_from(cluster, &cluster->masters[i], deadline_ms) == 0)
			return 0;
	for (i = 0; i < cluster->seed_count && now_ms() < deadline_ms; i++) {
		int rc = refresh_from(cluster, &cluster->seeds[i], deadline_ms);

		/* seeds are asked rarely: no connection kept */
		node_close(&cluster->seeds[i]);
		if (rc == 0)
			return 0;
	}
	return -1;
}

int cs_redis_cluster_node_count(const struct cs_redis_cluster *cluster)
{
	return cluster->master_count;
}

int cs_redis_cluster_node_of_slot(const struct cs_redis_cluster *cluster, unsigned slot)
{
	if (slot >= CS_REDIS_CLUSTER_SLOTS || cluster->slot_master[slot] == NO_NODE)
		return -1;
	return cluster->slot_master[slot];
}

const char *cs_redis_cluster_node_name(const struct cs_redis_cluster *cluster, int node)
{
	return cluster->masters[node].name;
}

redisContext *cs_redis_cluster_connection(struct cs_redis_cluster *cluster, int node,
					  long long deadline_ms)
{
	if (node < 0 || node >= cluster->master_count)
		return NULL;
	return node_connection(cluster, &cluster->masters[node], deadline_ms);
}

redisContext *cs_redis_cluster_connect_slot(struct cs_redis_cluster *cluster, unsigned slot,
					    long long deadline_ms)
{
	int node = cs_redis_cluster_node_of_slot(cluster, slot);
	struct node copy;

	if (node < 0 && cs_redis_cluster_refresh(cluster, deadline_ms) == 0)
		node = cs_redis_cluster_node_of_slot(cluster, slot);
	if (node < 0)
		return NULL;
	copy = cluster->masters[node];
	copy.redis = NULL;
	return node_connection(cluster, &copy, deadline_ms);
}

void cs_redis_cluster_drop(struct cs_redis_cluster *cluster, int node)
{
	if (node >= 0 && node < cluster->master_count)
		node_close(&cluster->masters[node]);
}

/* The node an ASK names, connected for this one command (not kept: the slot is moving). */
static redisReply *ask_node(struct cs_redis_cluster *cluster, const char *host, int port,
			    long long deadline_ms, int argc, const char **argv, const size_t *lens)
{
	struct node target;
	char text[280];
	redisContext *redis;
	redisReply *reply = NULL, *asking;
	int len = snprintf(text, sizeof(text), "%s:%d", host, port);

	if (len < 0 || (size_t)len >= sizeof(text) || node_set(&target, text, (size_t)len) < 0)
		return NULL;
	redis = node_connection(cluster, &target, deadline_ms);
	if (!redis)
		return NULL;
	asking = redisCommand(redis, "ASKING");
	if (asking && asking->type != REDIS_REPLY_ERROR)
		reply = redisCommandArgv(redis, argc, argv, lens);
	if (asking)
		freeReplyObject(asking);
	node_close(&target);
	return reply;
}

redisReply *cs_redis_cluster_command(struct cs_redis_cluster *cluster, const char *key,
				     long long deadline_ms, int argc, const char **argv,
				     const size_t *lens)
{
	unsigned slot = cs_redis_cluster_slot(key, strlen(key));
	int attempt;

	for (attempt = 0; attempt < CS_REDIS_CLUSTER_REDIRECTS && now_ms() < deadline_ms;
	     attempt++) {
		int node = cs_redis_cluster_node_of_slot(cluster, slot), ask, port;
		redisContext *redis;
		redisReply *reply;
		unsigned moved_slot;
		char host[256];

		if (node < 0) {
			if (cs_redis_cluster_refresh(cluster, deadline_ms) < 0)
				return NULL;
			node = cs_redis_cluster_node_of_slot(cluster, slot);
		}
		redis = cs_redis_cluster_connection(cluster, node, deadline_ms);
		reply = redis ? redisCommandArgv(redis, argc, argv, lens) : NULL;
		if (!reply) {
			/* a master that died or failed over: the map of a live node says who serves now */
			cs_redis_cluster_drop(cluster, node);
			memset(cluster->slot_master, 0xff, sizeof(cluster->slot_master));
			continue;
		}
		if (reply->type != REDIS_REPLY_ERROR ||
		    cs_redis_cluster_parse_redirect(reply->str, &ask, &moved_slot, host,
						    sizeof(host), &port) < 0)
			return reply;
		freeReplyObject(reply);
		if (ask) {
			reply = ask_node(cluster, host, port, deadline_ms, argc, argv, lens);
			if (reply)
				return reply;
			continue;
		}
		/* MOVED: the slot has a new master for good; the whole map is read again */
		memset(cluster->slot_master, 0xff, sizeof(cluster->slot_master));
	}
	return NULL;
}

/* test_redis_cluster.c - key slots, redirections and the slot map (common/redis_cluster.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "clock.h"
#include "events.h"
#include "redis_cluster.h"

/* A reply as hiredis would hand it over, from RESP text. */
static redisReply *parse_resp(const char *text)
{
	redisReader *reader = redisReaderCreate();
	void *reply = NULL;

	assert_non_null(reader);
	assert_int_equal(redisReaderFeed(reader, text, strlen(text)), REDIS_OK);
	assert_int_equal(redisReaderGetReply(reader, &reply), REDIS_OK);
	assert_non_null(reply);
	redisReaderFree(reader);
	return reply;
}

/* CLUSTER SLOTS of three masters on ports a, b, c splitting the slots as redis-cli does. */
static redisReply *three_masters(int a, int b, int c)
{
	char text[1024];

	snprintf(text, sizeof(text),
		 "*3\r\n"
		 "*4\r\n:0\r\n:5460\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$2\r\nid\r\n"
		 "*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$2\r\nr1\r\n"
		 "*3\r\n:5461\r\n:10922\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$2\r\nid\r\n"
		 "*3\r\n:10923\r\n:16383\r\n*3\r\n$9\r\n127.0.0.1\r\n:%d\r\n$2\r\nid\r\n",
		 a, a + 3, b, c);
	return parse_resp(text);
}

static void assert_served_by(const struct cs_redis_cluster *cluster, unsigned slot,
			     const char *name)
{
	int node = cs_redis_cluster_node_of_slot(cluster, slot);

	assert_true(node >= 0);
	assert_string_equal(cs_redis_cluster_node_name(cluster, node), name);
}

static void test_crc16_is_xmodem(void **state)
{
	(void)state;
	/* the check value of CRC-16/XMODEM, which Redis Cluster's specification quotes */
	assert_int_equal(cs_redis_cluster_crc16("123456789", 9), 0x31c3);
	assert_int_equal(cs_redis_cluster_crc16("", 0), 0);
}

static void test_slot_hashes_the_hash_tag_when_there_is_one(void **state)
{
	(void)state;
	/* CLUSTER KEYSLOT's documented examples */
	assert_int_equal(cs_redis_cluster_slot("somekey", 7), 11058);
	assert_int_equal(cs_redis_cluster_slot("foo{hash_tag}", 13), 2515);
	assert_int_equal(cs_redis_cluster_slot("{user1000}.following", 20),
			 cs_redis_cluster_slot("user1000", 8));
	/* the first { and the next }; an empty tag means the whole key */
	assert_int_equal(cs_redis_cluster_slot("foo{bar}{zap}", 13),
			 cs_redis_cluster_slot("bar", 3));
	assert_int_equal(cs_redis_cluster_slot("foo{{bar}}zap", 13),
			 cs_redis_cluster_slot("{bar", 4));
	assert_int_equal(cs_redis_cluster_slot("foo{}{bar}", 10),
			 cs_redis_cluster_crc16("foo{}{bar}", 10) % CS_REDIS_CLUSTER_SLOTS);
	assert_int_equal(cs_redis_cluster_slot("foo{bar", 7),
			 cs_redis_cluster_crc16("foo{bar", 7) % CS_REDIS_CLUSTER_SLOTS);
}

static void test_a_shard_stream_lives_in_the_slot_of_its_number(void **state)
{
	char key[CS_EVENTS_KEY_SIZE], number[8];
	unsigned shard;

	(void)state;
	for (shard = 0; shard < CS_EVENTS_SHARDS; shard++) {
		cs_events_wake_key(shard, key, sizeof(key));
		snprintf(number, sizeof(number), "%u", shard);
		assert_int_equal(cs_redis_cluster_slot(key, strlen(key)),
				 cs_redis_cluster_slot(number, strlen(number)));
	}
	cs_events_wake_key(7, key, sizeof(key));
	assert_string_equal(key, "cs:wake:{7}");
}

static void test_redirects_are_read_and_other_errors_are_not(void **state)
{
	char host[64];
	unsigned slot = 0;
	int ask = -1, port = 0;
	const char *bad[] = { "ERR unknown command", "MOVED",
			      "MOVED x 127.0.0.1:1", "MOVED 16384 127.0.0.1:1",
			      "MOVED 1 127.0.0.1",   "ASK 1 :6379",
			      "MOVED 1 127.0.0.1:0", "CLUSTERDOWN The cluster is down" };
	size_t i;

	(void)state;
	assert_int_equal(cs_redis_cluster_parse_redirect("MOVED 3999 127.0.0.1:6381", &ask, &slot,
							 host, sizeof(host), &port),
			 0);
	assert_int_equal(ask, 0);
	assert_int_equal(slot, 3999);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 6381);
	assert_int_equal(cs_redis_cluster_parse_redirect("ASK 12 redis-b:7001", &ask, &slot, host,
							 sizeof(host), &port),
			 0);
	assert_int_equal(ask, 1);
	assert_int_equal(slot, 12);
	assert_string_equal(host, "redis-b");
	assert_int_equal(port, 7001);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(cs_redis_cluster_parse_redirect(bad[i], &ask, &slot, host,
								 sizeof(host), &port),
				 -1);
}

static void test_seed_list_is_checked(void **state)
{
	struct cs_redis_cluster *cluster = NULL;
	const char *bad[] = {
		"", "127.0.0.1", ":7000", "127.0.0.1:0", "127.0.0.1:7000,,x:1", "127.0.0.1:70000"
	};
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(cs_redis_cluster_new("127.0.0.1:7000,127.0.0.2:7001", 100, &cluster, err,
					      sizeof(err)),
			 0);
	assert_int_equal(cs_redis_cluster_node_count(cluster), 0); /* no map before a refresh */
	assert_int_equal(cs_redis_cluster_node_of_slot(cluster, 0), -1);
	cs_redis_cluster_free(cluster);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cluster = NULL;
		assert_int_equal(cs_redis_cluster_new(bad[i], 100, &cluster, err, sizeof(err)), -1);
		assert_null(cluster);
		assert_non_null(strstr(err, "REDIS_CLUSTER_NODES"));
	}
}

static void test_slot_map_maps_every_slot_to_its_master(void **state)
{
	struct cs_redis_cluster *cluster = NULL;
	redisReply *reply = three_masters(7000, 7001, 7002);
	char err[256];

	(void)state;
	assert_int_equal(cs_redis_cluster_new("127.0.0.1:7000", 100, &cluster, err, sizeof(err)),
			 0);
	assert_int_equal(cs_redis_cluster_apply_slots(cluster, reply), 0);
	assert_int_equal(cs_redis_cluster_node_count(cluster), 3);
	assert_served_by(cluster, 0, "127.0.0.1:7000");
	assert_served_by(cluster, 5460, "127.0.0.1:7000");
	assert_served_by(cluster, 5461, "127.0.0.1:7001");
	assert_served_by(cluster, 16383, "127.0.0.1:7002");
	assert_int_equal(cs_redis_cluster_node_of_slot(cluster, 16384), -1);
	freeReplyObject(reply);

	/* after a failover the promoted replica (7003) serves the first range */
	reply = three_masters(7003, 7001, 7002);
	assert_int_equal(cs_redis_cluster_apply_slots(cluster, reply), 0);
	assert_int_equal(cs_redis_cluster_node_count(cluster), 3);
	assert_served_by(cluster, 42, "127.0.0.1:7003");
	freeReplyObject(reply);
	cs_redis_cluster_free(cluster);
}

static void test_slot_map_refuses_gaps_and_malformed_replies_and_keeps_the_old_map(void **state)
{
	struct cs_redis_cluster *cluster = NULL;
	redisReply *good = three_masters(7000, 7001, 7002), *bad;
	const char *bad_replies[] = {
		/* slots 5461-16383 have no master */
		"*1\r\n*3\r\n:0\r\n:5460\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",
		/* a port that is text */
		"*1\r\n*3\r\n:0\r\n:16383\r\n*2\r\n$9\r\n127.0.0.1\r\n$4\r\n7000\r\n",
		/* a range past the last slot */
		"*1\r\n*3\r\n:0\r\n:16384\r\n*2\r\n$9\r\n127.0.0.1\r\n:7000\r\n",
		/* no master entry */
		"*1\r\n*2\r\n:0\r\n:16383\r\n",
		/* an error instead of the map */
		"-ERR This instance has cluster support disabled\r\n",
	};
	char err[256];
	size_t i;

	(void)state;
	assert_int_equal(cs_redis_cluster_new("127.0.0.1:7000", 100, &cluster, err, sizeof(err)),
			 0);
	assert_int_equal(cs_redis_cluster_apply_slots(cluster, good), 0);
	for (i = 0; i < sizeof(bad_replies) / sizeof(bad_replies[0]); i++) {
		bad = parse_resp(bad_replies[i]);
		assert_int_equal(cs_redis_cluster_apply_slots(cluster, bad), -1);
		freeReplyObject(bad);
		assert_int_equal(cs_redis_cluster_node_count(cluster), 3);
		assert_served_by(cluster, 16000, "127.0.0.1:7002");
	}
	freeReplyObject(good);
	cs_redis_cluster_free(cluster);
}

static void test_command_without_a_reachable_node_gives_up_by_its_deadline(void **state)
{
	struct cs_redis_cluster *cluster = NULL;
	const char *argv[] = { "PING" };
	char err[256];
	long long deadline;

	(void)state;
	/* port 1 on loopback: refused at once */
	assert_int_equal(cs_redis_cluster_new("127.0.0.1:1", 100, &cluster, err, sizeof(err)), 0);
	deadline = cs_clock_monotonic_us() / 1000 + 2000;

	assert_null(cs_redis_cluster_command(cluster, "k", deadline, 1, argv, NULL));
	assert_int_equal(cs_redis_cluster_refresh(cluster, deadline), -1);
	cs_redis_cluster_free(cluster);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_crc16_is_xmodem),
		cmocka_unit_test(test_slot_hashes_the_hash_tag_when_there_is_one),
		cmocka_unit_test(test_a_shard_stream_lives_in_the_slot_of_its_number),
		cmocka_unit_test(test_redirects_are_read_and_other_errors_are_not),
		cmocka_unit_test(test_seed_list_is_checked),
		cmocka_unit_test(test_slot_map_maps_every_slot_to_its_master),
		cmocka_unit_test(
			test_slot_map_refuses_gaps_and_malformed_replies_and_keeps_the_old_map),
		cmocka_unit_test(test_command_without_a_reachable_node_gives_up_by_its_deadline),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

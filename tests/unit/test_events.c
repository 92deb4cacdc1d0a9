/* test_events.c - REDIS_URL parsing and the shard of a user (common/events.c, common/hash.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "events.h"
#include "hash.h"

static void test_parse_url_reads_host_and_port(void **state)
{
	char host[16];
	int port = 0;

	(void)state;
	assert_int_equal(cs_events_parse_url("redis://127.0.0.1:6380", host, sizeof(host), &port),
			 0);
	assert_string_equal(host, "127.0.0.1");
	assert_int_equal(port, 6380);
	assert_int_equal(cs_events_parse_url("redis://cache", host, sizeof(host), &port), 0);
	assert_string_equal(host, "cache");
	assert_int_equal(port, 6379);
	assert_int_equal(cs_events_parse_url("cache:7000", host, sizeof(host), &port), 0);
	assert_string_equal(host, "cache");
	assert_int_equal(port, 7000);
}

static void test_parse_url_refuses_empty_hosts_long_hosts_and_bad_ports(void **state)
{
	const char *bad[] = { "redis://:6379",
			      "redis://",
			      "redis://h:0",
			      "redis://h:65536",
			      "redis://h:-1",
			      "redis://h:x",
			      "redis://a-host-name-too-long:1" };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char host[16];
		int port = 0;

		assert_int_equal(cs_events_parse_url(bad[i], host, sizeof(host), &port), -1);
	}
}

/* FNV-1a's published values: a different hash would move every user to another stream. */
static void test_hash_is_fnv1a(void **state)
{
	(void)state;
	assert_int_equal(cs_hash_fnv1a(""), 0x811c9dc5u);
	assert_int_equal(cs_hash_fnv1a("a"), 0xe40c292cu);
	assert_int_equal(cs_hash_fnv1a("foobar"), 0xbf9cf968u);
}

static void test_shard_is_the_hash_modulo_the_shards_and_stays_in_range(void **state)
{
	char user[32];
	int seen[CS_EVENTS_SHARDS] = { 0 };
	int i;

	(void)state;
	assert_int_equal(cs_events_shard(""), 5);
	assert_int_equal(cs_events_shard("a"), 12);
	assert_int_equal(cs_events_shard("foobar"), 8);
	assert_int_equal(cs_events_shard("user_1"), 2);
	for (i = 0; i < 1000; i++) {
		unsigned shard;

		snprintf(user, sizeof(user), "user_%d", i);
		shard = cs_events_shard(user);
		assert_true(shard < CS_EVENTS_SHARDS);
		seen[shard] = 1;
	}
	for (i = 0; i < CS_EVENTS_SHARDS; i++)
		assert_true(seen[i]); /* users spread over every stream */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_url_reads_host_and_port),
		cmocka_unit_test(test_parse_url_refuses_empty_hosts_long_hosts_and_bad_ports),
		cmocka_unit_test(test_hash_is_fnv1a),
		cmocka_unit_test(test_shard_is_the_hash_modulo_the_shards_and_stays_in_range),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

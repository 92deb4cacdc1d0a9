/*
 * test_db_skip.c - common/db.c's skipping of a pool whose server failed
 * (cs_db_usable, cs_db_failed, cs_db_answered): sync-svc's replica. No
 * server is needed: the pool connects only on acquire.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <unistd.h>

#include "db.h"

static struct cs_db *new_pool(void)
{
	struct cs_config cfg = CS_CONFIG_INIT;
	struct cs_db *db = NULL;
	char err[256];

	cfg.database_url = "postgresql://nobody@127.0.0.1:1/nothing";
	cfg.db_pool_size = 1;
	cfg.db_statement_timeout_ms = 500;
	cfg.db_connect_timeout_s = 2;
	assert_int_equal(cs_db_new(&cfg, NULL, 0, &db, err, sizeof(err)), 0);
	return db;
}

static void test_a_pool_is_usable_until_it_fails(void **state)
{
	struct cs_db *db = new_pool();

	(void)state;
	assert_int_equal(cs_db_usable(db), 1);
	assert_int_equal(cs_db_usable(db), 1);
	cs_db_answered(db);
	assert_int_equal(cs_db_usable(db), 1);
	cs_db_free(db);
}

static void test_a_failed_pool_is_skipped_then_probed_by_one_caller(void **state)
{
	struct cs_db *db = new_pool();

	(void)state;
	cs_db_failed(db, 500);
	assert_int_equal(cs_db_usable(db), 0);
	assert_int_equal(cs_db_usable(db), 0);
	usleep(600 * 1000);
	/* the retry time is over: one probe, the others still skip */
	assert_int_equal(cs_db_usable(db), 1);
	assert_int_equal(cs_db_usable(db), 0);
	/* the probe failed too: skipped again for the retry time */
	cs_db_failed(db, 500);
	assert_int_equal(cs_db_usable(db), 0);
	usleep(600 * 1000);
	assert_int_equal(cs_db_usable(db), 1);
	/* the probe was answered: everyone uses it again */
	cs_db_answered(db);
	assert_int_equal(cs_db_usable(db), 1);
	assert_int_equal(cs_db_usable(db), 1);
	cs_db_free(db);
}

static void test_a_probe_that_never_reports_lets_another_probe_later(void **state)
{
	struct cs_db *db = new_pool();

	(void)state;
	cs_db_failed(db, 500);
	usleep(600 * 1000);
	assert_int_equal(cs_db_usable(db), 1); /* a probe that then hangs or is lost */
	assert_int_equal(cs_db_usable(db), 0);
	usleep(600 * 1000);
	assert_int_equal(cs_db_usable(db), 1);
	cs_db_free(db);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_a_pool_is_usable_until_it_fails),
		cmocka_unit_test(test_a_failed_pool_is_skipped_then_probed_by_one_caller),
		cmocka_unit_test(test_a_probe_that_never_reports_lets_another_probe_later),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

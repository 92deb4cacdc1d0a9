/* test_config.c - settings load from the environment and fail naming the variable. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdlib.h>
#include <string.h>

#include "config.h"

static void test_config_defaults_apply(void **state)
{
	struct cs_config cfg = CS_CONFIG_INIT;
	char err[256];

	(void)state;
	unsetenv("DB_POOL_SIZE");
	unsetenv("DATABASE_URL");
	assert_int_equal(cs_config_load(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.db_pool_size, 4);
	assert_string_equal(cfg.database_url, "postgresql://chatsync@127.0.0.1:15432/chatsync");
	assert_null(cfg.audience);
	cs_config_release(&cfg);
}

static void test_config_rejects_out_of_range_naming_the_variable(void **state)
{
	struct cs_config cfg = CS_CONFIG_INIT;
	char err[256];

	(void)state;
	setenv("DB_POOL_SIZE", "0", 1);
	assert_int_equal(cs_config_load(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "DB_POOL_SIZE"));
	setenv("DB_POOL_SIZE", "4x", 1);
	assert_int_equal(cs_config_load(&cfg, err, sizeof(err)), -1);
	setenv("DB_POOL_SIZE", "8", 1);
	assert_int_equal(cs_config_load(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.db_pool_size, 8);
	cs_config_release(&cfg);
	unsetenv("DB_POOL_SIZE");
}

static void test_config_socket_mode_is_octal(void **state)
{
	struct cs_config cfg = CS_CONFIG_INIT;
	char err[256];

	(void)state;
	unsetenv("CHATSYNC_SOCKET_MODE");
	assert_int_equal(cs_config_load(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.socket_mode, 0660);
	cs_config_release(&cfg);
	setenv("CHATSYNC_SOCKET_MODE", "0600", 1);
	assert_int_equal(cs_config_load(&cfg, err, sizeof(err)), 0);
	assert_int_equal(cfg.socket_mode, 0600);
	cs_config_release(&cfg);
	/* world-writable, and not octal */
	setenv("CHATSYNC_SOCKET_MODE", "0777", 1);
	assert_int_equal(cs_config_load(&cfg, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CHATSYNC_SOCKET_MODE"));
	setenv("CHATSYNC_SOCKET_MODE", "0680", 1);
	assert_int_equal(cs_config_load(&cfg, err, sizeof(err)), -1);
	unsetenv("CHATSYNC_SOCKET_MODE");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_defaults_apply),
		cmocka_unit_test(test_config_rejects_out_of_range_naming_the_variable),
		cmocka_unit_test(test_config_socket_mode_is_octal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

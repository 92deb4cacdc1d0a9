/* test_sockperm.c - a service's socket gets its group and a mode with nothing for others. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "sockperm.h"

struct fixture {
	char dir[32];
	char path[64];
	int fd;
};

static int make_socket(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	assert_non_null(f);
	strcpy(f->dir, "/tmp/test_sockperm.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/s.sock", f->dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", f->path);
	f->fd = socket(AF_UNIX, SOCK_STREAM, 0);
	assert_true(f->fd >= 0);
	assert_int_equal(bind(f->fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	*state = f;
	return 0;
}

static int remove_socket(void **state)
{
	struct fixture *f = *state;

	close(f->fd);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static mode_t mode_of(const char *path)
{
	struct stat st;

	assert_int_equal(stat(path, &st), 0);
	return st.st_mode & 07777;
}

static void test_sockperm_sets_the_mode(void **state)
{
	struct fixture *f = *state;
	char err[256];

	assert_int_equal(cs_sockperm_apply(f->path, 0660, NULL, err, sizeof(err)), 0);
	assert_int_equal(mode_of(f->path), 0660);
	assert_int_equal(cs_sockperm_apply(f->path, 0600, "", err, sizeof(err)), 0);
	assert_int_equal(mode_of(f->path), 0600);
}

static void test_sockperm_refuses_bits_for_others(void **state)
{
	struct fixture *f = *state;
	char err[256];

	assert_int_equal(cs_sockperm_apply(f->path, 0600, NULL, err, sizeof(err)), 0);
	assert_int_equal(cs_sockperm_apply(f->path, 0666, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CHATSYNC_SOCKET_MODE"));
	assert_int_equal(cs_sockperm_apply(f->path, 0662, NULL, err, sizeof(err)), -1);
	assert_int_equal(mode_of(f->path), 0600); /* untouched */
}

static void test_sockperm_sets_a_group_by_number(void **state)
{
	struct fixture *f = *state;
	char err[256], group[32];
	struct stat st;

	/* the process's own group: allowed whoever runs the test */
	snprintf(group, sizeof(group), "%u", (unsigned)getgid());
	assert_int_equal(cs_sockperm_apply(f->path, 0660, group, err, sizeof(err)), 0);
	assert_int_equal(stat(f->path, &st), 0);
	assert_int_equal(st.st_gid, getgid());
}

static void test_sockperm_names_an_unknown_group(void **state)
{
	struct fixture *f = *state;
	char err[256];

	assert_int_equal(
		cs_sockperm_apply(f->path, 0660, "no-such-group-chatsync", err, sizeof(err)), -1);
	assert_non_null(strstr(err, "no-such-group-chatsync"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sockperm_sets_the_mode, make_socket,
						remove_socket),
		cmocka_unit_test_setup_teardown(test_sockperm_refuses_bits_for_others, make_socket,
						remove_socket),
		cmocka_unit_test_setup_teardown(test_sockperm_sets_a_group_by_number, make_socket,
						remove_socket),
		cmocka_unit_test_setup_teardown(test_sockperm_names_an_unknown_group, make_socket,
						remove_socket),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

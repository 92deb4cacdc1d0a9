/*
 * test_request_log.c - request lines are written whole, in order and in
 * batches, show up without a stop, and a stuck output drops lines (counted)
 * instead of holding the request that adds one.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "request_log.h"

static void add_numbered(struct cs_request_log *log, int i)
{
	char request_id[32];

	snprintf(request_id, sizeof request_id, "r%d", i);
	cs_request_log_add(log, "GET", "/api/chats", 200, 1234, request_id, "user_1");
}

static int temp_file(void)
{
	char path[] = "/tmp/test_request_log.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static char *read_all(int fd)
{
	struct stat st;
	char *text;

	assert_int_equal(fstat(fd, &st), 0);
	text = calloc(1, (size_t)st.st_size + 1);
	assert_non_null(text);
	assert_int_equal(pread(fd, text, (size_t)st.st_size, 0), st.st_size);
	return text;
}

static void test_lines_are_whole_and_in_order(void **state)
{
	struct cs_request_log *log = NULL;
	char err[256], *text, *line, *save = NULL, want[64];
	int fd = temp_file(), i = 0;

	(void)state;
	assert_int_equal(cs_request_log_new(fd, &log, err, sizeof err), 0);
	for (int n = 0; n < 1000; n++) /* fewer bytes than may wait: none dropped */
		add_numbered(log, n);
	cs_request_log_free(log); /* writes what waits */
	text = read_all(fd);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		snprintf(want, sizeof want, "\"requestId\":\"r%d\",", i);
		assert_non_null(strstr(line, want));
		assert_true(strncmp(line, "{\"time\":", 8) == 0);
		assert_true(strstr(line, "\"status\":200,\"us\":1234") != NULL);
		assert_int_equal(line[strlen(line) - 1], '}');
	}
	assert_int_equal(i, 1000);
	free(text);
	close(fd);
}

static void test_a_line_shows_up_without_a_stop(void **state)
{
	struct cs_request_log *log = NULL;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	struct stat st = { 0 };
	char err[256];
	int fd = temp_file();

	(void)state;
	assert_int_equal(cs_request_log_new(fd, &log, err, sizeof err), 0);
	add_numbered(log, 0);
	for (int waited = 0; waited < 300 && st.st_size == 0; waited++) {
		nanosleep(&tick, NULL);
		assert_int_equal(fstat(fd, &st), 0);
	}
	assert_true(st.st_size > 0); /* within 3 s, the log still running */
	cs_request_log_free(log);
	close(fd);
}

/*
 * More lines within one window than may wait (about 1.2 MB in 200 ms, paced):
 * written as they fill WRITE_NOW_BYTES, none dropped.
 */
static void test_a_burst_is_written_not_dropped(void **state)
{
	struct cs_request_log *log = NULL;
	struct timespec pause = { 0, 2 * 1000 * 1000 };
	char err[256];
	int fd = temp_file();

	(void)state;
	assert_int_equal(cs_request_log_new(fd, &log, err, sizeof err), 0);
	for (int n = 0; n < 6000; n++) {
		add_numbered(log, n);
		if (n % 60 == 59)
			nanosleep(&pause, NULL);
	}
	assert_int_equal(cs_request_log_dropped(log), 0);
	cs_request_log_free(log);
	close(fd);
}

struct packets {
	int fd;
	int count, longest, whole;
};

static void *read_packets(void *arg)
{
	struct packets *p = arg;
	static char packet[1 << 20];
	ssize_t n;

	while ((n = recv(p->fd, packet, sizeof packet, 0)) > 0) {
		p->count++;
		if (n > p->longest)
			p->longest = (int)n;
		if (packet[0] != '{' || packet[n - 1] != '\n')
			p->whole = 0;
	}
	return NULL;
}

/* Each write is a packet here: whole lines, at most PIPE_BUF bytes, many lines per write. */
static void test_writes_are_whole_lines_within_pipe_buf(void **state)
{
	struct cs_request_log *log = NULL;
	struct packets p = { .whole = 1 };
	pthread_t reader;
	char err[256];
	int sv[2];

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	p.fd = sv[0];
	assert_int_equal(pthread_create(&reader, NULL, read_packets, &p), 0);
	assert_int_equal(cs_request_log_new(sv[1], &log, err, sizeof err), 0);
	for (int n = 0; n < 1000; n++)
		add_numbered(log, n);
	cs_request_log_free(log);
	close(sv[1]);
	pthread_join(reader, NULL);
	close(sv[0]);
	assert_true(p.whole);
	assert_true(p.longest <= PIPE_BUF);
	assert_true(p.longest > PIPE_BUF / 2); /* lines were batched */
	assert_true(p.count < 1000 / 10);
}

static void *drain(void *arg)
{
	int fd = *(int *)arg;
	char chunk[65536];
	long lines = 0;
	ssize_t n;

	while ((n = read(fd, chunk, sizeof chunk)) > 0)
		for (ssize_t i = 0; i < n; i++)
			lines += chunk[i] == '\n';
	return (void *)lines;
}

/* A pipe nobody reads: adding goes on (lines dropped and counted), and nothing else is lost. */
static void test_stuck_output_drops_and_counts(void **state)
{
	struct cs_request_log *log = NULL;
	pthread_t reader;
	void *written;
	char err[256];
	int fds[2], lines = 8000;
	long long dropped;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(cs_request_log_new(fds[1], &log, err, sizeof err), 0);
	for (int n = 0; n < lines; n++)
		add_numbered(log,
			     n); /* ~190 bytes each: past the pipe and CS_REQUEST_LOG_MAX_BYTES */
	dropped = cs_request_log_dropped(log);
	assert_true(dropped > 0);
	assert_int_equal(pthread_create(&reader, NULL, drain, &fds[0]), 0);
	cs_request_log_free(log);
	close(fds[1]);
	pthread_join(reader, &written);
	close(fds[0]);
	assert_int_equal((long long)(long)written + dropped, lines);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_are_whole_and_in_order),
		cmocka_unit_test(test_a_line_shows_up_without_a_stop),
		cmocka_unit_test(test_a_burst_is_written_not_dropped),
		cmocka_unit_test(test_writes_are_whole_lines_within_pipe_buf),
		cmocka_unit_test(test_stuck_output_drops_and_counts),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

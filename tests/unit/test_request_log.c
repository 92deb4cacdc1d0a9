/*
 * test_request_log.c - request lines are written whole and in order: the
 * first at once, the rest per window or once 64 KiB wait, in writes of whole
 * lines within PIPE_BUF; a stuck output drops lines and a failed write loses
 * them, both counted, and adding never waits for either.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "metrics.h"
#include "request_log.h"

#define LONG_WINDOW_MS 60000 /* longer than any wait here: a write seen came early */

static const char *const route_names[] = { "route" };

static void add_numbered(struct cs_request_log *log, int i)
{
	char request_id[32];

	snprintf(request_id, sizeof request_id, "r%d", i);
	cs_request_log_add(log, "GET", "/api/chats", 200, 1234, request_id, "user_1");
}

static struct cs_request_log *start(int fd, long window_ms, struct cs_metrics *metrics)
{
	struct cs_request_log *log = NULL;
	char err[256];

	assert_int_equal(cs_request_log_new(fd, window_ms, metrics, &log, err, sizeof err), 0);
	return log;
}

static long long dropped(struct cs_metrics *metrics)
{
	struct cs_buf text = CS_BUF_INIT;
	const char *name = "chatsync_request_log_lines_dropped_total{service=\"test\"} ";
	const char *at;
	long long n;

	cs_metrics_render(metrics, &text);
	at = strstr(text.data, name);
	assert_non_null(at);
	n = strtoll(at + strlen(name), NULL, 10);
	cs_buf_release(&text);
	return n;
}

static int temp_file(void)
{
	char path[] = "/tmp/test_request_log.XXXXXX";
	int fd = mkstemp(path);

	assert_true(fd >= 0);
	unlink(path);
	return fd;
}

static long long file_size(int fd)
{
	struct stat st;

	assert_int_equal(fstat(fd, &st), 0);
	return (long long)st.st_size;
}

/* Polls for up to 10 s until the file holds at least size bytes; 1 when it does. */
static int grows_to(int fd, long long size)
{
	struct timespec tick = { 0, 10 * 1000 * 1000 };

	for (int waited = 0; waited < 1000 && file_size(fd) < size; waited++)
		nanosleep(&tick, NULL);
	return file_size(fd) >= size;
}

static int count_lines(int fd)
{
	long long size = file_size(fd);
	char *text = calloc(1, (size_t)size + 1);
	int lines = 0;

	assert_non_null(text);
	assert_int_equal(pread(fd, text, (size_t)size, 0), size);
	for (long long i = 0; i < size; i++)
		lines += text[i] == '\n';
	free(text);
	return lines;
}

static void test_lines_are_whole_and_in_order(void **state)
{
	struct cs_metrics *metrics = cs_metrics_new("test", route_names, 1);
	struct cs_request_log *log;
	int fd = temp_file(), i = 0;
	long long size;
	char *text, *line, *save = NULL, want[64];

	(void)state;
	log = start(fd, CS_REQUEST_LOG_WINDOW_MS, metrics);
	for (int n = 0; n < 1000; n++) /* fewer bytes than may wait: none dropped */
		add_numbered(log, n);
	cs_request_log_free(log); /* writes what waits */
	size = file_size(fd);
	text = calloc(1, (size_t)size + 1);
	assert_non_null(text);
	assert_int_equal(pread(fd, text, (size_t)size, 0), size);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save), i++) {
		snprintf(want, sizeof want, "\"requestId\":\"r%d\",", i);
		assert_non_null(strstr(line, want));
		assert_true(strncmp(line, "{\"time\":", 8) == 0);
		assert_non_null(strstr(line, "\"status\":200,\"us\":1234"));
		assert_int_equal(line[strlen(line) - 1], '}');
	}
	free(text);
	assert_int_equal(i, 1000);
	assert_int_equal(dropped(metrics), 0);
	cs_metrics_free(metrics);
	close(fd);
}

/* The first line goes out at once; the next waits for the window. */
static void test_first_line_at_once_then_the_window(void **state)
{
	struct cs_metrics *metrics = cs_metrics_new("test", route_names, 1);
	struct cs_request_log *log;
	struct timespec held = { 0, 300 * 1000 * 1000 };
	int fd = temp_file();
	long long first;

	(void)state;
	log = start(fd, LONG_WINDOW_MS, metrics);
	add_numbered(log, 0);
	assert_true(grows_to(fd, 1));
	first = file_size(fd);
	add_numbered(log, 1);
	nanosleep(&held, NULL);
	assert_int_equal(file_size(fd), first); /* held for the window */
	cs_request_log_free(log);
	assert_int_equal(count_lines(fd), 2);
	cs_metrics_free(metrics);
	close(fd);
}

/* After a quiet spell (the window over, the writer asleep) a line wakes the writer. */
static void test_a_line_after_a_quiet_spell_goes_out(void **state)
{
	struct cs_metrics *metrics = cs_metrics_new("test", route_names, 1);
	struct cs_request_log *log;
	struct timespec quiet = { 0, 300 * 1000 * 1000 };
	int fd = temp_file();
	long long first;

	(void)state;
	log = start(fd, 20, metrics);
	add_numbered(log, 0);
	assert_true(grows_to(fd, 1));
	first = file_size(fd);
	nanosleep(&quiet, NULL);
	add_numbered(log, 1);
	assert_true(grows_to(fd, first + 1));
	cs_request_log_free(log);
	cs_metrics_free(metrics);
	close(fd);
}

/* 64 KiB waiting are written before the window ends. */
static void test_64_kib_go_out_before_the_window_ends(void **state)
{
	struct cs_metrics *metrics = cs_metrics_new("test", route_names, 1);
	struct cs_request_log *log;
	int fd = temp_file(), lines = 1;

	(void)state;
	log = start(fd, LONG_WINDOW_MS, metrics);
	add_numbered(log, 0);
	assert_true(grows_to(fd, 1));   /* the writer now waits out its window */
	while (lines * 160 < 80 * 1024) /* lines are over 160 bytes: past 64 KiB, under the cap */
		add_numbered(log, lines++);
	assert_true(grows_to(fd, 64 * 1024));
	cs_request_log_free(log);
	assert_int_equal(count_lines(fd), lines);
	assert_int_equal(dropped(metrics), 0);
	cs_metrics_free(metrics);
	close(fd);
}

struct packets {
	int fd;
	int count, longest_batch, long_lines, whole;
};

static void *read_packets(void *arg)
{
	struct packets *p = arg;
	static char packet[1 << 20];
	ssize_t n;

	while ((n = recv(p->fd, packet, sizeof packet, 0)) > 0) {
		int lines = 0;

		for (ssize_t i = 0; i < n; i++)
			lines += packet[i] == '\n';
		p->count++;
		if (packet[0] != '{' || packet[n - 1] != '\n')
			p->whole = 0;
		if (n > PIPE_BUF)
			p->long_lines += lines == 1 ? 1 : 1000; /* alone, or a batch too large */
		else if (n > p->longest_batch)
			p->longest_batch = (int)n;
	}
	return NULL;
}

/*
 * Each write is a packet here: whole lines within PIPE_BUF, many lines per
 * write, and a line longer than PIPE_BUF alone.
 */
static void test_writes_are_whole_lines_within_pipe_buf(void **state)
{
	struct cs_metrics *metrics = cs_metrics_new("test", route_names, 1);
	struct cs_request_log *log;
	struct packets p = { .whole = 1 };
	char escaped[513]; /* each \x01 is six bytes once escaped: a line over 6 KB */
	pthread_t reader;
	int sv[2];

	(void)state;
	memset(escaped, 1, sizeof escaped - 1);
	escaped[sizeof escaped - 1] = '\0';
	assert_int_equal(socketpair(AF_UNIX, SOCK_SEQPACKET, 0, sv), 0);
	p.fd = sv[0];
	assert_int_equal(pthread_create(&reader, NULL, read_packets, &p), 0);
	log = start(sv[1], CS_REQUEST_LOG_WINDOW_MS, metrics);
	for (int n = 0; n < 1000; n++) {
		add_numbered(log, n);
		if (n == 500)
			cs_request_log_add(log, "GET", escaped, 200, 1, "long", escaped);
	}
	cs_request_log_free(log);
	close(sv[1]);
	pthread_join(reader, NULL);
	close(sv[0]);
	assert_true(p.whole);
	assert_int_equal(p.long_lines, 1);
	assert_true(p.longest_batch > PIPE_BUF / 2); /* lines were batched */
	assert_true(p.count < 1001 / 10);
	assert_int_equal(dropped(metrics), 0);
	cs_metrics_free(metrics);
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

/* Frees the log while a thread reads the pipe's other end; the lines read. */
static long long free_while_draining(struct cs_request_log *log, int fds[2])
{
	pthread_t reader;
	void *written;

	assert_int_equal(pthread_create(&reader, NULL, drain, &fds[0]), 0);
	cs_request_log_free(log);
	close(fds[1]);
	pthread_join(reader, &written);
	close(fds[0]);
	return (long long)(long)written;
}

/* A pipe nobody reads: adding goes on (lines dropped and counted), and nothing else is lost. */
static void test_stuck_output_drops_and_counts(void **state)
{
	struct cs_metrics *metrics = cs_metrics_new("test", route_names, 1);
	struct cs_request_log *log;
	int fds[2], lines = 8000; /* over 160 bytes each: past the pipe and both buffers */

	(void)state;
	assert_int_equal(pipe(fds), 0);
	log = start(fds[1], CS_REQUEST_LOG_WINDOW_MS, metrics);
	for (int n = 0; n < lines; n++)
		add_numbered(log, n);
	assert_true(dropped(metrics) > 0); /* counted while the writer is stuck */
	assert_int_equal(free_while_draining(log, fds) + dropped(metrics), lines);
	cs_metrics_free(metrics);
}

/*
 * A stop on an output nobody reads gives up within its bound (and the metrics
 * may go); once the output moves, a later stop ends the writer, and every line
 * was written or counted.
 */
static void test_a_stop_on_a_stuck_output_gives_up_then_succeeds(void **state)
{
	struct cs_metrics *metrics = cs_metrics_new("test", route_names, 1);
	struct cs_request_log *log;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	pthread_t reader;
	void *written;
	long long counted;
	int fds[2], lines = 8000, stopped = -1;

	(void)state;
	assert_int_equal(pipe(fds), 0);
	log = start(fds[1], CS_REQUEST_LOG_WINDOW_MS, metrics);
	for (int n = 0; n < lines; n++)
		add_numbered(log, n);
	assert_int_equal(cs_request_log_stop(log), -1);
	counted = dropped(metrics);
	cs_metrics_free(metrics); /* the writer counts no more */
	assert_int_equal(pthread_create(&reader, NULL, drain, &fds[0]), 0);
	for (int tries = 0; tries < 1000 && stopped < 0; tries++) {
		stopped = cs_request_log_stop(log);
		if (stopped < 0)
			nanosleep(&tick, NULL);
	}
	assert_int_equal(stopped, 0);
	cs_request_log_free(log);
	close(fds[1]);
	pthread_join(reader, &written);
	close(fds[0]);
	assert_true(counted > 0);
	assert_int_equal((long long)(long)written + counted, lines);
}

/* A non-blocking output that stays full: the batch is dropped after a bounded wait, and counted. */
static void test_a_full_nonblocking_output_drops_its_batch(void **state)
{
	struct cs_metrics *metrics = cs_metrics_new("test", route_names, 1);
	struct cs_request_log *log;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int fds[2], lines = 1000; /* ~170 KB: more than the pipe holds, less than may wait */

	(void)state;
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
	log = start(fds[1], CS_REQUEST_LOG_WINDOW_MS, metrics);
	for (int n = 0; n < lines; n++)
		add_numbered(log, n);
	for (int waited = 0; waited < 1000 && dropped(metrics) == 0; waited++)
		nanosleep(&tick, NULL);
	assert_true(dropped(metrics) > 0);
	assert_int_equal(free_while_draining(log, fds) + dropped(metrics), lines);
	cs_metrics_free(metrics);
}

/* An output that fails (a pipe without a reader): its lines are counted as dropped. */
static void test_failed_write_counts_its_lines(void **state)
{
	struct cs_metrics *metrics = cs_metrics_new("test", route_names, 1);
	struct cs_request_log *log;
	int fds[2];

	(void)state;
	signal(SIGPIPE, SIG_IGN); /* as in the services, which block it */
	assert_int_equal(pipe(fds), 0);
	close(fds[0]);
	log = start(fds[1], CS_REQUEST_LOG_WINDOW_MS, metrics);
	for (int n = 0; n < 10; n++)
		add_numbered(log, n);
	cs_request_log_free(log);
	close(fds[1]);
	assert_int_equal(dropped(metrics), 10);
	cs_metrics_free(metrics);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_lines_are_whole_and_in_order),
		cmocka_unit_test(test_first_line_at_once_then_the_window),
		cmocka_unit_test(test_a_line_after_a_quiet_spell_goes_out),
		cmocka_unit_test(test_64_kib_go_out_before_the_window_ends),
		cmocka_unit_test(test_writes_are_whole_lines_within_pipe_buf),
		cmocka_unit_test(test_stuck_output_drops_and_counts),
		cmocka_unit_test(test_a_stop_on_a_stuck_output_gives_up_then_succeeds),
		cmocka_unit_test(test_a_full_nonblocking_output_drops_its_batch),
		cmocka_unit_test(test_failed_write_counts_its_lines),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * request_log.c - the request lines' queue and the one thread that writes it
 * (see request_log.h for what it promises).
 */
#include "request_log.h"
#include "buf.h"
#include "clock.h"
#include "log.h"
#include "metrics.h"

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

/* Waiting lines of this size are written at once, the window not waited out. */
#define WRITE_NOW_BYTES (64 * 1024)

/* A non-blocking output that stays full this long: the batch's lines are dropped. */
#define FULL_OUTPUT_WAIT_MS 1000

struct cs_request_log {
	int fd;
	long window_ms;
	struct cs_metrics *metrics;
	pthread_mutex_t lock;
	pthread_cond_t added;  /* on the monotonic clock */
	struct cs_buf waiting; /* whole lines, in the order they were added */
	long long dropped;     /* not queued (full) since the writer last looked */
	int idle;              /* the writer waits for a first line */
	int stopping;

	pthread_t thread;
	int started, lock_made;
};

void cs_request_log_add(struct cs_request_log *log, const char *method, const char *path,
			int status, long long micros, const char *request_id, const char *user_id)
{
	struct cs_buf line = CS_BUF_INIT;

	cs_log_request_line(&line, method, path, status, micros, request_id, user_id);
	pthread_mutex_lock(&log->lock);
	if (log->waiting.len + line.len <= CS_REQUEST_LOG_MAX_BYTES) {
		size_t before = log->waiting.len;

		cs_buf_append(&log->waiting, line.data, line.len);
		/* the writer is woken twice per batch at most, not per line */
		if ((before == 0 && log->idle) ||
		    (before < WRITE_NOW_BYTES && log->waiting.len >= WRITE_NOW_BYTES))
			pthread_cond_signal(&log->added);
	} else {
		/* counted now, not when the writer (maybe stuck for long) next looks */
		log->dropped++;
		cs_metrics_add(log->metrics, CS_COUNTER_REQUEST_LOG_LINES_DROPPED, 1);
	}
	pthread_mutex_unlock(&log->lock);
	cs_buf_release(&line);
}

/* The length of the longest run of whole lines in data[0, len) that fits PIPE_BUF (one line at least). */
static size_t batch_length(const char *data, size_t len)
{
	const char *end;

	if (len <= PIPE_BUF)
		return len;
	end = memrchr(data, '\n', PIPE_BUF);
	if (!end)
		end = memchr(data, '\n', len); /* one line longer than PIPE_BUF: alone */
	return end ? (size_t)(end - data) + 1 : len;
}

static long long count_lines(const char *data, size_t len)
{
	long long lines = 0;

	for (const char *p = data; (p = memchr(p, '\n', len - (size_t)(p - data))); p++)
		lines++;
	return lines;
}

/*
 * 0 when all is written, else the lines not written (the output failed).
 * After a short write the next one starts inside a line: only a file near
 * full or a socket writes short, and the rest of the line still follows.
 */
static long long write_lines(int fd, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, data, batch_length(data, len));

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd out = { .fd = fd, .events = POLLOUT };

			if (poll(&out, 1, FULL_OUTPUT_WAIT_MS) > 0)
				continue;
		}
		if (n <= 0)
			return count_lines(data, len);
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/*
 * After a write, what comes within the window goes out in the next one (under
 * load, one write per window), unless WRITE_NOW_BYTES come first or the log stops.
 */
static void wait_out_window(struct cs_request_log *log)
{
	struct timespec deadline = cs_clock_deadline(CLOCK_MONOTONIC, log->window_ms);

	while (!log->stopping && log->waiting.len < WRITE_NOW_BYTES &&
	       pthread_cond_timedwait(&log->added, &log->lock, &deadline) != ETIMEDOUT)
		;
}

static void *writer(void *arg)
{
	struct cs_request_log *log = arg;
	struct cs_buf out = CS_BUF_INIT, swap;
	long long dropped, lost, unreported = 0; /* dropped since the last warning */

	pthread_mutex_lock(&log->lock);
	for (;;) {
		log->idle = 1;
		while (log->waiting.len == 0 && !log->stopping)
			pthread_cond_wait(&log->added, &log->lock);
		log->idle = 0;
		if (log->waiting.len == 0)
			break; /* stopping, and all written */
		/* the two buffers trade places: each keeps its memory for the next turn */
		swap = out;
		out = log->waiting;
		log->waiting = swap;
		dropped = log->dropped;
		log->dropped = 0;
		pthread_mutex_unlock(&log->lock);
		lost = write_lines(log->fd, out.data, out.len);
		cs_buf_reset(&out);
		if (lost) {
			/* under the lock: a stop that gave up takes the metrics away */
			pthread_mutex_lock(&log->lock);
			cs_metrics_add(log->metrics, CS_COUNTER_REQUEST_LOG_LINES_DROPPED, lost);
			pthread_mutex_unlock(&log->lock);
		}
		unreported += dropped + lost;
		if (unreported && !lost) {
			cs_log_warn(
				"%lld request log lines dropped: the log's output was stuck "
				"or failed",
				unreported);
			unreported = 0;
		}
		pthread_mutex_lock(&log->lock);
		wait_out_window(log);
	}
	pthread_mutex_unlock(&log->lock);
	cs_buf_release(&out);
	return NULL;
}

int cs_request_log_new(int fd, long window_ms, struct cs_metrics *metrics,
		       struct cs_request_log **out, char *err, size_t errlen)
{
	struct cs_request_log *log = calloc(1, sizeof *log);
	pthread_condattr_t monotonic;
	int rc = -1, made;

	if (!log) {
		snprintf(err, errlen, "could not create the request log: out of memory");
		goto out;
	}
	log->fd = fd;
	log->window_ms = window_ms;
	log->metrics = metrics;
	if (pthread_condattr_init(&monotonic) != 0) {
		snprintf(err, errlen, "could not create the request log's locks");
		goto out;
	}
	made = pthread_condattr_setclock(&monotonic, CLOCK_MONOTONIC) == 0 &&
	       pthread_mutex_init(&log->lock, NULL) == 0 &&
	       pthread_cond_init(&log->added, &monotonic) == 0;
	pthread_condattr_destroy(&monotonic);
	if (!made) {
		snprintf(err, errlen, "could not create the request log's locks");
		goto out;
	}
	log->lock_made = 1;
	if (pthread_create(&log->thread, NULL, writer, log) != 0) {
		snprintf(err, errlen, "could not start the request log's writer");
		goto out;
	}
	log->started = 1;
	*out = log;
	log = NULL;
	rc = 0;
out:
	cs_request_log_free(log);
	return rc;
}

int cs_request_log_stop(struct cs_request_log *log)
{
	struct timespec deadline;

	if (!log || !log->started)
		return 0;
	pthread_mutex_lock(&log->lock);
	log->stopping = 1;
	pthread_cond_signal(&log->added);
	pthread_mutex_unlock(&log->lock);
	/* the wall clock, which pthread_timedjoin_np takes */
	deadline = cs_clock_deadline(CLOCK_REALTIME, CS_REQUEST_LOG_STOP_MS);
	if (pthread_timedjoin_np(log->thread, NULL, &deadline) != 0) {
		pthread_mutex_lock(&log->lock);
		log->metrics = NULL; /* the caller may free them now */
		pthread_mutex_unlock(&log->lock);
		return -1;
	}
	log->started = 0;
	return 0;
}

void cs_request_log_free(struct cs_request_log *log)
{
	if (!log || cs_request_log_stop(log) < 0)
		return;
	if (log->lock_made) {
		pthread_cond_destroy(&log->added);
		pthread_mutex_destroy(&log->lock);
	}
	cs_buf_release(&log->waiting);
	free(log);
}

/*
 * request_log.h - the per-request log lines, written in batches.
 *
 *   cs_request_log_new(STDERR_FILENO, &log, err, sizeof err);
 *   ...at the end of each request, in any thread: cs_request_log_add(log, ...);
 *   ...at exit: cs_request_log_free(log);   (writes what waits, then stops)
 *
 * A request's line (log.h's format) is queued, and one thread per process
 * writes the queue: the first line after a quiet spell at once, then under
 * load what came in each CS_REQUEST_LOG_WINDOW_MS in one go, in writes of at
 * most PIPE_BUF bytes that end at a line's end, so that a line written by
 * cs_log at the same time never lands inside one (docs/decisions/request-path.md).
 * A line shows up at most that window (and the write before it) late, and a
 * process killed with kill -9 loses at most that window's lines. cs_log's
 * lines (warnings, errors) are written at once, so one may come before request
 * lines that finished just before it; each line has its time.
 *
 * Adding never waits for the write: past CS_REQUEST_LOG_MAX_BYTES waiting (the
 * output is stuck), lines are dropped and counted, and the count is logged as
 * a warning once the output moves again.
 */
#ifndef CS_REQUEST_LOG_H
#define CS_REQUEST_LOG_H

#include <stddef.h>

#define CS_REQUEST_LOG_WINDOW_MS 100
#define CS_REQUEST_LOG_MAX_BYTES (256 * 1024)

struct cs_request_log;

int cs_request_log_new(int fd, struct cs_request_log **out, char *err, size_t errlen);
void cs_request_log_add(struct cs_request_log *log, const char *method, const char *path,
			int status, long long micros, const char *request_id, const char *user_id);
/* Lines dropped so far because the output was stuck. */
long long cs_request_log_dropped(struct cs_request_log *log);
/* Writes what waits and stops the writer; lines added after are not written. NULL is fine. */
void cs_request_log_stop(struct cs_request_log *log);
/* Stops (as above) and frees; NULL is fine. */
void cs_request_log_free(struct cs_request_log *log);

#endif

/*
 * request_log.h - the per-request log lines, written in batches.
 *
 *   cs_request_log_new(STDERR_FILENO, CS_REQUEST_LOG_WINDOW_MS, metrics, &log, err, sizeof err);
 *   ...at the end of each request, in any thread: cs_request_log_add(log, ...);
 *   ...at exit: cs_request_log_free(log);   (writes what waits, then stops)
 *
 * A request's line (log.h's format) is queued, and one thread per process
 * writes the queue: the first line after a quiet spell at once, then under
 * load what came within each window in one go (sooner once 64 KiB wait), in
 * writes of at most PIPE_BUF bytes that end at a line's end, so that a line
 * cs_log writes at the same time never lands inside one (a line longer than
 * PIPE_BUF is written alone). So a line shows up at most a window and the
 * write before it late (docs/decisions/request-path.md, section 12). cs_log's
 * lines (warnings, errors) are written at once, so one may come before request
 * lines that finished just before it; each line has its time.
 *
 * Adding never waits for the output: past CS_REQUEST_LOG_MAX_BYTES waiting
 * (the output stuck), lines are dropped; those and the lines of a write that
 * failed are counted in metrics (chatsync_request_log_lines_dropped_total)
 * and in a warning after the next write that succeeds. The fd and metrics are
 * borrowed: they must outlive the log (see cs_request_log_stop).
 */
#ifndef CS_REQUEST_LOG_H
#define CS_REQUEST_LOG_H

#include <stddef.h>

#define CS_REQUEST_LOG_WINDOW_MS 100
#define CS_REQUEST_LOG_MAX_BYTES (256 * 1024)
/* longest a stop waits for a stuck output: within the 2 s a service has to exit */
#define CS_REQUEST_LOG_STOP_MS 100

struct cs_metrics;
struct cs_request_log;

int cs_request_log_new(int fd, long window_ms, struct cs_metrics *metrics,
		       struct cs_request_log **out, char *err, size_t errlen);
void cs_request_log_add(struct cs_request_log *log, const char *method, const char *path,
			int status, long long micros, const char *request_id, const char *user_id);
/*
 * Writes what waits and stops the writer: 0, or -1 when the output was still
 * stuck after CS_REQUEST_LOG_STOP_MS. After -1 the writer goes on (it still
 * writes what waits if the output moves, and counts no more in metrics); the
 * fd must stay open, and a later stop may succeed. Lines added once the
 * writer has ended are neither written nor counted. NULL is fine.
 */
int cs_request_log_stop(struct cs_request_log *log);
/* Stops (as above) and frees; after a stop that gave up, leaves the log to the exit. */
void cs_request_log_free(struct cs_request_log *log);

#endif

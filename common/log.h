/*
 * log.h - one JSON object per line on stderr.
 *
 * cs_log_init names the service once at start (the only state kept here).
 * Lines are written with a single write(2) so that threads never interleave;
 * a request's line is only formatted here (request_log.h batches those).
 */
#ifndef CS_LOG_H
#define CS_LOG_H

struct cs_buf;

void cs_log_init(const char *service);
void cs_log(const char *level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends a request's line, newline included, to out (request_log.h writes it). */
void cs_log_request_line(struct cs_buf *out, const char *method, const char *path, int status,
			 long long micros, const char *request_id, const char *user_id);

#define cs_log_info(...) cs_log("info", __VA_ARGS__)
#define cs_log_warn(...) cs_log("warn", __VA_ARGS__)
#define cs_log_error(...) cs_log("error", __VA_ARGS__)

#endif

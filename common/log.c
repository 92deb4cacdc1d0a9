/* log.c - structured log lines. */
#include "log.h"
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static const char *log_service = "chatsync";

void cs_log_init(const char *service)
{
	log_service = service;
}

static void log_begin(struct cs_buf *b, const char *level)
{
	struct timeval tv;
	struct tm tm;
	char when[32];

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
	cs_buf_printf(b, "{\"time\":\"%s.%03ldZ\",\"level\":\"%s\",\"service\":", when,
		      (long)tv.tv_usec / 1000, level);
	cs_buf_json_string(b, log_service, strlen(log_service));
}

static void log_close(struct cs_buf *b)
{
	cs_buf_puts(b, "}\n");
}

static void log_end(struct cs_buf *b)
{
	ssize_t unused;

	log_close(b);
	unused = write(STDERR_FILENO, b->data, b->len);
	(void)unused;
	cs_buf_release(b);
}

void cs_log(const char *level, const char *fmt, ...)
{
	struct cs_buf b = CS_BUF_INIT;
	char message[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	log_begin(&b, level);
	cs_buf_puts(&b, ",\"msg\":");
	cs_buf_json_string(&b, message, strlen(message));
	log_end(&b);
}

static void put_field(struct cs_buf *b, const char *name, const char *value)
{
	cs_buf_printf(b, ",\"%s\":", name);
	if (value)
		cs_buf_json_string(b, value, strnlen(value, 512));
	else
		cs_buf_puts(b, "null");
}

void cs_log_request_line(struct cs_buf *out, const char *method, const char *path, int status,
			 long long micros, const char *request_id, const char *user_id)
{
	log_begin(out, "info");
	put_field(out, "method", method);
	put_field(out, "path", path);
	cs_buf_printf(out, ",\"status\":%d,\"us\":%lld", status, micros);
	put_field(out, "requestId", request_id);
	put_field(out, "userId", user_id);
	log_close(out);
}

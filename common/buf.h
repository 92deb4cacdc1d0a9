/*
 * buf.h - a growable byte buffer (git's strbuf, in small).
 *
 *   struct cs_buf b = CS_BUF_INIT;
 *   cs_buf_append(&b, "x", 1); ... use b.data / b.len ...; cs_buf_release(&b);
 *
 * data is always NUL-terminated once anything was appended. Growth is
 * geometric, so building a large body costs amortised linear time. Allocation
 * failure aborts the process: a service that cannot allocate a few bytes has
 * nothing better to do.
 */
#ifndef CS_BUF_H
#define CS_BUF_H

#include <stddef.h>

struct cs_buf {
	char *data;
	size_t len;
	size_t cap;
};

/* clang-format off */
#define CS_BUF_INIT { NULL, 0, 0 }
/* clang-format on */

void cs_buf_grow(struct cs_buf *b, size_t extra);
void cs_buf_append(struct cs_buf *b, const void *data, size_t len);
void cs_buf_puts(struct cs_buf *b, const char *s);
void cs_buf_putc(struct cs_buf *b, char c);
void cs_buf_printf(struct cs_buf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s as a JSON string literal, quotes included. s must be valid UTF-8. */
void cs_buf_json_string(struct cs_buf *b, const char *s, size_t len);
void cs_buf_reset(struct cs_buf *b);   /* len = 0, keeps the memory */
void cs_buf_release(struct cs_buf *b); /* frees the memory; b is CS_BUF_INIT again */
/* Hands the memory to the caller (free() it); b is CS_BUF_INIT again. */
char *cs_buf_detach(struct cs_buf *b, size_t *len);

#endif

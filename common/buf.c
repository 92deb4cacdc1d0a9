/* buf.c - growable byte buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void cs_buf_grow(struct cs_buf *b, size_t extra)
{
	size_t need = b->len + extra + 1;
	size_t cap;
	char *data;

	if (need <= b->cap)
		return;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap *= 2;
	data = realloc(b->data, cap);
	if (!data)
		abort();
	b->data = data;
	b->cap = cap;
}

void cs_buf_append(struct cs_buf *b, const void *data, size_t len)
{
	cs_buf_grow(b, len);
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
}

void cs_buf_puts(struct cs_buf *b, const char *s)
{
	cs_buf_append(b, s, strlen(s));
}

void cs_buf_putc(struct cs_buf *b, char c)
{
	cs_buf_append(b, &c, 1);
}

void cs_buf_printf(struct cs_buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return;
	cs_buf_grow(b, (size_t)n);
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
}

void cs_buf_json_string(struct cs_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, start = 0;

	cs_buf_grow(b, len + 2);
	cs_buf_putc(b, '"');
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7];
		size_t esc_len = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		cs_buf_append(b, s + start, i - start);
		start = i + 1;
		esc[0] = '\\';
		switch (c) {
		case '"':
			esc[1] = '"';
			break;
		case '\\':
			esc[1] = '\\';
			break;
		case '\n':
			esc[1] = 'n';
			break;
		case '\r':
			esc[1] = 'r';
			break;
		case '\t':
			esc[1] = 't';
			break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			esc_len = 6;
		}
		cs_buf_append(b, esc, esc_len);
	}
	cs_buf_append(b, s + start, len - start);
	cs_buf_putc(b, '"');
}

void cs_buf_reset(struct cs_buf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void cs_buf_release(struct cs_buf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
}

char *cs_buf_detach(struct cs_buf *b, size_t *len)
{
	char *data = b->data;

	if (!data) {
		data = calloc(1, 1);
		if (!data)
			abort();
	}
	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = b->cap = 0;
	return data;
}

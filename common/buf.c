/* buf.c - growable byte buffer. */
#include "buf.h"

#include <stdarg.h>
#include <stdint.h>
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
	if (b->len + len + 1 > b->cap) /* most appends fit: no call then */
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

/*
 * 1 for the bytes a JSON string literal must escape: controls, '"' and '\\'.
 * Everything else, UTF-8 included, is copied as it is, a clean run at a time.
 */
static const unsigned char json_escaped[256] = {
	1,         1,          1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x00 */
	1,         1,          1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, /* 0x10 */
	['"'] = 1, ['\\'] = 1,
};

/*
 * 1 when one of the 8 bytes of word is below 0x20, '"' or '\\': the has-less
 * and has-zero tests of "Bit Twiddling Hacks" (exact about whether such a byte
 * is there, not about where). A clean run is skipped a word at a time, and the
 * word that holds an escape is walked a byte at a time.
 */
static int word_has_escaped(uint64_t word)
{
	const uint64_t ones = 0x0101010101010101ULL, highs = 0x8080808080808080ULL;
	uint64_t quote = word ^ (ones * '"'), backslash = word ^ (ones * '\\');

	return ((((word - ones * 0x20) & ~word) | ((quote - ones) & ~quote) |
		 ((backslash - ones) & ~backslash)) &
		highs) != 0;
}

void cs_buf_json_string(struct cs_buf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s, *end = p + len;
	char *w;

	/* One reservation for the clean case; only an escape grows it again. */
	cs_buf_grow(b, len + 2);
	w = b->data + b->len;
	*w++ = '"';
	while (p < end) {
		const unsigned char *run = p;
		uint64_t word;

		while (end - p >= 8 && (memcpy(&word, p, 8), !word_has_escaped(word)))
			p += 8;
		while (p < end && !json_escaped[*p])
			p++;
		memcpy(w, run, (size_t)(p - run));
		w += p - run;
		if (p == end)
			break;
		/* an escape takes up to 6 bytes for 1: room for it and the rest */
		b->len = (size_t)(w - b->data);
		cs_buf_grow(b, 6 + (size_t)(end - p));
		w = b->data + b->len;
		*w++ = '\\';
		switch (*p) {
		case '"':
		case '\\':
			*w++ = (char)*p;
			break;
		case '\n':
			*w++ = 'n';
			break;
		case '\r':
			*w++ = 'r';
			break;
		case '\t':
			*w++ = 't';
			break;
		default:
			memcpy(w, "u00", 3);
			w[3] = hex[*p >> 4];
			w[4] = hex[*p & 15];
			w += 5;
		}
		p++;
	}
	*w++ = '"';
	b->len = (size_t)(w - b->data);
	b->data[b->len] = '\0';
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

/* cursor.c - "<number>:<text>" in base64url without padding. */
#include "cursor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char alphabet[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

#define CURSOR_MAX 1024

char *cs_cursor_encode(struct cs_arena *arena, long long number, const char *text, size_t len)
{
	char prefix[32];
	size_t plen = (size_t)snprintf(prefix, sizeof(prefix), "%lld:", number);
	size_t raw_len = plen + len, i, o = 0;
	unsigned char *raw = cs_arena_alloc(arena, raw_len + 1);
	char *out = cs_arena_alloc(arena, raw_len * 4 / 3 + 4);

	memcpy(raw, prefix, plen);
	memcpy(raw + plen, text, len);
	for (i = 0; i + 2 < raw_len; i += 3) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8 | raw[i + 2];

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
		out[o++] = alphabet[v & 63];
	}
	if (raw_len - i == 1) {
		unsigned v = (unsigned)raw[i] << 16;

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
	} else if (raw_len - i == 2) {
		unsigned v = (unsigned)raw[i] << 16 | (unsigned)raw[i + 1] << 8;

		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		out[o++] = alphabet[(v >> 6) & 63];
	}
	out[o] = '\0';
	return out;
}

static int sextet(char c)
{
	const char *p = c ? strchr(alphabet, c) : NULL;

	return p ? (int)(p - alphabet) : -1;
}

int cs_cursor_decode(struct cs_arena *arena, const char *cursor, long long *number,
		     const char **text, size_t *len)
{
	size_t in_len = strnlen(cursor, CURSOR_MAX + 1), i, o = 0;
	unsigned char *raw;
	char *colon, *end;
	long long parsed;

	if (in_len == 0 || in_len > CURSOR_MAX || in_len % 4 == 1)
		return -1;
	raw = cs_arena_alloc(arena, in_len);
	for (i = 0; i < in_len; i += 4) {
		int s[4] = { 0, 0, 0, 0 };
		size_t k, n = in_len - i < 4 ? in_len - i : 4;

		for (k = 0; k < n; k++)
			if ((s[k] = sextet(cursor[i + k])) < 0)
				return -1;
		unsigned v = (unsigned)s[0] << 18 | (unsigned)s[1] << 12 | (unsigned)s[2] << 6 |
			     (unsigned)s[3];
		raw[o++] = (unsigned char)(v >> 16);
		if (n > 2)
			raw[o++] = (unsigned char)(v >> 8);
		if (n > 3)
			raw[o++] = (unsigned char)v;
	}
	raw[o] = '\0';
	colon = memchr(raw, ':', o);
	if (!colon)
		return -1;
	errno = 0;
	parsed = strtoll((char *)raw, &end, 10);
	if (errno || end != colon || end == (char *)raw)
		return -1;
	/*
	 * One cursor per position: a text that decodes but is not what
	 * cs_cursor_encode makes (unused bits set, "+5", " 5", "05") is refused.
	 */
	if (strcmp(cs_cursor_encode(arena, parsed, colon + 1, o - (size_t)(colon + 1 - (char *)raw)),
		   cursor) != 0)
		return -1;
	*number = parsed;
	*text = colon + 1;
	*len = o - (size_t)(colon + 1 - (char *)raw);
	return 0;
}

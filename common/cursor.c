/* cursor.c - "<number>:<text>" in base64url without padding. */
#include "cursor.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "utf8.h"

#define CURSOR_MAX 1024

void cs_cursor_append(struct cs_buf *out, long long number, const char *text, size_t len)
{
	struct cs_buf raw = CS_BUF_INIT;
	size_t encoded;

	cs_buf_printf(&raw, "%lld:", number);
	cs_buf_append(&raw, text, len);
	encoded = cs_base64url_encoded_len(raw.len);
	cs_buf_grow(out, encoded + 1);
	out->len +=
		cs_base64url_encode((const unsigned char *)raw.data, raw.len, out->data + out->len);
	out->data[out->len] = '\0';
	cs_buf_release(&raw);
}

char *cs_cursor_encode(struct cs_arena *arena, long long number, const char *text, size_t len)
{
	struct cs_buf out = CS_BUF_INIT;
	char *cursor;

	cs_cursor_append(&out, number, text, len);
	cursor = cs_arena_strndup(arena, out.data, out.len);
	cs_buf_release(&out);
	return cursor;
}

int cs_cursor_decode(struct cs_arena *arena, const char *cursor, long long *number,
		     const char **text, size_t *len)
{
	size_t in_len = strnlen(cursor, CURSOR_MAX + 1), o = 0;
	unsigned char *raw;
	char *colon, *end;
	long long parsed;

	if (in_len == 0 || in_len > CURSOR_MAX)
		return -1;
	raw = cs_arena_alloc(arena, cs_base64url_decoded_max(in_len) + 1);
	if (cs_base64url_decode(cursor, in_len, raw, &o) < 0)
		return -1;
	raw[o] = '\0';
	colon = memchr(raw, ':', o);
	if (!colon)
		return -1;
	errno = 0;
	parsed = strtoll((char *)raw, &end, 10);
	if (errno || end != colon || end == (char *)raw)
		return -1;
	/* the text goes to Postgres as a parameter: a NUL would cut it, bad UTF-8 fail there */
	if (!cs_utf8_valid(colon + 1, o - (size_t)(colon + 1 - (char *)raw)))
		return -1;
	/*
	 * One cursor per position: a text that decodes but is not what
	 * cs_cursor_encode makes ("+5", " 5", "05") is refused; the strict
	 * decoder has already refused unused bits set.
	 */
	if (strcmp(cs_cursor_encode(arena, parsed, colon + 1,
				    o - (size_t)(colon + 1 - (char *)raw)),
		   cursor) != 0)
		return -1;
	*number = parsed;
	*text = colon + 1;
	*len = o - (size_t)(colon + 1 - (char *)raw);
	return 0;
}

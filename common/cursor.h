/*
 * cursor.h - opaque page cursors.
 *
 * A cursor carries the sort key of the last item a page returned: a number
 * and a string (a chat's timestamp and id, a sync version with an empty
 * string). It is base64url text, so clients treat it as opaque and it
 * survives a URL unescaped. Decoding rejects anything this module did not make,
 * and a text that is not UTF-8 or holds a NUL (it goes to SQL as a parameter).
 */
#ifndef CS_CURSOR_H
#define CS_CURSOR_H

#include <stddef.h>

#include "arena.h"
#include "buf.h"

/* A new cursor in the arena. */
char *cs_cursor_encode(struct cs_arena *arena, long long number, const char *text, size_t len);
/* The same appended to out (for a cursor made often on a long request: no arena). */
void cs_cursor_append(struct cs_buf *out, long long number, const char *text, size_t len);
/* 0 and the parts (text in the arena), or -1 when the cursor is malformed. */
int cs_cursor_decode(struct cs_arena *arena, const char *cursor, long long *number,
		     const char **text, size_t *len);

#endif

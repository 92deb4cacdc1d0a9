/*
 * url.h - the parts of a request's URL: percent-decoding and the query string.
 *
 * Pure functions (no request, no I/O) shared by the router (path segments)
 * and the request API (query parameters): what they return lives in the
 * arena, NUL-terminated.
 */
#ifndef CS_URL_H
#define CS_URL_H

#include <stddef.h>

#include "arena.h"

/*
 * Percent-decodes src[0..len) into the arena (*out_len, when not NULL: the
 * decoded length, which may count NUL bytes); '+' becomes a blank when
 * plus_is_space (a query, not a path). NULL on a malformed escape.
 */
char *cs_url_decode(struct cs_arena *arena, const char *src, size_t len, size_t *out_len,
		    int plus_is_space);
/*
 * The value of name in a query string ("a=1&b=x%20y"; NULL is an empty one),
 * decoded; the first name= wins. NULL when absent or malformed.
 */
const char *cs_url_query_value(struct cs_arena *arena, const char *query, const char *name);

#endif

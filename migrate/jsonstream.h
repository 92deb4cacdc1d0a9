/*
 * jsonstream.h - walking one huge JSON object without holding it in memory.
 *
 * An export is one object, {"chats": [rows], "messages": [rows], ...}, that
 * may be gigabytes: jansson would need all of it at once. cs_jsonstream_parse
 * reads the input in fixed-size chunks through a read function, checks that
 * the whole input is one JSON object (the complete grammar: strings and their
 * escapes, numbers, literals, nesting; but not UTF-8, which the caller's
 * json_loadb of each row checks), and hands every element of the array
 * members it is asked for to a callback as the element's own bytes, which
 * the callback may parse with json_loadb. Other members are checked and
 * skipped. Memory stays at one chunk plus the largest element.
 *
 *   static long read_fd(void *ctx, char *buf, size_t cap);   // or cs_jsonstream_read_memory
 *   static const char *const keys[] = { "chats", "messages", NULL };
 *   struct cs_jsonstream_error err;
 *   rc = cs_jsonstream_parse(read_fd, &fd, keys, on_row, arg, &err);
 *
 * Member names are compared byte for byte as they appear between the quotes.
 * A member named in keys whose value is not an array is an error (null is
 * taken as an empty array).
 */
#ifndef CS_JSONSTREAM_H
#define CS_JSONSTREAM_H

#include <stddef.h>

#define CS_JSONSTREAM_CHUNK (1 << 20)
/* Elements larger than this are not collected: the callback gets row = NULL. */
#define CS_JSONSTREAM_MAX_ROW (32 << 20)
#define CS_JSONSTREAM_MAX_DEPTH 2048

/* Fills buf with up to cap bytes: the count, 0 at the end, -1 on error (errno). */
typedef long (*cs_jsonstream_read_fn)(void *ctx, char *buf, size_t cap);

/*
 * One element of the array member `key` (as given in keys), in order.
 * row/len are the element's bytes from its first to its last character,
 * borrowed until the callback returns; row is NULL (len its size) for an
 * element larger than CS_JSONSTREAM_MAX_ROW. Return 0 to go on, -1 to stop.
 */
typedef int (*cs_jsonstream_row_fn)(void *arg, const char *key, const char *row, size_t len);

struct cs_jsonstream_error {
	long long offset; /* byte of the input where the problem is */
	char message[256];
};

/*
 * 0 when the input was exactly one JSON object (surrounding whitespace
 * allowed) and every element was handed over; -1 with err filled when the
 * input is not (or could not be read); -2 when the callback stopped the walk.
 */
int cs_jsonstream_parse(cs_jsonstream_read_fn read, void *ctx, const char *const *keys,
			cs_jsonstream_row_fn on_row, void *arg, struct cs_jsonstream_error *err);

/* A read function over memory: ctx is a struct cs_jsonstream_memory (borrowed bytes). */
struct cs_jsonstream_memory {
	const char *data;
	size_t len;
	size_t pos;
};
long cs_jsonstream_read_memory(void *ctx, char *buf, size_t cap);

/*
 * Walks the members of the JSON object text obj (which must be valid JSON,
 * as cs_jsonstream_parse hands it out): start with *pos = 0; each call gives
 * the next member as pointers into obj (the name without its quotes, escapes
 * left as written; the value's bytes). 1: a member, 0: the end, -1: obj is
 * not an object.
 */
struct cs_jsonstream_field {
	const char *name;
	size_t name_len;
	const char *value;
	size_t value_len;
};
int cs_jsonstream_next_member(const char *obj, size_t len, size_t *pos,
			      struct cs_jsonstream_field *field);

#endif

/*
 * arena.h - per-request memory (nginx's pool, in small).
 *
 * Everything a request allocates for its own use (decoded path segments,
 * query values, ids) comes from its arena and is freed at once by
 * cs_arena_release when the request ends. Nothing in an arena may outlive the
 * request. Allocation failure aborts.
 */
#ifndef CS_ARENA_H
#define CS_ARENA_H

#include <stddef.h>

struct cs_arena_block;

struct cs_arena {
	struct cs_arena_block *head;
};

/* clang-format off */
#define CS_ARENA_INIT { NULL }
/* clang-format on */

void *cs_arena_alloc(struct cs_arena *a, size_t size);                 /* 16-byte aligned */
char *cs_arena_strndup(struct cs_arena *a, const char *s, size_t len); /* NUL-terminated copy */
char *cs_arena_printf(struct cs_arena *a, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cs_arena_release(struct cs_arena *a); /* frees all; the arena is usable again */

#endif

/*
 * router.h - matching a request's path against route patterns.
 *
 *   struct cs_router_path path;
 *   if (cs_router_split(&req->arena, "/api/chats/c%201/branch", &path) < 0) ...400...
 *   if (cs_router_match("/api/chats/:id/branch", &path, params, lens, 4)) ...params[0] is "c 1"...
 *
 * A path is split once into its percent-decoded segments, then compared with
 * each pattern: a literal segment must equal the decoded one byte for byte,
 * ":name" takes any one segment. A trailing slash is ignored. Both functions
 * are pure (no request, no I/O): what they return lives in the arena.
 */
#ifndef CS_ROUTER_H
#define CS_ROUTER_H

#include <stddef.h>

#include "arena.h"

#define CS_ROUTER_MAX_SEGMENTS 16

struct cs_router_path {
	const char *segs[CS_ROUTER_MAX_SEGMENTS]; /* decoded, NUL-terminated (may hold NULs) */
	size_t lens[CS_ROUTER_MAX_SEGMENTS];
	int count;
};

/* 0 and *out; -1 when path does not start with '/', has a malformed escape or too many segments. */
int cs_router_split(struct cs_arena *arena, const char *path, struct cs_router_path *out);

/*
 * 1 when pattern matches path: params[0..] then hold its ":name" segments in
 * order (borrowed from path), at most max_params of them (a pattern with more
 * never matches). 0 otherwise, and params are not written.
 */
int cs_router_match(const char *pattern, const struct cs_router_path *path, const char **params,
		    size_t *param_lens, size_t max_params);

#endif

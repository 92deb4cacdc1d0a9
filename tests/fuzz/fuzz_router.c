/*
 * fuzz_router.c - splitting a request path and matching it against the
 * services' route patterns (common/router.c).
 *
 * The input is a path, or "<pattern>\n<path>" to try a pattern of its own.
 * Promises: segments are at most CS_ROUTER_MAX_SEGMENTS, each no longer than
 * the path; a match fills exactly one parameter per ":name" of the pattern,
 * each one of the path's segments, and a literal segment matches only itself.
 */
#include "fuzz.h"

#include "router.h"

#define MAX_PARAMS 4

/* The patterns of services/<name>/main.c. */
static const char *const patterns[] = {
	"/api/chats",        "/api/chats/:id", "/api/chats/:id/branch", "/api/chats/:id/messages",
	"/api/messages/:id", "/api/sync",      "/api/sync-status",      "/api/sync-status/:device",
	"/api/import",       "/api/export",
};

static size_t count_params(const char *pattern)
{
	size_t n = 0;

	if (*pattern != '/') /* no segment at all: matches only the root */
		return 0;
	for (; *pattern; pattern++)
		if (pattern[0] == '/' && pattern[1] == ':')
			n++;
	return n;
}

static void check_match(const char *pattern, const struct cs_router_path *path)
{
	const char *params[MAX_PARAMS] = { NULL };
	size_t lens[MAX_PARAMS] = { 0 }, i, n;
	int k, found;

	if (!cs_router_match(pattern, path, params, lens, MAX_PARAMS))
		return;
	n = count_params(pattern);
	FUZZ_CHECK(n <= MAX_PARAMS);
	for (i = 0; i < MAX_PARAMS; i++) {
		FUZZ_CHECK((params[i] != NULL) == (i < n));
		for (found = 0, k = 0; params[i] && k < path->count; k++)
			found |= params[i] == path->segs[k] && lens[i] == path->lens[k];
		FUZZ_CHECK(!params[i] || found);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_arena arena = CS_ARENA_INIT;
	struct cs_router_path path;
	char *input = fuzz_cstring(data, size), *pattern = NULL, *raw = input, *nl;
	size_t i;
	int k;

	if ((nl = strchr(input, '\n'))) {
		*nl = '\0';
		pattern = input;
		raw = nl + 1;
	}
	if (cs_router_split(&arena, raw, &path) == 0) {
		FUZZ_CHECK(path.count >= 0 && path.count <= CS_ROUTER_MAX_SEGMENTS);
		for (k = 0; k < path.count; k++)
			FUZZ_CHECK(path.lens[k] <= strlen(raw) &&
				   path.segs[k][path.lens[k]] == '\0');
		for (i = 0; i < sizeof patterns / sizeof patterns[0]; i++)
			check_match(patterns[i], &path);
		if (pattern)
			check_match(pattern, &path);
	}
	free(input);
	cs_arena_release(&arena);
	return 0;
}

/* router.c - splitting a path into segments and matching them against patterns. */
#include "router.h"
#include "url.h"

#include <string.h>

int cs_router_split(struct cs_arena *arena, const char *path, struct cs_router_path *out)
{
	int n = 0;

	if (*path != '/')
		return -1;
	while (*path == '/') {
		size_t len;

		path++;
		len = strcspn(path, "/");
		if (len == 0 && !*path)
			break; /* trailing slash */
		if (n == CS_ROUTER_MAX_SEGMENTS)
			return -1;
		out->segs[n] = cs_url_decode(arena, path, len, &out->lens[n], 0);
		if (!out->segs[n])
			return -1;
		n++;
		path += len;
	}
	out->count = n;
	return 0;
}

int cs_router_match(const char *pattern, const struct cs_router_path *path, const char **params,
		    size_t *param_lens, size_t max_params)
{
	const char *found[CS_ROUTER_MAX_SEGMENTS];
	size_t found_lens[CS_ROUTER_MAX_SEGMENTS], nparams = 0;
	int i = 0;

	while (*pattern == '/') {
		size_t len;

		pattern++;
		len = strcspn(pattern, "/");
		if (i == path->count)
			return 0;
		if (*pattern == ':') {
			if (nparams == max_params)
				return 0;
			found[nparams] = path->segs[i];
			found_lens[nparams++] = path->lens[i];
		} else if (len != path->lens[i] || memcmp(pattern, path->segs[i], len) != 0) {
			return 0;
		}
		pattern += len;
		i++;
	}
	if (i != path->count)
		return 0;
	memcpy(params, found, nparams * sizeof *params);
	memcpy(param_lens, found_lens, nparams * sizeof *param_lens);
	return 1;
}

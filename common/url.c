/* url.c - percent-decoding and query strings. */
#include "url.h"
#include "hex.h"

#include <string.h>

char *cs_url_decode(struct cs_arena *arena, const char *src, size_t len, size_t *out_len,
		    int plus_is_space)
{
	char *out = cs_arena_alloc(arena, len + 1);
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (src[i] == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return NULL;
			hi = cs_hex_digit(src[i + 1]);
			lo = cs_hex_digit(src[i + 2]);
			if (hi < 0 || lo < 0)
				return NULL;
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (plus_is_space && src[i] == '+') {
			out[n++] = ' ';
		} else {
			out[n++] = src[i];
		}
	}
	out[n] = '\0';
	if (out_len)
		*out_len = n;
	return out;
}

const char *cs_url_query_value(struct cs_arena *arena, const char *query, const char *name)
{
	size_t name_len = strlen(name);

	while (query && *query) {
		size_t pair_len = strcspn(query, "&");
		const char *eq = memchr(query, '=', pair_len);
		size_t key_len = eq ? (size_t)(eq - query) : pair_len;

		if (key_len == name_len && !memcmp(query, name, name_len)) {
			const char *value = eq ? eq + 1 : query + pair_len;
			size_t value_len = (size_t)(query + pair_len - value);

			return cs_url_decode(arena, value, value_len, NULL, 1);
		}
		query += pair_len;
		if (*query == '&')
			query++;
	}
	return NULL;
}

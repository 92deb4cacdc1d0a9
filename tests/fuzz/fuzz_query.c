/*
 * fuzz_query.c - the query string and percent-decoding (common/url.c).
 *
 * The input is a query string; the names looked up are those the services
 * read. Promises: a value found decodes into at most its own length, holds
 * no '&' of the raw text that was not escaped, and percent-decoding inverts
 * percent-encoding for any bytes.
 */
#include "fuzz.h"

#include "url.h"

static const char *const names[] = { "cursor", "limit", "since", "device", "after", "" };

static char *percent_encode(struct cs_arena *arena, const uint8_t *in, size_t size)
{
	static const char hex[] = "0123456789ABCDEF";
	char *out = cs_arena_alloc(arena, size * 3 + 1);
	size_t i, o = 0;

	for (i = 0; i < size; i++) {
		out[o++] = '%';
		out[o++] = hex[in[i] >> 4];
		out[o++] = hex[in[i] & 15];
	}
	out[o] = '\0';
	return out;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_arena arena = CS_ARENA_INIT;
	char *query = fuzz_cstring(data, size), *decoded;
	size_t i, len = 0;

	for (i = 0; i < sizeof names / sizeof names[0]; i++) {
		const char *value = cs_url_query_value(&arena, query, names[i]);

		if (value)
			FUZZ_CHECK(strlen(value) <= strlen(query));
	}
	FUZZ_CHECK(cs_url_query_value(&arena, NULL, "cursor") == NULL);

	decoded = cs_url_decode(&arena, (const char *)data, size, &len, size & 1);
	if (decoded)
		FUZZ_CHECK(len <= size && decoded[len] == '\0');
	decoded = cs_url_decode(&arena, percent_encode(&arena, data, size), size * 3, &len, 1);
	FUZZ_CHECK(decoded && len == size && !memcmp(decoded, data, size));
	free(query);
	cs_arena_release(&arena);
	return 0;
}

/*
 * fuzz_base64url.c - the strict base64url decoder every token part and JWK
 * number goes through (common/auth_internal.h).
 *
 * Promises: a decoded string re-encodes to exactly the input (one encoding
 * per byte string), the decoded length is the input's * 3 / 4, and the
 * encoding of any bytes decodes back to them.
 */
#include "fuzz.h"

#include "auth_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *bytes = NULL;
	size_t len = 0;
	char *text = malloc(size * 4 / 3 + 4);

	if (!text)
		abort();
	if (cs_auth_b64url_decode((const char *)data, size, &bytes, &len) == 0) {
		FUZZ_CHECK(bytes != NULL);
		FUZZ_CHECK(len == size * 3 / 4);
		FUZZ_CHECK(fuzz_b64url(bytes, len, text) == size);
		FUZZ_CHECK(memcmp(text, data, size) == 0);
		free(bytes);
		bytes = NULL;
	}

	/* The other direction: any bytes, encoded, decode to themselves. */
	size_t text_len = fuzz_b64url(data, size, text);
	FUZZ_CHECK(cs_auth_b64url_decode(text, text_len, &bytes, &len) == 0);
	FUZZ_CHECK(len == size && memcmp(bytes, data, size) == 0);
	free(bytes);
	free(text);
	return 0;
}

/*
 * fuzz_base64url.c - the strict base64url decoder every token part, JWK
 * number and page cursor goes through (common/base64url.h).
 *
 * Promises: a decoded string re-encodes to exactly the input (one encoding
 * per byte string), the decoded length is the input's * 3 / 4, and the
 * encoding of any bytes decodes back to them; common/'s encoder agrees with
 * the independent one of fuzz.h.
 */
#include "fuzz.h"

#include "base64url.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	unsigned char *bytes = malloc(cs_base64url_decoded_max(size) + 1);
	size_t len = 0;
	char *text = malloc(size * 4 / 3 + 4), *ours = malloc(cs_base64url_encoded_len(size) + 1);

	if (!text || !bytes || !ours)
		abort();
	if (cs_base64url_decode((const char *)data, size, bytes, &len) == 0) {
		FUZZ_CHECK(len == size * 3 / 4);
		FUZZ_CHECK(fuzz_b64url(bytes, len, text) == size);
		FUZZ_CHECK(memcmp(text, data, size) == 0);
	}
	free(bytes);

	/* The other direction: any bytes, encoded, decode to themselves. */
	size_t text_len = fuzz_b64url(data, size, text);
	FUZZ_CHECK(cs_base64url_encode(data, size, ours) == text_len);
	FUZZ_CHECK(strcmp(ours, text) == 0);
	bytes = malloc(cs_base64url_decoded_max(text_len) + 1);
	if (!bytes)
		abort();
	FUZZ_CHECK(cs_base64url_decode(text, text_len, bytes, &len) == 0);
	FUZZ_CHECK(len == size && memcmp(bytes, data, size) == 0);
	free(bytes);
	free(ours);
	free(text);
	return 0;
}

/*
 * fuzz_cursor.c - page cursors (common/cursor.c), which clients send back in
 * the query string.
 *
 * Promises: decoding accepts only what encoding makes (a decoded cursor
 * re-encodes to exactly the input), and what encoding makes (up to the
 * decoder's 1024 characters) decodes back to the number and text when the
 * text is UTF-8 without NUL, and is refused when it is not.
 */
#include "fuzz.h"

#include "cursor.h"
#include "utf8.h"

#define CURSOR_MAX_RAW 768 /* bytes of "<number>:<text>" in the longest cursor, 1024 characters */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_arena arena = CS_ARENA_INIT;
	char *cursor = fuzz_cstring(data, size);
	const char *text = NULL;
	size_t len = 0;
	long long number = 0, back = 0;

	if (cs_cursor_decode(&arena, cursor, &number, &text, &len) == 0)
		FUZZ_CHECK(strcmp(cs_cursor_encode(&arena, number, text, len), cursor) == 0);

	/* The other direction: the first 8 bytes are the number, the rest the text. */
	if (size >= 8) {
		const char *made;
		char prefix[32];

		memcpy(&number, data, 8);
		made = cs_cursor_encode(&arena, number, (const char *)data + 8, size - 8);
		if ((size_t)snprintf(prefix, sizeof prefix, "%lld:", number) + size - 8 <=
		    CURSOR_MAX_RAW) {
			int decoded = cs_cursor_decode(&arena, made, &back, &text, &len);

			if (!cs_utf8_valid((const char *)data + 8, size - 8)) {
				FUZZ_CHECK(decoded == -1);
			} else {
				FUZZ_CHECK(decoded == 0);
				FUZZ_CHECK(back == number && len == size - 8 &&
					   !memcmp(text, data + 8, len));
			}
		}
	}
	free(cursor);
	cs_arena_release(&arena);
	return 0;
}

/*
 * fuzz.h - what every libFuzzer target of tests/fuzz/ shares.
 *
 * A target is one file, fuzz_<parser>.c, defining LLVMFuzzerTestOneInput (and
 * LLVMFuzzerInitialize when it needs set-up). It feeds the input to one parser
 * and checks, beyond "no sanitizer report", the parser's own promises (round
 * trips, output formats, agreement with an oracle); a broken promise is
 * reported with FUZZ_CHECK, which aborts so that libFuzzer keeps the input.
 * tests/fuzz/run.py runs the targets; a crash found becomes a unit test.
 */
#ifndef CS_FUZZ_H
#define CS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define FUZZ_CHECK(cond)                                                                           \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: broken promise: %s\n", __FILE__, __LINE__, #cond); \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

/* A NUL-terminated malloc'ed copy of the input (the caller frees it). */
static inline char *fuzz_cstring(const uint8_t *data, size_t size)
{
	char *s = malloc(size + 1);

	if (!s)
		abort();
	memcpy(s, data, size);
	s[size] = '\0';
	return s;
}

/*
 * Base64url without padding into out (room for size * 4 / 3 + 4 bytes), NUL-
 * terminated; its length. Written here, not taken from common/, so that the
 * targets check chatsync's decoders against an independent encoder.
 */
static inline size_t fuzz_b64url(const uint8_t *in, size_t size, char *out)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, o = 0;

	for (i = 0; i < size; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;
		size_t left = size - i;

		if (left > 1)
			v |= (uint32_t)in[i + 1] << 8;
		if (left > 2)
			v |= in[i + 2];
		out[o++] = alphabet[v >> 18];
		out[o++] = alphabet[(v >> 12) & 63];
		if (left > 1)
			out[o++] = alphabet[(v >> 6) & 63];
		if (left > 2)
			out[o++] = alphabet[v & 63];
	}
	out[o] = '\0';
	return o;
}

#endif

/*
 * test_base64url.c - the one base64url codec (common/base64url.h): the RFC
 * 4648 test vectors without padding, the lengths its callers size buffers
 * with, and every way a text is refused so that each byte string has exactly
 * one encoding.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "base64url.h"

/* 0 and the decoded text in out (NUL-terminated), or -1. */
static int decode(const char *text, char *out, size_t outlen)
{
	size_t len = 0;

	assert_true(cs_base64url_decoded_max(strlen(text)) < outlen);
	if (cs_base64url_decode(text, strlen(text), (unsigned char *)out, &len) < 0)
		return -1;
	assert_true(len <= cs_base64url_decoded_max(strlen(text)));
	out[len] = '\0';
	return 0;
}

static void test_encode_matches_rfc4648_vectors_without_padding(void **state)
{
	static const char *const vectors[][2] = {
		{ "", "" },
		{ "f", "Zg" },
		{ "fo", "Zm8" },
		{ "foo", "Zm9v" },
		{ "foob", "Zm9vYg" },
		{ "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" },
	};
	char out[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof vectors / sizeof vectors[0]; i++) {
		size_t len = strlen(vectors[i][0]);

		assert_int_equal(cs_base64url_encoded_len(len), strlen(vectors[i][1]));
		assert_int_equal(
			cs_base64url_encode((const unsigned char *)vectors[i][0], len, out),
			strlen(vectors[i][1]));
		assert_string_equal(out, vectors[i][1]);
		assert_int_equal(decode(vectors[i][1], out, sizeof out), 0);
		assert_string_equal(out, vectors[i][0]);
	}
}

static void test_encode_uses_the_url_alphabet(void **state)
{
	const unsigned char bytes[] = { 0xfb, 0xff, 0xbf };
	char out[8];

	(void)state;
	cs_base64url_encode(bytes, sizeof bytes, out);
	assert_string_equal(out, "-_-_");
}

static void test_decoded_max_is_exact_for_valid_lengths(void **state)
{
	(void)state;
	assert_int_equal(cs_base64url_decoded_max(0), 0);
	assert_int_equal(cs_base64url_decoded_max(2), 1);
	assert_int_equal(cs_base64url_decoded_max(3), 2);
	assert_int_equal(cs_base64url_decoded_max(4), 3);
	assert_int_equal(cs_base64url_decoded_max(342), 256); /* an RSA 2048 signature */
}

static void test_decode_refuses_all_but_one_encoding(void **state)
{
	static const char *const refused[] = {
		"Zm9v=",           /* padding */
		"Zg==",            /* padding */
		"+_8",             /* base64's alphabet */
		"/_8",    "Zm 9v", /* white space */
		"Zm9v\n", "Zm9vY", /* 6 dangling bits (length % 4 == 1) */
		"Zh",              /* "f" with a non-zero unused bit: a second encoding of it */
		"Zm9",             /* "fo" is Zm8 */
	};
	char out[16];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof refused / sizeof refused[0]; i++)
		if (decode(refused[i], out, sizeof out) != -1)
			fail_msg("\"%s\" was decoded", refused[i]);
}

static void test_decode_reads_no_further_than_len(void **state)
{
	unsigned char out[4] = { 0, 0, 0, 0x55 };
	size_t len = 0;

	(void)state;
	/* "Zm9v" then garbage: only the first 4 characters count */
	assert_int_equal(cs_base64url_decode("Zm9v!!!", 4, out, &len), 0);
	assert_int_equal(len, 3);
	assert_memory_equal(out, "foo", 3);
	assert_int_equal(out[3], 0x55); /* nothing written past decoded_max */
}

static void test_round_trip_of_every_byte_value(void **state)
{
	unsigned char bytes[256], back[256];
	char text[400];
	size_t i, n, len = 0;

	(void)state;
	for (i = 0; i < sizeof bytes; i++)
		bytes[i] = (unsigned char)i;
	for (n = 0; n <= sizeof bytes; n += 37) {
		size_t text_len = cs_base64url_encode(bytes, n, text);

		assert_int_equal(cs_base64url_decode(text, text_len, back, &len), 0);
		assert_int_equal(len, n);
		assert_memory_equal(back, bytes, n);
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encode_matches_rfc4648_vectors_without_padding),
		cmocka_unit_test(test_encode_uses_the_url_alphabet),
		cmocka_unit_test(test_decoded_max_is_exact_for_valid_lengths),
		cmocka_unit_test(test_decode_refuses_all_but_one_encoding),
		cmocka_unit_test(test_decode_reads_no_further_than_len),
		cmocka_unit_test(test_round_trip_of_every_byte_value),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

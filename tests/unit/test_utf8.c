/* test_utf8.c - decoding, encoding, counting and validating UTF-8 (common/utf8.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "utf8.h"

static void test_utf8_length_counts_characters_not_bytes(void **state)
{
	(void)state;
	assert_int_equal(cs_utf8_length("héllo", strlen("héllo")), 5);
	assert_int_equal(cs_utf8_length("😀😀", strlen("😀😀")), 2);
}

static void test_utf8_valid_text_rejects_controls_and_bad_sequences(void **state)
{
	(void)state;
	assert_true(cs_utf8_valid_text("c_01J ü 😀", strlen("c_01J ü 😀")));
	assert_false(cs_utf8_valid_text("a\nb", 3));
	assert_false(cs_utf8_valid_text("a\x7f", 2));
	assert_false(cs_utf8_valid_text("\xc2\x85", 2));     /* C1 control */
	assert_false(cs_utf8_valid_text("\xc0\xaf", 2));     /* overlong */
	assert_false(cs_utf8_valid_text("\xed\xa0\x80", 3)); /* surrogate */
	assert_false(cs_utf8_valid_text("\xe2\x82", 2));     /* truncated */
	assert_false(cs_utf8_valid_text("a\0b", 3));
}

static void test_decode_gives_length_and_code_point(void **state)
{
	unsigned cp = 0;

	(void)state;
	assert_int_equal(cs_utf8_decode("A", 1, &cp), 1);
	assert_int_equal(cp, 'A');
	assert_int_equal(cs_utf8_decode("\xc3\xbcx", 3, &cp), 2);
	assert_int_equal(cp, 0xFC);
	assert_int_equal(cs_utf8_decode("\xe2\x82\xac", 3, &cp), 3);
	assert_int_equal(cp, 0x20AC);
	assert_int_equal(cs_utf8_decode("\xf4\x8f\xbf\xbf", 4, &cp), 4);
	assert_int_equal(cp, 0x10FFFF);
}

static void test_decode_refuses_what_is_not_utf8(void **state)
{
	static const struct {
		const char *s;
		size_t len;
	} bad[] = {
		{ "", 0 },                 /* nothing */
		{ "\x80", 1 },             /* a stray continuation byte */
		{ "\xc0\xaf", 2 },         /* overlong '/' */
		{ "\xe0\x80\xaf", 3 },     /* overlong, three bytes */
		{ "\xf0\x80\x80\xaf", 4 }, /* overlong, four bytes */
		{ "\xed\xa0\x80", 3 },     /* surrogate U+D800 */
		{ "\xf4\x90\x80\x80", 4 }, /* U+110000 */
		{ "\xe2\x82\xac", 2 },     /* cut short by len */
		{ "\xe2\x28\xac", 3 },     /* not a continuation */
		{ "\xf8\x88\x80\x80", 4 }, /* five-byte lead */
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		unsigned cp = 12345;

		assert_int_equal(cs_utf8_decode(bad[i].s, bad[i].len, &cp), 0);
		assert_int_equal(cp, 12345);
	}
}

static void test_encode_inverts_decode_at_every_length(void **state)
{
	static const unsigned cps[] = { 0, 0x7F, 0x80, 0x7FF, 0x800, 0xFFFF, 0x10000, 0x10FFFF };
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(cps) / sizeof(cps[0]); i++) {
		char out[4];
		unsigned back = 0;
		size_t n = cs_utf8_encode(cps[i], out);

		assert_int_equal(n, cps[i] < 0x80      ? 1
				    : cps[i] < 0x800   ? 2
				    : cps[i] < 0x10000 ? 3
						       : 4);
		assert_int_equal(cs_utf8_decode(out, n, &back), n);
		assert_int_equal(back, cps[i]);
	}
}

static void test_is_control_is_c0_del_and_c1(void **state)
{
	(void)state;
	assert_true(cs_utf8_is_control(0));
	assert_true(cs_utf8_is_control(0x1F));
	assert_false(cs_utf8_is_control(' '));
	assert_true(cs_utf8_is_control(0x7F));
	assert_true(cs_utf8_is_control(0x80));
	assert_true(cs_utf8_is_control(0x9F));
	assert_false(cs_utf8_is_control(0xA0));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_utf8_length_counts_characters_not_bytes),
		cmocka_unit_test(test_utf8_valid_text_rejects_controls_and_bad_sequences),
		cmocka_unit_test(test_decode_gives_length_and_code_point),
		cmocka_unit_test(test_decode_refuses_what_is_not_utf8),
		cmocka_unit_test(test_encode_inverts_decode_at_every_length),
		cmocka_unit_test(test_is_control_is_c0_del_and_c1),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

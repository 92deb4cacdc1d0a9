/* utf8.c - decoding, encoding, counting and validating UTF-8. */
#include "utf8.h"

size_t cs_utf8_decode(const char *s, size_t len, unsigned *code_point)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t n, k;
	unsigned cp;

	if (len == 0)
		return 0;
	if (p[0] < 0x80) {
		*code_point = p[0];
		return 1;
	}
	if ((p[0] & 0xE0) == 0xC0) {
		n = 2;
		cp = p[0] & 0x1F;
	} else if ((p[0] & 0xF0) == 0xE0) {
		n = 3;
		cp = p[0] & 0x0F;
	} else if ((p[0] & 0xF8) == 0xF0) {
		n = 4;
		cp = p[0] & 0x07;
	} else {
		return 0;
	}
	if (n > len)
		return 0;
	for (k = 1; k < n; k++) {
		if ((p[k] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[k] & 0x3F);
	}
	/* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
	if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) ||
	    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
		return 0;
	*code_point = cp;
	return n;
}

size_t cs_utf8_encode(unsigned cp, char out[4])
{
	if (cp < 0x80) {
		out[0] = (char)cp;
		return 1;
	}
	if (cp < 0x800) {
		out[0] = (char)(0xC0 | (cp >> 6));
		out[1] = (char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		out[0] = (char)(0xE0 | (cp >> 12));
		out[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
		out[2] = (char)(0x80 | (cp & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (cp >> 18));
	out[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((cp >> 6) & 0x3F));
	out[3] = (char)(0x80 | (cp & 0x3F));
	return 4;
}

int cs_utf8_is_control(unsigned cp)
{
	return cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F);
}

size_t cs_utf8_length(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

/* 1 when s is valid UTF-8 with no NUL, and no control character at all if strict */
static int valid(const char *s, size_t len, int strict)
{
	size_t i = 0;

	while (i < len) {
		unsigned cp;
		size_t n = cs_utf8_decode(s + i, len - i, &cp);

		if (n == 0 || cp == 0 || (strict && cs_utf8_is_control(cp)))
			return 0;
		i += n;
	}
	return 1;
}

int cs_utf8_valid_text(const char *s, size_t len)
{
	return valid(s, len, 1);
}

int cs_utf8_valid(const char *s, size_t len)
{
	return valid(s, len, 0);
}

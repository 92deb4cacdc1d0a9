/*
 * legacy_text.c - the text of a legacy row: COPY text for the staging lines,
 * and JSON string literals decoded straight into it (a general JSON parser
 * spent most of an import's time building trees that were thrown away at
 * once). Decoding refuses what Postgres text cannot hold: invalid UTF-8,
 * \u0000, lone surrogates.
 */
#include "legacy.h"
#include "legacy_internal.h"
#include "hex.h"
#include "utf8.h"

#include <string.h>

/* ---- COPY text ---- */

static void copy_byte(struct cs_buf *out, unsigned char c)
{
	switch (c) {
	case '\\':
		cs_buf_append(out, "\\\\", 2);
		break;
	case '\t':
		cs_buf_append(out, "\\t", 2);
		break;
	case '\n':
		cs_buf_append(out, "\\n", 2);
		break;
	case '\r':
		cs_buf_append(out, "\\r", 2);
		break;
	default:
		cs_buf_putc(out, (char)c);
	}
}

void cs_legacy__copy_text(struct cs_buf *out, const char *s, size_t len)
{
	size_t i, start = 0;

	cs_buf_grow(out, len + 1);
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c != '\\' && c != '\t' && c != '\n' && c != '\r')
			continue;
		cs_buf_append(out, s + start, i - start);
		copy_byte(out, (unsigned char)c);
		start = i + 1;
	}
	cs_buf_append(out, s + start, len - start);
}

void cs_legacy__copy_null(struct cs_buf *out)
{
	cs_buf_puts(out, "\t\\N");
}

void cs_legacy__copy_cstring(struct cs_buf *out, const char *s)
{
	cs_buf_putc(out, '\t');
	cs_legacy__copy_text(out, s, strlen(s));
}

void cs_legacy__copy_int(struct cs_buf *out, long long v)
{
	cs_buf_printf(out, "\t%lld", v);
}

void cs_legacy__copy_bool(struct cs_buf *out, int v)
{
	cs_buf_puts(out, v ? "\tt" : "\tf");
}

/* ---- JSON strings ---- */

/* The four hex digits at p, or -1. */
static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
	unsigned v = 0;
	int i, digit;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		if ((digit = cs_hex_digit(p[i])) < 0)
			return -1;
		v = (v << 4) | (unsigned)digit;
	}
	*out = v;
	return 0;
}

/* Appends code point cp as UTF-8 (COPY-escaped when copy is set). */
static void put_code_point(unsigned cp, struct cs_buf *out, int copy, struct cs_legacy_text *t)
{
	char buf[4];
	size_t n = cs_utf8_encode(cp, buf);

	if (cs_utf8_is_control(cp))
		t->control = 1;
	t->bytes += n;
	t->chars++;
	if (!out)
		return;
	if (copy && n == 1)
		copy_byte(out, (unsigned char)buf[0]);
	else
		cs_buf_append(out, buf, n);
}

/* One escape at *pp (the backslash); advances past it. */
static int put_escape(const unsigned char **pp, const unsigned char *end, struct cs_buf *out,
		      int copy, struct cs_legacy_text *t, const char **why)
{
	static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
	const unsigned char *p = *pp + 1;
	const char *simple;
	unsigned cp, low;

	if (p >= end)
		return -1;
	if (*p != 'u') {
		simple = strchr(simple_in, *p);
		if (!simple || !*p)
			return -1;
		put_code_point((unsigned char)simple_out[simple - simple_in], out, copy, t);
		*pp = p + 1;
		return 0;
	}
	if (hex4(p + 1, end, &cp) < 0)
		return -1;
	p += 5;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &low) < 0 ||
		    low < 0xDC00 || low > 0xDFFF) {
			*why = "a lone UTF-16 surrogate";
			return -1;
		}
		cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
		p += 6;
	} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
		*why = "a lone UTF-16 surrogate";
		return -1;
	} else if (cp == 0) {
		*why = "\\u0000, which the store cannot keep";
		return -1;
	}
	put_code_point(cp, out, copy, t);
	*pp = p;
	return 0;
}

/*
 * Decodes the JSON string literal raw (quotes included) into out (NULL: only
 * check), as COPY text when copy is set; *t describes the decoded string.
 */
int cs_legacy__decode(const char *raw, size_t len, struct cs_buf *out, int copy,
		      struct cs_legacy_text *t, const char **why)
{
	const unsigned char *p = (const unsigned char *)raw + 1;
	const unsigned char *end = (const unsigned char *)raw + len - 1;

	memset(t, 0, sizeof(*t));
	*why = "invalid UTF-8";
	if (len < 2 || raw[0] != '"' || raw[len - 1] != '"')
		return -1;
	if (out)
		cs_buf_grow(out, len);
	while (p < end) {
		const unsigned char *run = p;
		unsigned cp;
		size_t n;

		while (p < end && *p >= 0x20 && *p < 0x7F && *p != '\\')
			p++;
		t->bytes += (size_t)(p - run);
		t->chars += (size_t)(p - run);
		if (out)
			cs_buf_append(out, run, (size_t)(p - run));
		if (p == end)
			break;
		if (*p == '\\') {
			if (put_escape(&p, end, out, copy, t, why) < 0)
				return -1;
			continue;
		}
		if (*p < 0x80) { /* DEL; raw C0 cannot pass the grammar check, but be sure */
			if (*p < 0x20)
				return -1;
			put_code_point(*p++, out, copy, t);
			continue;
		}
		n = cs_utf8_decode((const char *)p, (size_t)(end - p), &cp);
		if (n == 0)
			return -1;
		if (cs_utf8_is_control(cp))
			t->control = 1;
		t->bytes += n;
		t->chars++;
		if (out)
			cs_buf_append(out, p, n);
		p += n;
	}
	return 0;
}

/* Every string inside the raw JSON value s decodes (for jsonb: no \u0000, valid UTF-8). */
int cs_legacy__strings_valid(const char *s, size_t len, const char **why)
{
	size_t i = 0;
	struct cs_legacy_text t;

	while (i < len) {
		size_t j;

		if (s[i] != '"') {
			i++;
			continue;
		}
		for (j = i + 1; j < len && s[j] != '"'; j += s[j] == '\\' ? 2 : 1)
			;
		if (j >= len || cs_legacy__decode(s + i, j - i + 1, NULL, 0, &t, why) < 0)
			return -1;
		i = j + 1;
	}
	return 0;
}

/*
 * legacy_internal.h - what the parts of the legacy module share: COPY text
 * and the decoding of JSON string literals (legacy_text.c). Nothing outside
 * migrate/legacy*.c includes it.
 */
#ifndef CS_LEGACY_INTERNAL_H
#define CS_LEGACY_INTERNAL_H

#include "legacy.h"

struct cs_legacy_text {
	size_t bytes; /* of the decoded string */
	size_t chars; /* code points */
	int control;  /* holds C0, DEL or C1 control characters */
};

/* COPY text: s escaped for a COPY field (no tab before it). */
void cs_legacy__copy_text(struct cs_buf *out, const char *s, size_t len);
/* A tab, then a field: NULL, a C string, an integer, a boolean. */
void cs_legacy__copy_null(struct cs_buf *out);
void cs_legacy__copy_cstring(struct cs_buf *out, const char *s);
void cs_legacy__copy_int(struct cs_buf *out, long long v);
void cs_legacy__copy_bool(struct cs_buf *out, int v);

/*
 * Decodes the JSON string literal raw (quotes included) into out (NULL: only
 * check), as COPY text when copy is set; *t describes the decoded string.
 * -1 with *why when it holds what the store cannot keep.
 */
int cs_legacy__decode(const char *raw, size_t len, struct cs_buf *out, int copy,
		      struct cs_legacy_text *t, const char **why);
/* Every string inside the raw JSON value s decodes (for jsonb: no \u0000, valid UTF-8). */
int cs_legacy__strings_valid(const char *s, size_t len, const char **why);

#endif

/*
 * utf8.h - UTF-8 text: decoding and encoding one code point, counting code
 * points, and validating what the API accepts as text (ids, titles, a
 * token's sub). One decoder serves every reader of UTF-8 (the API's text
 * here, the legacy export's strings in migrate/), so that they agree on what
 * is valid: no overlong forms, no surrogates, nothing past U+10FFFF.
 */
#ifndef CS_UTF8_H
#define CS_UTF8_H

#include <stddef.h>

/*
 * The length (1-4) of the valid UTF-8 sequence at s[0..len), with its code
 * point in *code_point; 0 when s starts with no valid sequence (a stray
 * continuation byte, an overlong form, a surrogate, past U+10FFFF, or cut
 * short by len), and *code_point is then not written.
 */
size_t cs_utf8_decode(const char *s, size_t len, unsigned *code_point);
/* Writes code point cp (at most U+10FFFF, no surrogate) as UTF-8 into out; its length (1-4). */
size_t cs_utf8_encode(unsigned cp, char out[4]);
/* 1 for a control character: C0, DEL or C1. */
int cs_utf8_is_control(unsigned cp);
/* Number of code points in valid UTF-8. */
size_t cs_utf8_length(const char *s, size_t len);
/* 1 when s is valid UTF-8 with no control characters. */
int cs_utf8_valid_text(const char *s, size_t len);
/* 1 when s is valid UTF-8 with no NUL (other control characters allowed). */
int cs_utf8_valid(const char *s, size_t len);

#endif

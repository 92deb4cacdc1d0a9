/*
 * utf8.h - UTF-8 text: counting code points and validating what the API
 * accepts as text (ids, titles, a token's sub).
 */
#ifndef CS_UTF8_H
#define CS_UTF8_H

#include <stddef.h>

/* Number of code points in valid UTF-8. */
size_t cs_utf8_length(const char *s, size_t len);
/* 1 when s is valid UTF-8 with no control characters (C0, DEL, C1). */
int cs_utf8_valid_text(const char *s, size_t len);

#endif

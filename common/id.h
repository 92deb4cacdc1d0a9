/*
 * id.h - document ids.
 *
 * A server-made id is a prefix ("c_", "m_") and a ULID: 48 bits of
 * milliseconds and 80 random bits in Crockford base32, so ids sort by
 * creation time and never collide in practice. A client-chosen id is any
 * 1-255 bytes of UTF-8 without control characters (API.md).
 */
#ifndef CS_ID_H
#define CS_ID_H

#include <stddef.h>

#define CS_ID_MAX 255
#define CS_ID_NEW_SIZE 32 /* room for a prefix of up to 4 bytes, a ULID and NUL */

/* Writes a new id into out (at least CS_ID_NEW_SIZE bytes). */
void cs_id_new(const char *prefix, char out[CS_ID_NEW_SIZE]);
/* 1 when s is an acceptable id. */
int cs_id_valid(const char *s, size_t len);

#endif

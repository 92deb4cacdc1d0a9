/*
 * auth_internal.h - parts of auth.c that other code of chatsync may reach but
 * that are no part of the verifier's API: the fuzz targets (tests/fuzz/) and
 * unit tests drive them directly. Services use auth.h only.
 */
#ifndef CS_AUTH_INTERNAL_H
#define CS_AUTH_INTERNAL_H

#include <stddef.h>

/*
 * Strict base64url without padding (RFC 7515 section 2), as every part of a
 * token and a JWK's n and e are read: only the 64 characters, no '=', no
 * length that leaves 6 dangling bits, no non-zero unused bits, so that each
 * byte string has exactly one encoding. 0 with *out (malloc'ed, the caller
 * frees it, never NULL even when empty) and *outlen; -1 otherwise.
 */
int cs_auth_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen);

#endif

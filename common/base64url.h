/*
 * base64url.h - the one base64url codec of chatsync: without padding, strict
 * (RFC 7515 section 2), as every part of a token, a JWK's n and e, and page
 * cursors are written.
 *
 *   char *text = malloc(cs_base64url_encoded_len(len) + 1);
 *   cs_base64url_encode(bytes, len, text);              ...text is NUL-terminated
 *   unsigned char *raw = malloc(cs_base64url_decoded_max(text_len) + 1);
 *   if (cs_base64url_decode(text, text_len, raw, &raw_len) < 0) ...not base64url...
 *
 * Strict means each byte string has exactly one encoding: decoding accepts
 * only the 64 characters (no '=', no '+' or '/', no white space), no length
 * that leaves 6 dangling bits (len % 4 == 1) and no non-zero unused bits in
 * the last character. Anything else is refused, never repaired.
 *
 * Memory is the caller's: both functions write into a buffer the caller
 * sized with the matching _len/_max function (malloc, an arena or the stack),
 * and neither allocates. Inputs are never read past len.
 */
#ifndef CS_BASE64URL_H
#define CS_BASE64URL_H

#include <stddef.h>

/* Characters of the encoding of len bytes (not counting a NUL). */
size_t cs_base64url_encoded_len(size_t len);

/*
 * Encodes len bytes of in into out, which holds cs_base64url_encoded_len(len)
 * + 1 bytes; out is NUL-terminated. Returns the characters written.
 */
size_t cs_base64url_encode(const unsigned char *in, size_t len, char *out);

/* Bytes that decoding len characters can yield at most. */
size_t cs_base64url_decoded_max(size_t len);

/*
 * Decodes len characters of in into out, which holds
 * cs_base64url_decoded_max(len) bytes (nothing is written past them, no NUL
 * is added). 0 and *outlen (0 for empty input) on success; -1 when in is not
 * strict base64url, with out's contents undefined and *outlen untouched.
 */
int cs_base64url_decode(const char *in, size_t len, unsigned char *out, size_t *outlen);

#endif

/*
 * jwks_internal.h - what the key set (jwks.c) asks of the document reader
 * (jwks_read.c); nothing outside common/jwks*.c includes it.
 */
#ifndef CS_JWKS_INTERNAL_H
#define CS_JWKS_INTERNAL_H

#include <stddef.h>

#include "buf.h"

/*
 * Appends the JWKS document to body: the file when file is not NULL, else
 * what url answers. -1 with why in err (always written, err must not be
 * NULL) when it cannot be read, is an HTTP error or exceeds
 * CS_LIMIT_JWKS_BYTES; body may then hold a part of it.
 */
int cs_jwks__read(const char *file, const char *url, struct cs_buf *body, char *err, size_t errlen);

#endif

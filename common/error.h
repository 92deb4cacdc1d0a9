/*
 * error.h - the one error type every module fills in.
 *
 * A function that can fail returns -1 and, when the caller passed a
 * struct cs_error, writes what an HTTP answer needs: the status, the API.md
 * code and a message fit to show a client (never SQL, a stack or a secret).
 * CS_ERROR_INIT is a 500 "internal", so an error nobody set still answers
 * something true.
 */
#ifndef CS_ERROR_H
#define CS_ERROR_H

#include <stddef.h>

struct cs_error {
	int status;       /* HTTP status */
	const char *code; /* API.md code: "bad_request", "not_found", ... (status.h) */
	char message[256];
	int retry; /* the operation may succeed if tried again */
};

/* clang-format off */
#define CS_ERROR_INIT { 500, "internal", "internal error", 0 }
/* clang-format on */

/* Fills err (when not NULL) and returns -1, so that `return cs_error_set(...)` works. */
int cs_error_set(struct cs_error *err, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#endif

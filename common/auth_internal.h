/*
 * auth_internal.h - what the verifier (auth.c) shares with its rules
 * (auth_rules.c: the configuration read into checks, and the checks of a
 * token's header and claims); nothing outside common/auth*.c includes it.
 */
#ifndef CS_AUTH_INTERNAL_H
#define CS_AUTH_INTERNAL_H

#include <jansson.h>
#include <stddef.h>

#include "auth.h"
#include "jwks.h"

/* What a token must say to be accepted, from struct cs_auth_config. */
struct cs_auth__rules {
	char *issuer;   /* normalized: scheme://host, no trailing slash */
	char **parties; /* authorized parties, NULL when not checked */
	size_t party_count;
	char *audience; /* NULL when not checked */
	long long leeway;
	EVP_MD *digests[CS_JWKS_ALG_COUNT]; /* fetched once; NULL: not allowed */
};

/* clang-format off */
#define CS_AUTH__RULES_INIT { NULL, NULL, 0, NULL, 0, { NULL } }
/* clang-format on */

/* Writes the message to err (when err is not NULL) and returns -1. */
int cs_auth__fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/*
 * Reads cfg's issuer, leeway, algorithms, authorized parties and audience
 * into rules (which must be CS_AUTH__RULES_INIT); -1 with the setting's name
 * in err when one cannot work. rules is then safe to release either way.
 */
int cs_auth__rules_init(struct cs_auth__rules *rules, const struct cs_auth_config *cfg, char *err,
			size_t errlen);
void cs_auth__rules_release(struct cs_auth__rules *rules);

/*
 * A token's header (a JSON object, borrowed): 0 with its allowed *alg and
 * its *kid (borrowed from header, NUL-terminated, at most CS_JWKS_KID_MAX
 * bytes); -1 and why.
 */
int cs_auth__check_header(const struct cs_auth__rules *rules, json_t *header, enum cs_jwks_alg *alg,
			  const char **kid, char *err, size_t errlen);

/*
 * The claims (a JSON object, borrowed) of a token whose signature holds, at
 * now_s: 0 with *user and *not_before (max(nbf, iat), or LLONG_MIN); -1 and why.
 */
int cs_auth__check_claims(const struct cs_auth__rules *rules, json_t *claims, long long now_s,
			  struct cs_auth_user *user, long long *not_before, char *err,
			  size_t errlen);

#endif

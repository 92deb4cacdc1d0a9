/*
 * auth.h - verifying the users' JWTs (Clerk session tokens) against a JWKS.
 *
 *   struct cs_auth_config cfg = { .issuer = "clerk.example.com" };
 *   struct cs_auth *auth;
 *   if (cs_auth_new(&cfg, &auth, err, sizeof err) < 0) ...fail at start...
 *   ...in any thread, per request:
 *   if (cs_auth_token_from_request(method, authz, cookie, &tok, &tok_len) < 0 ||
 *       cs_auth_verify(auth, tok, tok_len, time(NULL), &user, err, sizeof err) < 0)
 *           ...401, log err...
 *   ...at exit: cs_auth_free(auth);
 *
 * A struct cs_auth is one verifier: the configuration, the signing keys (a
 * struct cs_jwks, jwks.h: read from JWKS_FILE, JWKS_URL or
 * https://<issuer>/.well-known/jwks.json, lazily on the first verify and again
 * on an unknown kid, at most once per 30 s) and a bounded cache of tokens
 * already verified. All of it is behind its own locks: cs_auth_verify may be
 * called from any number of threads at once.
 *
 * What is accepted, exactly (docs/auth.md says why): a compact JWS of three
 * base64url segments (base64url.h), at most CS_AUTH_TOKEN_MAX bytes; a header
 * whose alg is in the allow-list (RS256, RS384, RS512; default RS256; never
 * "none" or HMAC), with a kid (at most CS_JWKS_KID_MAX bytes) naming an RSA
 * key of the JWKS, typ "JWT" when present and no crit; a valid signature;
 * then the claims: iss equal to the configured issuer, sub a string, exp an
 * integer in the future, nbf and iat, when present, integers not in the
 * future (all with leeway_s of clock skew), azp among the authorized parties
 * and aud equal to the audience when those are configured.
 *
 * Tokens are only verified here: making them is the command-line tool's
 * (cli/devkeys.h), which the services do not link.
 *
 * Errors: functions return 0 or -1; on -1 they write a lowercase message to
 * err (when err is not NULL) for the logs. It never contains the token or any
 * text taken from it. Out-parameters are written only on success.
 */
#ifndef CS_AUTH_H
#define CS_AUTH_H

#include <stddef.h>

#include "id.h"

#define CS_AUTH_TOKEN_MAX 16384 /* bytes; a longer token is rejected unread */
/* verified tokens kept per process (the default), in sets of CS_AUTH_CACHE_WAYS */
#define CS_AUTH_CACHE_ENTRIES 4096
#define CS_AUTH_CACHE_WAYS 4

/*
 * Borrowed by cs_auth_new, which copies what it keeps: the strings may be
 * freed once it returns. NULL and "" both mean "not set".
 */
struct cs_auth_config {
	const char *issuer; /* CLERK_JWT_ISSUER_DOMAIN, "host" or "https://host"; required */
	const char
		*authorized_parties; /* CLERK_AUTHORIZED_PARTIES: comma list of origins for azp */
	const char *audience;        /* JWT_AUDIENCE: required aud */
	const char *jwks_file;       /* JWKS_FILE: wins over jwks_url, re-read on refresh */
	const char *jwks_url;        /* JWKS_URL: default https://<issuer>/.well-known/jwks.json */
	int leeway_s;                /* JWT_LEEWAY_S: 0..300; negative means the default, 5 */
	const char *algorithms;      /* JWT_ALGORITHMS: comma list, default "RS256" */
	size_t cache_entries;        /* verified tokens kept at most; 0: CS_AUTH_CACHE_ENTRIES */
};

struct cs_auth; /* opaque */

struct cs_auth_user {
	char sub[CS_ID_MAX + 1]; /* the user id (document.h's id rule), NUL-terminated */
	long long exp;           /* the token's exp, seconds since the epoch */
};

/*
 * Counters since cs_auth_new, for the tests and the JWKS fuzz target; /metrics
 * does not render them (its counters are metrics.h's).
 */
struct cs_auth_stats {
	unsigned long long verified;         /* cs_auth_verify returned 0 */
	unsigned long long rejected;         /* cs_auth_verify returned -1 */
	unsigned long long cache_hits;       /* accepted without a signature check */
	unsigned long long cache_entries;    /* verified tokens held now */
	unsigned long long jwks_loads;       /* key set reads attempted (file or URL) */
	unsigned long long jwks_load_errors; /* of those, failed ones (the old keys were kept) */
};

/*
 * Makes a verifier; *out is the caller's, freed with cs_auth_free. Fails on a
 * configuration that cannot work (no issuer, an algorithm that is not RS*,
 * a leeway above 300) but not on an unreachable JWKS: keys load on first use.
 */
int cs_auth_new(const struct cs_auth_config *cfg, struct cs_auth **out, char *err, size_t errlen);
/* Frees the verifier; NULL is fine. No verify may be running. */
void cs_auth_free(struct cs_auth *auth);

/*
 * Verifies token (len bytes, no NUL needed) at time now_s (seconds since the
 * epoch; time(NULL) outside tests). 0: *out holds the user. -1: reject (401).
 * May read the JWKS file or fetch the JWKS URL (libcurl, a few seconds at most)
 * when the token's kid is unknown; the locks are not held meanwhile.
 */
int cs_auth_verify(struct cs_auth *auth, const char *token, size_t len, long long now_s,
		   struct cs_auth_user *out, char *err, size_t errlen);

void cs_auth_stats(struct cs_auth *auth, struct cs_auth_stats *out);

/*
 * The token of an Authorization header value "Bearer <token>": the scheme is
 * case-insensitive (RFC 7235), blanks around the parts are skipped, the token
 * is one word. 0: *token points into h (borrowed, *len bytes, not
 * NUL-terminated). -1: another scheme, no token, or more than one word.
 * The one parser of the header, for user tokens and the service token alike.
 */
int cs_auth_bearer_token(const char *h, const char **token, size_t *len);

/*
 * Finds the token of a request: "Authorization: Bearer <token>", or for GET
 * and HEAD only, when there is no Authorization header, the __session cookie.
 * authorization and cookie are the header values or NULL. 0: *token points
 * into authorization or cookie (borrowed, *len bytes, not NUL-terminated).
 * -1: no token, an Authorization header that is not Bearer, or a write with
 * only a cookie.
 */
int cs_auth_token_from_request(const char *method, const char *authorization, const char *cookie,
			       const char **token, size_t *len);

#endif

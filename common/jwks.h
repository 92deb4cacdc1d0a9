/*
 * jwks.h - the signing keys that tokens are verified with: a JSON Web Key Set
 * read from a file or fetched from a URL, and kept fresh.
 *
 *   struct cs_jwks *jwks;
 *   if (cs_jwks_new(file, url, &jwks, err, sizeof err) < 0) ...fail at start...
 *   ...in any thread:
 *   EVP_PKEY *pkey;
 *   if (cs_jwks_key(jwks, kid, CS_JWKS_RS256, now_s, &pkey, err, sizeof err) == 0) {
 *           ...verify with pkey...; EVP_PKEY_free(pkey);
 *   }
 *   ...at exit: cs_jwks_free(jwks);
 *
 * The set is read lazily: on the first lookup, and again when a lookup names
 * a kid the set does not hold, at most once per 30 s. A failed read keeps the
 * keys read before. Only RSA signing keys with a 2048 to 16384-bit modulus are
 * kept; any other key in the document (EC, oct, "use":"enc", no kid, a kid
 * seen before) is skipped, so that a token naming it finds no key. At most
 * 64 keys; a document of at most 1 MiB, nested at most CS_LIMIT_JWKS_DEPTH
 * deep (bounds.h), is parsed. A fetch takes a few seconds at most (libcurl,
 * http or https, no signals).
 *
 * Thread safety: cs_jwks_key may run in any number of threads at once; a read
 * runs with no lock held, and threads that want the key it brings wait for it
 * rather than fail. Errors: 0 or -1, with a lowercase message in err (errlen
 * bytes, never NULL) that never repeats the kid asked for.
 */
#ifndef CS_JWKS_H
#define CS_JWKS_H

#include <stddef.h>

#include <openssl/types.h>

#define CS_JWKS_KID_MAX 128 /* bytes of a kid, in a token or a JWKS */

/* What a key may sign with: RSA PKCS#1 v1.5 with SHA-2, nothing else. */
enum cs_jwks_alg { CS_JWKS_RS256, CS_JWKS_RS384, CS_JWKS_RS512, CS_JWKS_ALG_COUNT };

/* The algorithm named by the JWS "alg" name (len bytes, exact case), or -1. */
int cs_jwks_alg_from_name(const char *name, size_t len);
/* Its OpenSSL digest name ("SHA256" ...), static. */
const char *cs_jwks_alg_digest(enum cs_jwks_alg alg);

struct cs_jwks; /* opaque */

/* Key set reads since cs_jwks_new. */
struct cs_jwks_stats {
	unsigned long long loads;       /* reads attempted (file or URL) */
	unsigned long long load_errors; /* of those, failed ones (the old keys were kept) */
};

/*
 * A key set read from file when it is set (re-read on refresh), else
 * fetched from url; both are borrowed (copied). Nothing is read yet. *out is
 * the caller's, freed with cs_jwks_free. When it fetches, it initializes
 * libcurl (curl_global_init): call it before starting threads.
 */
int cs_jwks_new(const char *file, const char *url, struct cs_jwks **out, char *err, size_t errlen);
/* Frees the set; NULL is fine. No lookup may be running. */
void cs_jwks_free(struct cs_jwks *jwks);

/*
 * The key named kid (a NUL-terminated string) for alg, at time now_s
 * (seconds since the epoch): 0 and *pkey, a new reference the caller frees
 * with EVP_PKEY_free; -1 when no key has that kid (after the one reload
 * allowed), when its JWK names another alg, or when the set cannot be read.
 */
int cs_jwks_key(struct cs_jwks *jwks, const char *kid, enum cs_jwks_alg alg, long long now_s,
		EVP_PKEY **pkey, char *err, size_t errlen);

void cs_jwks_stats(struct cs_jwks *jwks, struct cs_jwks_stats *out);

#endif

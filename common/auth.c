/*
 * auth.c - JWT verification against a JWKS (see auth.h for the contract).
 *
 * The token is taken apart and checked here, not by libjwt
 * (docs/decisions/libjwt.md says why): the signature is checked with
 * OpenSSL's EVP_DigestVerify over "header.payload", with the digest chosen by
 * our allow-list and a key that must be an RSA key from the JWKS. The token
 * never chooses how it is verified, and there is no code path that verifies
 * without a key.
 *
 * Order of work per token: length cap, cache (the whole token), split,
 * header (auth_rules.c), key by kid (jwks.c), signature, then the claims
 * (auth_rules.c). Nothing of the payload is trusted before the signature
 * holds.
 *
 * Locks: each set of the cache has its own; the key set has its own. None is
 * held during a JWKS fetch or an RSA operation.
 */
#include "auth.h"

#include <limits.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "auth_internal.h"
#include "base64url.h"
#include "bounds.h"
#include "buf.h"
#include "hash.h"
#include "json.h"
#include "jwks.h"

/*
 * The cache of verified tokens: CS_AUTH_CACHE_WAYS-way sets, each behind its
 * own lock, so 32 threads seldom meet. The key is the whole token: a hit is
 * a memcmp of every byte, never a prefix or a digest alone. The set is chosen
 * by FNV-1a of the token's last bytes (its signature: random for every token,
 * and not worth hashing the rest, as the comparison checks it all). Only a
 * token whose signature and claims held is stored, so a forger cannot fill a
 * set; a full set evicts its least recently used entry. Tokens longer than
 * AUTH_CACHE_TOKEN_MAX are verified every time, which bounds the memory:
 * entries × AUTH_CACHE_TOKEN_MAX at most (8 MiB by default).
 */
#define AUTH_CACHE_TOKEN_MAX 2048 /* bytes; a Clerk session token is about 800 */
#define AUTH_CACHE_SET_KEY 32     /* bytes of the token's end that choose its set */

struct cache_entry {
	char *token; /* NULL: free */
	size_t len;
	unsigned long long used_at; /* the set's clock at the last hit: LRU */
	long long exp;
	long long not_before; /* max(nbf, iat), or LLONG_MIN */
	char sub[CS_ID_MAX + 1];
};

struct cache_set {
	pthread_mutex_t lock;
	unsigned long long clock;
	struct cache_entry way[CS_AUTH_CACHE_WAYS];
};

struct cs_auth {
	struct cs_auth__rules rules;
	struct cs_jwks *jwks;

	struct cache_set *sets;
	size_t n_sets, locks_made;

	atomic_ullong verified, rejected, cache_hits;
};

static struct cache_set *cache_set_of(struct cs_auth *auth, const char *token, size_t len)
{
	size_t key = len < AUTH_CACHE_SET_KEY ? len : AUTH_CACHE_SET_KEY;

	return &auth->sets[cs_hash_fnv1a_n(token + len - key, key) % auth->n_sets];
}

static struct cache_entry *cache_find(struct cache_set *set, const char *token, size_t len)
{
	for (size_t i = 0; i < CS_AUTH_CACHE_WAYS; i++) {
		struct cache_entry *e = &set->way[i];

		if (e->token && e->len == len && memcmp(e->token, token, len) == 0)
			return e;
	}
	return NULL;
}

static void cache_drop(struct cache_entry *e)
{
	free(e->token);
	e->token = NULL;
}

/* 1: a hit, *user filled; 0: a miss; -1: a hit that is no longer valid. */
static int cache_get(struct cs_auth *auth, const char *token, size_t len, long long now_s,
		     struct cs_auth_user *user)
{
	struct cache_set *set = cache_set_of(auth, token, len);
	struct cache_entry *e;
	int rc = 0;

	pthread_mutex_lock(&set->lock);
	e = cache_find(set, token, len);
	if (e) {
		/* exp and nbf on every hit: a cached token expires as an uncached one */
		if (e->exp <= now_s - auth->rules.leeway ||
		    e->not_before > now_s + auth->rules.leeway) {
			cache_drop(e);
			rc = -1;
		} else {
			e->used_at = ++set->clock;
			memcpy(user->sub, e->sub, sizeof user->sub);
			user->exp = e->exp;
			rc = 1;
		}
	}
	pthread_mutex_unlock(&set->lock);
	return rc;
}

static void cache_put(struct cs_auth *auth, const char *token, size_t len,
		      const struct cs_auth_user *user, long long not_before)
{
	struct cache_set *set;
	struct cache_entry *e, *victim;
	char *copy;

	if (len > AUTH_CACHE_TOKEN_MAX || !(copy = malloc(len)))
		return; /* verified each time: slower, never wrong */
	memcpy(copy, token, len);
	set = cache_set_of(auth, token, len);
	pthread_mutex_lock(&set->lock);
	victim = cache_find(set, token, len); /* another thread verified it meanwhile */
	for (size_t i = 0; !victim && i < CS_AUTH_CACHE_WAYS; i++) {
		e = &set->way[i];
		if (!e->token)
			victim = e;
	}
	for (size_t i = 0; !victim && i < CS_AUTH_CACHE_WAYS; i++) {
		e = &set->way[i];
		if (!victim || e->used_at < victim->used_at)
			victim = e;
	}
	cache_drop(victim);
	victim->token = copy;
	victim->len = len;
	victim->used_at = ++set->clock;
	victim->exp = user->exp;
	victim->not_before = not_before;
	memcpy(victim->sub, user->sub, sizeof victim->sub);
	pthread_mutex_unlock(&set->lock);
}

/* A base64url segment holding a JSON object -> a new reference. */
static json_t *segment_object(const char *seg, size_t len)
{
	unsigned char *bytes = malloc(cs_base64url_decoded_max(len) + 1);
	size_t n = 0;
	json_t *obj = NULL;
	json_error_t jerr;

	if (!bytes || cs_base64url_decode(seg, len, bytes, &n) < 0) {
		free(bytes);
		return NULL;
	}
	/* Parsed before the signature is checked: anyone can send this. */
	obj = cs_json_load((const char *)bytes, n, CS_LIMIT_TOKEN_DEPTH, &jerr);
	free(bytes);
	if (obj && !json_is_object(obj)) {
		json_decref(obj);
		obj = NULL;
	}
	return obj;
}

int cs_auth_verify(struct cs_auth *auth, const char *token, size_t len, long long now_s,
		   struct cs_auth_user *out, char *err, size_t errlen)
{
	const char *dot1, *dot2, *payload, *sig;
	size_t header_len, payload_len, sig_len, sig_bytes_len = 0;
	unsigned char *sig_bytes = NULL;
	json_t *header = NULL, *claims = NULL;
	enum cs_jwks_alg alg;
	const char *kid;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md_ctx = NULL;
	struct cs_auth_user user;
	long long not_before = LLONG_MIN;
	char why[384]; /* the key set's reason, for err */
	int cached, rc = -1;

	if (!token || len == 0) {
		cs_auth__fail(err, errlen, "no token");
		goto out;
	}
	if (len > CS_AUTH_TOKEN_MAX) {
		cs_auth__fail(err, errlen, "token is longer than %d bytes", CS_AUTH_TOKEN_MAX);
		goto out;
	}

	cached = cache_get(auth, token, len, now_s, &user);
	if (cached < 0) {
		cs_auth__fail(err, errlen, "token has expired");
		goto out;
	}
	if (cached > 0) {
		atomic_fetch_add_explicit(&auth->cache_hits, 1, memory_order_relaxed);
		*out = user;
		rc = 0;
		goto out;
	}

	dot1 = memchr(token, '.', len);
	dot2 = dot1 ? memchr(dot1 + 1, '.', len - (size_t)(dot1 + 1 - token)) : NULL;
	if (!dot2 || memchr(dot2 + 1, '.', len - (size_t)(dot2 + 1 - token))) {
		cs_auth__fail(err, errlen, "token is not three dot-separated segments");
		goto out;
	}
	header_len = (size_t)(dot1 - token);
	payload = dot1 + 1;
	payload_len = (size_t)(dot2 - payload);
	sig = dot2 + 1;
	sig_len = len - (size_t)(sig - token);

	header = segment_object(token, header_len);
	if (!header) {
		cs_auth__fail(err, errlen,
			      "token header is not base64url json (an object with unique names)");
		goto out;
	}
	if (cs_auth__check_header(&auth->rules, header, &alg, &kid, err, errlen) < 0)
		goto out;

	sig_bytes = malloc(cs_base64url_decoded_max(sig_len) + 1);
	if (!sig_bytes) {
		cs_auth__fail(err, errlen, "out of memory");
		goto out;
	}
	if (sig_len == 0 || cs_base64url_decode(sig, sig_len, sig_bytes, &sig_bytes_len) < 0) {
		cs_auth__fail(err, errlen, "token signature is not base64url");
		goto out;
	}
	if (cs_jwks_key(auth->jwks, kid, alg, now_s, &pkey, why, sizeof why) < 0) {
		cs_auth__fail(err, errlen, "%s", why);
		goto out;
	}
	if (sig_bytes_len != (size_t)EVP_PKEY_get_size(pkey)) {
		cs_auth__fail(err, errlen, "token signature has the wrong length");
		goto out;
	}
	md_ctx = EVP_MD_CTX_new();
	if (!md_ctx ||
	    EVP_DigestVerifyInit(md_ctx, NULL, auth->rules.digests[alg], NULL, pkey) != 1) {
		cs_auth__fail(err, errlen, "could not start signature verification");
		goto out;
	}
	if (EVP_DigestVerify(md_ctx, sig_bytes, sig_bytes_len, (const unsigned char *)token,
			     (size_t)(dot2 - token)) != 1) {
		cs_auth__fail(err, errlen, "token signature is invalid");
		goto out;
	}

	claims = segment_object(payload, payload_len);
	if (!claims) {
		cs_auth__fail(err, errlen,
			      "token payload is not base64url json (an object with unique names)");
		goto out;
	}
	if (cs_auth__check_claims(&auth->rules, claims, now_s, &user, &not_before, err, errlen) < 0)
		goto out;

	cache_put(auth, token, len, &user, not_before);
	*out = user;
	rc = 0;
out:
	if (rc == 0)
		atomic_fetch_add_explicit(&auth->verified, 1, memory_order_relaxed);
	else
		atomic_fetch_add_explicit(&auth->rejected, 1, memory_order_relaxed);
	ERR_clear_error();
	EVP_MD_CTX_free(md_ctx);
	EVP_PKEY_free(pkey);
	free(sig_bytes);
	json_decref(header);
	json_decref(claims);
	return rc;
}

void cs_auth_stats(struct cs_auth *auth, struct cs_auth_stats *out)
{
	struct cs_jwks_stats jwks;

	cs_jwks_stats(auth->jwks, &jwks);
	out->verified = atomic_load(&auth->verified);
	out->rejected = atomic_load(&auth->rejected);
	out->cache_hits = atomic_load(&auth->cache_hits);
	out->cache_entries = 0;
	for (size_t i = 0; i < auth->n_sets; i++) {
		pthread_mutex_lock(&auth->sets[i].lock);
		for (size_t w = 0; w < CS_AUTH_CACHE_WAYS; w++)
			out->cache_entries += auth->sets[i].way[w].token != NULL;
		pthread_mutex_unlock(&auth->sets[i].lock);
	}
	out->jwks_loads = jwks.loads;
	out->jwks_load_errors = jwks.load_errors;
}

int cs_auth_new(const struct cs_auth_config *cfg, struct cs_auth **out, char *err, size_t errlen)
{
	struct cs_auth *auth = calloc(1, sizeof *auth);
	struct cs_buf url = CS_BUF_INIT;
	char why[384];
	size_t entries = cfg->cache_entries ? cfg->cache_entries : CS_AUTH_CACHE_ENTRIES;
	int rc = -1;

	if (auth) {
		auth->n_sets = (entries + CS_AUTH_CACHE_WAYS - 1) / CS_AUTH_CACHE_WAYS;
		auth->sets = calloc(auth->n_sets, sizeof *auth->sets);
	}
	if (!auth || !auth->sets) {
		cs_auth__fail(err, errlen, "out of memory");
		goto out;
	}
	auth->rules = (struct cs_auth__rules)CS_AUTH__RULES_INIT;
	if (cs_auth__rules_init(&auth->rules, cfg, err, errlen) < 0)
		goto out;
	if (cfg->jwks_url && *cfg->jwks_url)
		cs_buf_puts(&url, cfg->jwks_url);
	else
		cs_buf_printf(&url, "%s/.well-known/jwks.json", auth->rules.issuer);
	if (cs_jwks_new(cfg->jwks_file, url.data, &auth->jwks, why, sizeof why) < 0) {
		cs_auth__fail(err, errlen, "%s", why);
		goto out;
	}
	for (; auth->locks_made < auth->n_sets; auth->locks_made++) {
		if (pthread_mutex_init(&auth->sets[auth->locks_made].lock, NULL) != 0) {
			cs_auth__fail(err, errlen, "could not create the verifier's locks");
			goto out;
		}
	}
	*out = auth;
	auth = NULL;
	rc = 0;
out:
	cs_buf_release(&url);
	cs_auth_free(auth);
	return rc;
}

void cs_auth_free(struct cs_auth *auth)
{
	if (!auth)
		return;
	for (size_t i = 0; auth->sets && i < auth->n_sets; i++) {
		for (size_t w = 0; w < CS_AUTH_CACHE_WAYS; w++)
			free(auth->sets[i].way[w].token);
		if (i < auth->locks_made)
			pthread_mutex_destroy(&auth->sets[i].lock);
	}
	cs_jwks_free(auth->jwks);
	cs_auth__rules_release(&auth->rules);
	free(auth->sets);
	free(auth);
}

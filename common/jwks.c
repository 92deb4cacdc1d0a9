/*
 * jwks.c - the signing keys (see jwks.h for the contract): a JWKS document
 * read from a file or fetched with libcurl, turned into OpenSSL RSA public
 * keys, and refreshed when a token names a kid the set does not hold.
 *
 * Locks: lock guards the set and the refetch state. It is not held during a
 * read or a fetch: a lookup takes its own reference to the EVP_PKEY, so a
 * concurrent refresh may replace the set under it.
 */
#include "jwks.h"

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bounds.h"
#include "base64url.h"
#include "buf.h"
#include "json.h"
#include "jwks_internal.h"

#define JWKS_REFETCH_S 30 /* at most one load per this many seconds */
#define JWKS_MAX_KEYS 64
#define JWKS_RSA_MIN_BITS 2048
#define JWKS_RSA_MAX_BITS 16384

static const struct {
	const char *name;
	const char *digest;
} algorithms[CS_JWKS_ALG_COUNT] = {
	[CS_JWKS_RS256] = { "RS256", "SHA256" },
	[CS_JWKS_RS384] = { "RS384", "SHA384" },
	[CS_JWKS_RS512] = { "RS512", "SHA512" },
};

struct jwks_key {
	char kid[CS_JWKS_KID_MAX + 1];
	int alg; /* from the JWK's alg, or -1: any allowed */
	EVP_PKEY *pkey;
};

struct jwks_keyset {
	size_t count;
	struct jwks_key keys[JWKS_MAX_KEYS];
};

struct cs_jwks {
	char *file; /* NULL: fetch url */
	char *url;
	int curl_initialized;
	pthread_mutex_t lock;
	pthread_cond_t loaded;
	struct jwks_keyset *keys; /* NULL until the first successful load */
	int loading;              /* a load runs outside the lock */
	int load_attempted;
	long long last_load; /* now_s of the last load attempt */
	atomic_ullong loads, load_errors;
};

int cs_jwks_alg_from_name(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < CS_JWKS_ALG_COUNT; i++)
		if (strlen(algorithms[i].name) == len && memcmp(algorithms[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

const char *cs_jwks_alg_digest(enum cs_jwks_alg alg)
{
	return algorithms[alg].digest;
}

static void keyset_free(struct jwks_keyset *set)
{
	size_t i;

	if (!set)
		return;
	for (i = 0; i < set->count; i++)
		EVP_PKEY_free(set->keys[i].pkey);
	free(set);
}

/* A base64url JWK member as a positive BIGNUM (new), or NULL. */
static BIGNUM *jwk_bignum(json_t *jwk, const char *name)
{
	json_t *v = json_object_get(jwk, name);
	unsigned char bytes[JWKS_RSA_MAX_BITS / 8 + 4];
	size_t len = 0;

	/* Bounded first: the buffer holds the decoding of the longest accepted text. */
	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > JWKS_RSA_MAX_BITS / 6 + 4)
		return NULL;
	if (cs_base64url_decode(json_string_value(v), json_string_length(v), bytes, &len) < 0 ||
	    len == 0)
		return NULL;
	return BN_bin2bn(bytes, (int)len, NULL);
}

/*
 * One JWK -> one key, or -1 with why it was skipped. Only RSA signing keys
 * with a sound modulus and exponent are kept; anything else in the set (EC,
 * oct, encryption keys) is skipped, so that a token naming it finds no key.
 */
static int jwk_to_key(json_t *jwk, struct jwks_key *key, const char **why)
{
	json_t *kty, *kid, *use, *alg;
	BIGNUM *n = NULL, *e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	OSSL_PARAM *params = NULL;
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;
	int alg_index = -1, rc = -1;

	if (!json_is_object(jwk)) {
		*why = "a key is not an object";
		goto out;
	}
	kty = json_object_get(jwk, "kty");
	kid = json_object_get(jwk, "kid");
	use = json_object_get(jwk, "use");
	alg = json_object_get(jwk, "alg");
	if (!json_is_string(kty) || strcmp(json_string_value(kty), "RSA") != 0) {
		*why = "a key is not an rsa key";
		goto out;
	}
	if (!json_is_string(kid) || json_string_length(kid) == 0 ||
	    json_string_length(kid) > CS_JWKS_KID_MAX ||
	    strlen(json_string_value(kid)) != json_string_length(kid)) {
		*why = "a key has no usable kid";
		goto out;
	}
	if (use && (!json_is_string(use) || strcmp(json_string_value(use), "sig") != 0)) {
		*why = "a key is not for signatures";
		goto out;
	}
	if (alg) {
		if (!json_is_string(alg) ||
		    (alg_index = cs_jwks_alg_from_name(json_string_value(alg),
						       json_string_length(alg))) < 0) {
			*why = "a key has an unsupported alg";
			goto out;
		}
	}
	n = jwk_bignum(jwk, "n");
	e = jwk_bignum(jwk, "e");
	if (!n || !e || BN_num_bits(n) < JWKS_RSA_MIN_BITS || BN_num_bits(n) > JWKS_RSA_MAX_BITS ||
	    !BN_is_odd(e) || BN_num_bits(e) < 2 || BN_num_bits(e) > 64) {
		*why = "a key has an unusable modulus or exponent";
		goto out;
	}
	*why = "could not build an rsa key";
	bld = OSSL_PARAM_BLD_new();
	if (!bld || !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, e))
		goto out;
	params = OSSL_PARAM_BLD_to_param(bld);
	ctx = EVP_PKEY_CTX_new_from_name(NULL, "RSA", NULL);
	if (!params || !ctx || EVP_PKEY_fromdata_init(ctx) <= 0 ||
	    EVP_PKEY_fromdata(ctx, &pkey, EVP_PKEY_PUBLIC_KEY, params) <= 0)
		goto out;
	memcpy(key->kid, json_string_value(kid), json_string_length(kid) + 1);
	key->alg = alg_index;
	key->pkey = pkey;
	pkey = NULL;
	rc = 0;
out:
	ERR_clear_error();
	EVP_PKEY_free(pkey);
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	OSSL_PARAM_BLD_free(bld);
	BN_free(n);
	BN_free(e);
	return rc;
}

/* A JWKS document -> a new key set with its usable keys (at least one). */
static int parse_jwks(const char *data, size_t len, struct jwks_keyset **out, char *err,
		      size_t errlen)
{
	json_t *doc = NULL, *keys, *jwk;
	json_error_t jerr;
	struct jwks_keyset *set = NULL;
	const char *why = NULL;
	size_t i, j;
	int rc = -1;

	if (len > CS_LIMIT_JWKS_BYTES) {
		snprintf(err, errlen, "jwks is larger than %d bytes", CS_LIMIT_JWKS_BYTES);
		goto out;
	}
	doc = cs_json_load(data, len, CS_LIMIT_JWKS_DEPTH, &jerr);
	if (!doc) {
		snprintf(err, errlen, "jwks is not json: %s", jerr.text);
		goto out;
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		snprintf(err, errlen, "jwks has no keys array");
		goto out;
	}
	set = calloc(1, sizeof *set);
	if (!set) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	json_array_foreach(keys, i, jwk) {
		struct jwks_key key;
		int duplicate = 0;

		if (set->count == JWKS_MAX_KEYS)
			break;
		if (jwk_to_key(jwk, &key, &why) < 0)
			continue;
		for (j = 0; j < set->count; j++)
			if (strcmp(set->keys[j].kid, key.kid) == 0)
				duplicate = 1;
		if (duplicate) { /* the first one wins: a kid must name one key */
			EVP_PKEY_free(key.pkey);
			why = "a kid appears twice";
			continue;
		}
		set->keys[set->count++] = key;
	}
	if (set->count == 0) {
		snprintf(err, errlen, "jwks has no usable rsa signing key%s%s", why ? ": " : "",
			 why ? why : "");
		goto out;
	}
	*out = set;
	set = NULL;
	rc = 0;
out:
	keyset_free(set);
	json_decref(doc);
	return rc;
}

static int load_keyset(struct cs_jwks *jwks, struct jwks_keyset **out, char *err, size_t errlen)
{
	struct cs_buf body = CS_BUF_INIT;
	char why[256];
	int rc;

	rc = cs_jwks__read(jwks->file, jwks->url, &body, why, sizeof why);
	if (rc == 0)
		rc = parse_jwks(body.data ? body.data : "", body.len, out, why, sizeof why);
	cs_buf_release(&body);
	if (rc < 0)
		snprintf(err, errlen, "could not load signing keys: %s", why);
	return rc;
}

/* Under lock. 1: found, *pkey is a new reference; 0: no such kid; -1: wrong alg. */
static int keyset_lookup(const struct jwks_keyset *set, const char *kid, int alg, EVP_PKEY **pkey)
{
	size_t i;

	if (!set)
		return 0;
	for (i = 0; i < set->count; i++) {
		const struct jwks_key *k = &set->keys[i];

		if (strcmp(k->kid, kid) != 0)
			continue;
		if (k->alg >= 0 && k->alg != alg)
			return -1;
		if (!EVP_PKEY_up_ref(k->pkey))
			return 0;
		*pkey = k->pkey;
		return 1;
	}
	return 0;
}

/*
 * An unknown kid reloads the key set once,
 * unless a load was attempted less than JWKS_REFETCH_S ago (by now_s); a
 * thread that finds a load running waits for it instead of failing, so that
 * the first requests after start or a key rotation are not refused.
 */
int cs_jwks_key(struct cs_jwks *jwks, const char *kid, enum cs_jwks_alg alg, long long now_s,
		EVP_PKEY **pkey, char *err, size_t errlen)
{
	static const char wrong_alg[] = "the token's key is not for its algorithm";
	static const char no_key[] = "no signing key matches the token's kid";
	struct jwks_keyset *fresh = NULL, *old = NULL;
	char why[320];
	int found, load = 0, loaded;

	pthread_mutex_lock(&jwks->lock);
	while ((found = keyset_lookup(jwks->keys, kid, (int)alg, pkey)) == 0 && jwks->loading)
		pthread_cond_wait(&jwks->loaded, &jwks->lock);
	if (found == 0 && (!jwks->load_attempted || now_s < jwks->last_load ||
			   now_s - jwks->last_load >= JWKS_REFETCH_S)) {
		load = 1;
		jwks->loading = 1;
		jwks->load_attempted = 1;
		jwks->last_load = now_s;
	}
	pthread_mutex_unlock(&jwks->lock);

	if (found == 1)
		return 0;
	if (found < 0 || !load) {
		snprintf(err, errlen, "%s", found < 0 ? wrong_alg : no_key);
		return -1;
	}

	atomic_fetch_add_explicit(&jwks->loads, 1, memory_order_relaxed);
	loaded = load_keyset(jwks, &fresh, why, sizeof why);
	if (loaded < 0)
		atomic_fetch_add_explicit(&jwks->load_errors, 1, memory_order_relaxed);

	pthread_mutex_lock(&jwks->lock);
	if (loaded == 0) {
		old = jwks->keys;
		jwks->keys = fresh;
	}
	jwks->loading = 0;
	pthread_cond_broadcast(&jwks->loaded);
	found = keyset_lookup(jwks->keys, kid, (int)alg, pkey);
	pthread_mutex_unlock(&jwks->lock);
	keyset_free(old);

	if (found == 1)
		return 0;
	snprintf(err, errlen, "%s", loaded < 0 ? why : found < 0 ? wrong_alg : no_key);
	return -1;
}

void cs_jwks_stats(struct cs_jwks *jwks, struct cs_jwks_stats *out)
{
	out->loads = atomic_load(&jwks->loads);
	out->load_errors = atomic_load(&jwks->load_errors);
}

/* Everything a set owns but its lock and keys, and the set itself. */
static void free_parts(struct cs_jwks *jwks)
{
	if (jwks->curl_initialized)
		curl_global_cleanup();
	free(jwks->file);
	free(jwks->url);
	free(jwks);
}

int cs_jwks_new(const char *file, const char *url, struct cs_jwks **out, char *err, size_t errlen)
{
	struct cs_jwks *jwks = calloc(1, sizeof *jwks);
	int locks = 0, rc = -1;

	if (!jwks) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	if (file && *file) {
		jwks->file = strdup(file);
		if (!jwks->file) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
	} else {
		jwks->url = url ? strdup(url) : NULL;
		if (!jwks->url) {
			snprintf(err, errlen, "out of memory");
			goto out;
		}
		/* Reference-counted by libcurl; a service calls this at start, before its threads. */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			snprintf(err, errlen, "could not initialize libcurl");
			goto out;
		}
		jwks->curl_initialized = 1;
	}
	if (pthread_mutex_init(&jwks->lock, NULL) != 0)
		goto locks_failed;
	locks++;
	if (pthread_cond_init(&jwks->loaded, NULL) != 0)
		goto locks_failed;
	locks++;

	*out = jwks;
	jwks = NULL;
	rc = 0;
	goto out;
locks_failed:
	snprintf(err, errlen, "could not create the verifier's locks");
out:
	if (jwks) {
		if (locks > 1)
			pthread_cond_destroy(&jwks->loaded);
		if (locks > 0)
			pthread_mutex_destroy(&jwks->lock);
		/* Not yet a whole set: free its parts without the lock. */
		free_parts(jwks);
	}
	return rc;
}

void cs_jwks_free(struct cs_jwks *jwks)
{
	if (!jwks)
		return;
	pthread_cond_destroy(&jwks->loaded);
	pthread_mutex_destroy(&jwks->lock);
	keyset_free(jwks->keys);
	free_parts(jwks);
}

/*
 * auth.c - JWT verification against a JWKS (see auth.h for the contract).
 *
 * The token is taken apart and checked here, not by libjwt. libjwt 1.10 picks
 * the algorithm from the token's own header (so an HS256 token whose HMAC
 * secret is the public key's PEM passes), verifies nothing when given an
 * empty key, wants the key as PEM and checks no claim. Guarding it would mean
 * parsing the header ourselves anyway and checking jwt_get_alg before and
 * after; instead the signature is checked with OpenSSL's EVP_DigestVerify
 * over "header.payload", with the digest chosen by our allow-list and a key
 * that must be an RSA key from the JWKS. The token never chooses how it is
 * verified, and there is no code path that verifies without a key.
 *
 * Order of work per token: length cap, cache (SHA-256 of the token), split,
 * header, key by kid, signature, then the claims. Nothing of the payload is
 * trusted before the signature holds.
 *
 * Locks: keys_lock guards the key set and the refetch state, cache_lock the
 * cache. Neither is held during a JWKS fetch or an RSA operation: a lookup
 * takes its own reference to the EVP_PKEY, so a concurrent refresh may
 * replace the set under it.
 */
#include "auth.h"
#include "auth_internal.h"

#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/sha.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bounds.h"
#include "buf.h"
#include "json.h"

#define AUTH_DEFAULT_LEEWAY_S 5
#define AUTH_MAX_LEEWAY_S 300
#define AUTH_REFETCH_S 30           /* at most one JWKS load per this many seconds */
#define AUTH_JWKS_MAX (1024 * 1024) /* bytes of a JWKS document */
#define AUTH_JWKS_MAX_KEYS 64
#define AUTH_RSA_MIN_BITS 2048
#define AUTH_RSA_MAX_BITS 16384
#define AUTH_CACHE_SLOTS 1024       /* direct-mapped: a collision evicts */
#define AUTH_CONNECT_TIMEOUT_MS 2000L
#define AUTH_FETCH_TIMEOUT_MS 5000L

/* The allow-list can only name these: RSA PKCS#1 v1.5 with SHA-2. */
static const struct {
	const char *name;
	const char *digest;
} algorithms[] = {
	{ "RS256", "SHA256" },
	{ "RS384", "SHA384" },
	{ "RS512", "SHA512" },
};
#define ALGORITHM_COUNT (sizeof algorithms / sizeof algorithms[0])

struct auth_key {
	char kid[CS_AUTH_KID_MAX + 1];
	int alg; /* index in algorithms[] from the JWK's alg, or -1: any allowed */
	EVP_PKEY *pkey;
};

struct auth_keyset {
	size_t count;
	struct auth_key keys[AUTH_JWKS_MAX_KEYS];
};

struct cache_entry {
	int used;
	unsigned char hash[SHA256_DIGEST_LENGTH];
	long long exp;
	long long not_before; /* max(nbf, iat), or LLONG_MIN */
	char sub[CS_AUTH_SUB_MAX + 1];
};

struct cs_auth {
	char *issuer;       /* normalized: scheme://host, no trailing slash */
	char **parties;     /* authorized parties, NULL when not checked */
	size_t party_count;
	char *audience;     /* NULL when not checked */
	char *jwks_file;    /* NULL: fetch jwks_url */
	char *jwks_url;
	int curl_initialized;
	long long leeway;
	EVP_MD *digests[ALGORITHM_COUNT]; /* fetched once; NULL: not allowed */

	pthread_mutex_t keys_lock;
	pthread_cond_t keys_loaded;
	struct auth_keyset *keys; /* NULL until the first successful load */
	int loading;              /* a load runs outside the lock */
	int load_attempted;
	long long last_load;      /* now_s of the last load attempt */

	pthread_mutex_t cache_lock;
	struct cache_entry *cache; /* AUTH_CACHE_SLOTS entries */

	atomic_ullong verified, rejected, cache_hits, jwks_loads, jwks_load_errors;
};

static int fail(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err && errlen) {
		va_start(ap, fmt);
		vsnprintf(err, errlen, fmt, ap);
		va_end(ap);
	}
	return -1;
}

/* The first OpenSSL error of this thread as text, and an empty queue after. */
static const char *openssl_reason(char *buf, size_t len)
{
	unsigned long e = ERR_get_error();

	if (e)
		ERR_error_string_n(e, buf, len);
	else
		snprintf(buf, len, "unknown error");
	ERR_clear_error();
	return buf;
}

static int b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

/*
 * Strict base64url without padding (RFC 7515 section 2): only the 64
 * characters, no '=', no length that leaves 6 dangling bits, no non-zero
 * unused bits, so that each byte string has exactly one encoding. *out is
 * malloc'ed (at least one byte, so that an empty result is not NULL).
 */
int cs_auth_b64url_decode(const char *in, size_t len, unsigned char **out, size_t *outlen)
{
	unsigned char *buf;
	uint32_t acc = 0;
	int bits = 0;
	size_t i, n = 0;

	if (len % 4 == 1)
		return -1;
	buf = malloc(len / 4 * 3 + 3);
	if (!buf)
		return -1;
	for (i = 0; i < len; i++) {
		int v = b64url_value((unsigned char)in[i]);

		if (v < 0) {
			free(buf);
			return -1;
		}
		acc = (acc << 6) | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			buf[n++] = (unsigned char)(acc >> bits);
			acc &= (1u << bits) - 1;
		}
	}
	if (acc != 0) {
		free(buf);
		return -1;
	}
	*out = buf;
	*outlen = n;
	return 0;
}

static void b64url_encode(struct cs_buf *b, const unsigned char *in, size_t len)
{
	static const char alphabet[] =
		"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		cs_buf_putc(b, alphabet[v >> 18]);
		cs_buf_putc(b, alphabet[(v >> 12) & 63]);
		cs_buf_putc(b, alphabet[(v >> 6) & 63]);
		cs_buf_putc(b, alphabet[v & 63]);
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		cs_buf_putc(b, alphabet[v >> 18]);
		cs_buf_putc(b, alphabet[(v >> 12) & 63]);
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		cs_buf_putc(b, alphabet[v >> 18]);
		cs_buf_putc(b, alphabet[(v >> 12) & 63]);
		cs_buf_putc(b, alphabet[(v >> 6) & 63]);
	}
}

static int algorithm_index(const char *name, size_t len)
{
	size_t i;

	for (i = 0; i < ALGORITHM_COUNT; i++)
		if (strlen(algorithms[i].name) == len && memcmp(algorithms[i].name, name, len) == 0)
			return (int)i;
	return -1;
}

static int is_set(const char *s)
{
	return s && *s;
}

/* The next non-empty item of a comma list, spaces trimmed; 0 at the end. */
static int list_next(const char **p, const char **item, size_t *len)
{
	const char *s = *p, *end;

	for (;;) {
		while (*s == ' ' || *s == '\t' || *s == ',')
			s++;
		if (!*s) {
			*p = s;
			return 0;
		}
		end = s;
		while (*end && *end != ',')
			end++;
		*p = end;
		*item = s;
		while (end > s && (end[-1] == ' ' || end[-1] == '\t'))
			end--;
		*len = (size_t)(end - s);
		return 1;
	}
}

static int has_space_or_control(const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] <= 0x20 || s[i] == 0x7f)
			return 1;
	return 0;
}

/* "host", "https://host" or "https://host/" -> "https://host" (malloc'ed). */
static char *normalize_issuer(const char *in)
{
	const char *s = in, *end;
	struct cs_buf b = CS_BUF_INIT;
	const char *scheme_end;

	while (*s == ' ' || *s == '\t')
		s++;
	end = s + strlen(s);
	while (end > s && (end[-1] == ' ' || end[-1] == '\t' || end[-1] == '/'))
		end--;
	if (end == s || has_space_or_control(s, (size_t)(end - s)))
		return NULL;
	scheme_end = strstr(s, "://");
	if (scheme_end && scheme_end < end) {
		size_t scheme_len = (size_t)(scheme_end - s);

		if (!((scheme_len == 5 && strncasecmp(s, "https", 5) == 0) ||
		      (scheme_len == 4 && strncasecmp(s, "http", 4) == 0)))
			return NULL;
		if (end - (scheme_end + 3) <= 0)
			return NULL;
	} else {
		cs_buf_puts(&b, "https://");
	}
	cs_buf_append(&b, s, (size_t)(end - s));
	return cs_buf_detach(&b, NULL);
}

static void keyset_free(struct auth_keyset *set)
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
	unsigned char *bytes = NULL;
	size_t len = 0;
	BIGNUM *bn = NULL;

	if (!json_is_string(v) || json_string_length(v) == 0 ||
	    json_string_length(v) > AUTH_RSA_MAX_BITS / 6 + 4)
		return NULL;
	if (cs_auth_b64url_decode(json_string_value(v), json_string_length(v), &bytes, &len) < 0)
		return NULL;
	if (len > 0 && len <= INT_MAX)
		bn = BN_bin2bn(bytes, (int)len, NULL);
	free(bytes);
	return bn;
}

/*
 * One JWK -> one key, or -1 with why it was skipped. Only RSA signing keys
 * with a sound modulus and exponent are kept; anything else in the set (EC,
 * oct, encryption keys) is skipped, so that a token naming it finds no key.
 */
static int jwk_to_key(json_t *jwk, struct auth_key *key, const char **why)
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
	    json_string_length(kid) > CS_AUTH_KID_MAX ||
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
		    (alg_index = algorithm_index(json_string_value(alg), json_string_length(alg))) < 0) {
			*why = "a key has an unsupported alg";
			goto out;
		}
	}
	n = jwk_bignum(jwk, "n");
	e = jwk_bignum(jwk, "e");
	if (!n || !e || BN_num_bits(n) < AUTH_RSA_MIN_BITS || BN_num_bits(n) > AUTH_RSA_MAX_BITS ||
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
static int parse_jwks(const char *data, size_t len, struct auth_keyset **out, char *err,
		      size_t errlen)
{
	json_t *doc = NULL, *keys, *jwk;
	json_error_t jerr;
	struct auth_keyset *set = NULL;
	const char *why = NULL;
	size_t i, j;
	int rc = -1;

	if (len > CS_LIMIT_JWKS_BYTES) {
		fail(err, errlen, "jwks is larger than %d bytes", CS_LIMIT_JWKS_BYTES);
		goto out;
	}
	doc = cs_json_load(data, len, CS_LIMIT_JWKS_DEPTH, &jerr);
	if (!doc) {
		fail(err, errlen, "jwks is not json: %s", jerr.text);
		goto out;
	}
	keys = json_object_get(doc, "keys");
	if (!json_is_array(keys)) {
		fail(err, errlen, "jwks has no keys array");
		goto out;
	}
	set = calloc(1, sizeof *set);
	if (!set) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	json_array_foreach(keys, i, jwk) {
		struct auth_key key;
		int duplicate = 0;

		if (set->count == AUTH_JWKS_MAX_KEYS)
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
		fail(err, errlen, "jwks has no usable rsa signing key%s%s", why ? ": " : "",
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

static int read_jwks_file(const char *path, struct cs_buf *b, char *err, size_t errlen)
{
	FILE *f = fopen(path, "rb");
	char chunk[8192];
	size_t n;
	int rc = -1;

	if (!f)
		return fail(err, errlen, "could not open jwks file \"%s\": %s", path, strerror(errno));
	while ((n = fread(chunk, 1, sizeof chunk, f)) > 0) {
		if (b->len + n > AUTH_JWKS_MAX) {
			fail(err, errlen, "jwks file \"%s\" is larger than %d bytes", path, AUTH_JWKS_MAX);
			goto out;
		}
		cs_buf_append(b, chunk, n);
	}
	if (ferror(f)) {
		fail(err, errlen, "could not read jwks file \"%s\"", path);
		goto out;
	}
	rc = 0;
out:
	fclose(f);
	return rc;
}

struct fetch_state {
	struct cs_buf *body;
	int too_large;
};

static size_t fetch_write(char *ptr, size_t size, size_t nmemb, void *userdata)
{
	struct fetch_state *st = userdata;
	size_t n = size * nmemb;

	if (st->body->len + n > AUTH_JWKS_MAX) {
		st->too_large = 1;
		return 0; /* makes curl stop with CURLE_WRITE_ERROR */
	}
	cs_buf_append(st->body, ptr, n);
	return n;
}

static int fetch_jwks_url(const char *url, struct cs_buf *b, char *err, size_t errlen)
{
	char curl_err[CURL_ERROR_SIZE] = "";
	struct fetch_state st = { b, 0 };
	CURL *curl = curl_easy_init();
	CURLcode res;
	int rc = -1;

	if (!curl)
		return fail(err, errlen, "could not start a jwks fetch");
	/* NOSIGNAL: timeouts without SIGALRM, which is not thread-safe. */
	curl_easy_setopt(curl, CURLOPT_URL, url);
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS, AUTH_CONNECT_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, AUTH_FETCH_TIMEOUT_MS);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(curl, CURLOPT_FAILONERROR, 1L);
	curl_easy_setopt(curl, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)AUTH_JWKS_MAX);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, "chatsync-auth");
	curl_easy_setopt(curl, CURLOPT_ERRORBUFFER, curl_err);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, fetch_write);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &st);
	res = curl_easy_perform(curl);
	if (st.too_large) {
		fail(err, errlen, "jwks at \"%s\" is larger than %d bytes", url, AUTH_JWKS_MAX);
		goto out;
	}
	if (res != CURLE_OK) {
		fail(err, errlen, "could not fetch jwks from \"%s\": %s", url,
		     curl_err[0] ? curl_err : curl_easy_strerror(res));
		goto out;
	}
	rc = 0;
out:
	curl_easy_cleanup(curl);
	return rc;
}

static int load_keyset(struct cs_auth *auth, struct auth_keyset **out, char *err, size_t errlen)
{
	struct cs_buf body = CS_BUF_INIT;
	char why[256];
	int rc;

	if (auth->jwks_file)
		rc = read_jwks_file(auth->jwks_file, &body, why, sizeof why);
	else
		rc = fetch_jwks_url(auth->jwks_url, &body, why, sizeof why);
	if (rc == 0)
		rc = parse_jwks(body.data ? body.data : "", body.len, out, why, sizeof why);
	cs_buf_release(&body);
	if (rc < 0)
		return fail(err, errlen, "could not load signing keys: %s", why);
	return 0;
}

/* Under keys_lock. 1: found, *pkey is a new reference; 0: no such kid; -1: wrong alg. */
static int keyset_lookup(const struct auth_keyset *set, const char *kid, int alg, EVP_PKEY **pkey)
{
	size_t i;

	if (!set)
		return 0;
	for (i = 0; i < set->count; i++) {
		const struct auth_key *k = &set->keys[i];

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
 * The key for kid, a new reference. An unknown kid reloads the key set once,
 * unless a load was attempted less than AUTH_REFETCH_S ago (by now_s); a
 * thread that finds a load running waits for it instead of failing, so that
 * the first requests after start or a key rotation are not refused.
 */
static int auth_key(struct cs_auth *auth, const char *kid, int alg, long long now_s,
		    EVP_PKEY **pkey, char *err, size_t errlen)
{
	struct auth_keyset *fresh = NULL, *old = NULL;
	char why[320];
	int found, load = 0, loaded;

	pthread_mutex_lock(&auth->keys_lock);
	while ((found = keyset_lookup(auth->keys, kid, alg, pkey)) == 0 && auth->loading)
		pthread_cond_wait(&auth->keys_loaded, &auth->keys_lock);
	if (found == 0 && (!auth->load_attempted || now_s < auth->last_load ||
			   now_s - auth->last_load >= AUTH_REFETCH_S)) {
		load = 1;
		auth->loading = 1;
		auth->load_attempted = 1;
		auth->last_load = now_s;
	}
	pthread_mutex_unlock(&auth->keys_lock);

	if (found == 1)
		return 0;
	if (found < 0)
		return fail(err, errlen, "the token's key is not for its algorithm");
	if (!load)
		return fail(err, errlen, "no signing key matches the token's kid");

	atomic_fetch_add_explicit(&auth->jwks_loads, 1, memory_order_relaxed);
	loaded = load_keyset(auth, &fresh, why, sizeof why);
	if (loaded < 0)
		atomic_fetch_add_explicit(&auth->jwks_load_errors, 1, memory_order_relaxed);

	pthread_mutex_lock(&auth->keys_lock);
	if (loaded == 0) {
		old = auth->keys;
		auth->keys = fresh;
	}
	auth->loading = 0;
	pthread_cond_broadcast(&auth->keys_loaded);
	found = keyset_lookup(auth->keys, kid, alg, pkey);
	pthread_mutex_unlock(&auth->keys_lock);
	keyset_free(old);

	if (found == 1)
		return 0;
	if (loaded < 0)
		return fail(err, errlen, "%s", why);
	if (found < 0)
		return fail(err, errlen, "the token's key is not for its algorithm");
	return fail(err, errlen, "no signing key matches the token's kid");
}

static struct cache_entry *cache_slot(struct cs_auth *auth, const unsigned char *hash)
{
	uint32_t i = (uint32_t)hash[0] | (uint32_t)hash[1] << 8 | (uint32_t)hash[2] << 16;

	return &auth->cache[i % AUTH_CACHE_SLOTS];
}

/* 1: a hit, *user filled; 0: a miss; -1: a hit that is no longer valid. */
static int cache_get(struct cs_auth *auth, const unsigned char *hash, long long now_s,
		     struct cs_auth_user *user)
{
	struct cache_entry *e;
	int rc = 0;

	pthread_mutex_lock(&auth->cache_lock);
	e = cache_slot(auth, hash);
	if (e->used && memcmp(e->hash, hash, sizeof e->hash) == 0) {
		if (e->exp <= now_s - auth->leeway || e->not_before > now_s + auth->leeway) {
			e->used = 0;
			rc = -1;
		} else {
			memcpy(user->sub, e->sub, sizeof user->sub);
			user->exp = e->exp;
			rc = 1;
		}
	}
	pthread_mutex_unlock(&auth->cache_lock);
	return rc;
}

static void cache_put(struct cs_auth *auth, const unsigned char *hash, const struct cs_auth_user *user,
		      long long not_before)
{
	struct cache_entry *e;

	pthread_mutex_lock(&auth->cache_lock);
	e = cache_slot(auth, hash);
	e->used = 1;
	memcpy(e->hash, hash, sizeof e->hash);
	e->exp = user->exp;
	e->not_before = not_before;
	memcpy(e->sub, user->sub, sizeof e->sub);
	pthread_mutex_unlock(&auth->cache_lock);
}

/* A numeric date claim: JSON integers only (never a string, a float or null). */
static int time_claim(json_t *claims, const char *name, int required, long long *value,
		      int *present, char *err, size_t errlen)
{
	json_t *v = json_object_get(claims, name);

	*present = v != NULL;
	if (!v)
		return required ? fail(err, errlen, "token has no %s claim", name) : 0;
	if (!json_is_integer(v))
		return fail(err, errlen, "token %s claim is not an integer", name);
	*value = json_integer_value(v);
	return 0;
}

static int string_equals(json_t *v, const char *s)
{
	return json_is_string(v) && json_string_length(v) == strlen(s) &&
	       memcmp(json_string_value(v), s, json_string_length(v)) == 0;
}

static int check_claims(struct cs_auth *auth, json_t *claims, long long now_s,
			struct cs_auth_user *user, long long *not_before, char *err, size_t errlen)
{
	long long exp = 0, nbf = 0, iat = 0;
	int has_exp, has_nbf, has_iat;
	json_t *sub, *azp, *aud;
	size_t i;

	if (time_claim(claims, "exp", 1, &exp, &has_exp, err, errlen) < 0 ||
	    time_claim(claims, "nbf", 0, &nbf, &has_nbf, err, errlen) < 0 ||
	    time_claim(claims, "iat", 0, &iat, &has_iat, err, errlen) < 0)
		return -1;
	/* now_s is a sane clock and leeway <= 300: these cannot overflow, exp + leeway could. */
	if (exp <= now_s - auth->leeway)
		return fail(err, errlen, "token has expired");
	if (has_nbf && nbf > now_s + auth->leeway)
		return fail(err, errlen, "token is not valid yet (nbf)");
	if (has_iat && iat > now_s + auth->leeway)
		return fail(err, errlen, "token is issued in the future (iat)");

	if (!string_equals(json_object_get(claims, "iss"), auth->issuer))
		return fail(err, errlen, "token issuer does not match");

	sub = json_object_get(claims, "sub");
	if (!json_is_string(sub) || json_string_length(sub) == 0)
		return fail(err, errlen, "token has no sub claim");
	if (json_string_length(sub) > CS_AUTH_SUB_MAX ||
	    !cs_utf8_valid_text(json_string_value(sub), json_string_length(sub)))
		return fail(err, errlen, "token sub claim is not a usable user id");

	if (auth->parties) {
		azp = json_object_get(claims, "azp");
		if (!azp)
			return fail(err, errlen, "token has no azp claim");
		for (i = 0; i < auth->party_count; i++)
			if (string_equals(azp, auth->parties[i]))
				break;
		if (i == auth->party_count)
			return fail(err, errlen, "token azp is not an authorized party");
	}

	if (auth->audience) {
		int ok = 0;
		json_t *item;

		aud = json_object_get(claims, "aud");
		if (json_is_array(aud)) {
			json_array_foreach(aud, i, item)
				ok |= string_equals(item, auth->audience);
		} else {
			ok = string_equals(aud, auth->audience);
		}
		if (!ok)
			return fail(err, errlen, aud ? "token audience does not match"
						     : "token has no aud claim");
	}

	memcpy(user->sub, json_string_value(sub), json_string_length(sub) + 1);
	user->exp = exp;
	*not_before = LLONG_MIN;
	if (has_nbf)
		*not_before = nbf;
	if (has_iat && iat > *not_before)
		*not_before = iat;
	return 0;
}

/* A base64url segment holding a JSON object -> a new reference. */
static json_t *segment_object(const char *seg, size_t len)
{
	unsigned char *bytes = NULL;
	size_t n = 0;
	json_t *obj;
	json_error_t jerr;

	if (cs_auth_b64url_decode(seg, len, &bytes, &n) < 0)
		return NULL;
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
	unsigned char hash[SHA256_DIGEST_LENGTH];
	const char *dot1, *dot2, *payload, *sig;
	size_t header_len, payload_len, sig_len, sig_bytes_len = 0;
	unsigned char *sig_bytes = NULL;
	json_t *header = NULL, *claims = NULL, *alg, *kid, *typ;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md_ctx = NULL;
	struct cs_auth_user user;
	long long not_before = LLONG_MIN;
	int alg_index, cached, rc = -1;

	if (!token || len == 0) {
		fail(err, errlen, "no token");
		goto out;
	}
	if (len > CS_AUTH_TOKEN_MAX) {
		fail(err, errlen, "token is longer than %d bytes", CS_AUTH_TOKEN_MAX);
		goto out;
	}

	SHA256((const unsigned char *)token, len, hash);
	cached = cache_get(auth, hash, now_s, &user);
	if (cached < 0) {
		fail(err, errlen, "token has expired");
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
		fail(err, errlen, "token is not three dot-separated segments");
		goto out;
	}
	header_len = (size_t)(dot1 - token);
	payload = dot1 + 1;
	payload_len = (size_t)(dot2 - payload);
	sig = dot2 + 1;
	sig_len = len - (size_t)(sig - token);

	header = segment_object(token, header_len);
	if (!header) {
		fail(err, errlen, "token header is not base64url json (an object with unique names)");
		goto out;
	}
	alg = json_object_get(header, "alg");
	alg_index = json_is_string(alg)
			    ? algorithm_index(json_string_value(alg), json_string_length(alg))
			    : -1;
	if (alg_index < 0 || !auth->digests[alg_index]) {
		fail(err, errlen, "token algorithm is not allowed");
		goto out;
	}
	typ = json_object_get(header, "typ");
	if (typ && !string_equals(typ, "JWT")) {
		fail(err, errlen, "token typ is not JWT");
		goto out;
	}
	if (json_object_get(header, "crit")) {
		fail(err, errlen, "token header has crit extensions, which are not supported");
		goto out;
	}
	/* kid is an opaque map key; jku, x5u, jwk and x5c are never followed. */
	kid = json_object_get(header, "kid");
	if (!json_is_string(kid) || json_string_length(kid) == 0 ||
	    json_string_length(kid) > CS_AUTH_KID_MAX ||
	    strlen(json_string_value(kid)) != json_string_length(kid)) {
		fail(err, errlen, "token header has no usable kid");
		goto out;
	}

	if (sig_len == 0 || cs_auth_b64url_decode(sig, sig_len, &sig_bytes, &sig_bytes_len) < 0) {
		fail(err, errlen, "token signature is not base64url");
		goto out;
	}
	if (auth_key(auth, json_string_value(kid), alg_index, now_s, &pkey, err, errlen) < 0)
		goto out;
	if (sig_bytes_len != (size_t)EVP_PKEY_get_size(pkey)) {
		fail(err, errlen, "token signature has the wrong length");
		goto out;
	}
	md_ctx = EVP_MD_CTX_new();
	if (!md_ctx ||
	    EVP_DigestVerifyInit(md_ctx, NULL, auth->digests[alg_index], NULL, pkey) != 1) {
		fail(err, errlen, "could not start signature verification");
		goto out;
	}
	if (EVP_DigestVerify(md_ctx, sig_bytes, sig_bytes_len, (const unsigned char *)token,
			     (size_t)(dot2 - token)) != 1) {
		fail(err, errlen, "token signature is invalid");
		goto out;
	}

	claims = segment_object(payload, payload_len);
	if (!claims) {
		fail(err, errlen, "token payload is not base64url json (an object with unique names)");
		goto out;
	}
	if (check_claims(auth, claims, now_s, &user, &not_before, err, errlen) < 0)
		goto out;

	cache_put(auth, hash, &user, not_before);
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
	out->verified = atomic_load(&auth->verified);
	out->rejected = atomic_load(&auth->rejected);
	out->cache_hits = atomic_load(&auth->cache_hits);
	out->jwks_loads = atomic_load(&auth->jwks_loads);
	out->jwks_load_errors = atomic_load(&auth->jwks_load_errors);
}

static char *copy_setting(const char *s)
{
	return is_set(s) ? strdup(s) : NULL;
}

/* Everything a verifier owns but its locks and keys, and the verifier itself. */
static void free_parts(struct cs_auth *auth)
{
	size_t i;

	for (i = 0; i < auth->party_count; i++)
		free(auth->parties[i]);
	free(auth->parties);
	for (i = 0; i < ALGORITHM_COUNT; i++)
		EVP_MD_free(auth->digests[i]);
	if (auth->curl_initialized)
		curl_global_cleanup();
	free(auth->issuer);
	free(auth->audience);
	free(auth->jwks_file);
	free(auth->jwks_url);
	free(auth->cache);
	free(auth);
}

int cs_auth_new(const struct cs_auth_config *cfg, struct cs_auth **out, char *err, size_t errlen)
{
	struct cs_auth *auth = NULL;
	const char *p, *item;
	size_t len, i;
	char reason[256];
	int locks = 0, rc = -1;

	auth = calloc(1, sizeof *auth);
	if (!auth || !(auth->cache = calloc(AUTH_CACHE_SLOTS, sizeof *auth->cache))) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	if (!is_set(cfg->issuer)) {
		fail(err, errlen, "CLERK_JWT_ISSUER_DOMAIN: an issuer is required");
		goto out;
	}
	auth->issuer = normalize_issuer(cfg->issuer);
	if (!auth->issuer) {
		fail(err, errlen, "CLERK_JWT_ISSUER_DOMAIN: must be a host name or an https:// url");
		goto out;
	}

	if (cfg->leeway_s > AUTH_MAX_LEEWAY_S) {
		fail(err, errlen, "JWT_LEEWAY_S: must be 0 to %d seconds", AUTH_MAX_LEEWAY_S);
		goto out;
	}
	auth->leeway = cfg->leeway_s < 0 ? AUTH_DEFAULT_LEEWAY_S : cfg->leeway_s;

	p = is_set(cfg->algorithms) ? cfg->algorithms : "RS256";
	while (list_next(&p, &item, &len)) {
		int a = algorithm_index(item, len);

		if (a < 0) {
			fail(err, errlen, "JWT_ALGORITHMS: \"%.*s\" is not supported (RS256, RS384, RS512)",
			     len > 32 ? 32 : (int)len, item);
			goto out;
		}
		if (!auth->digests[a] && !(auth->digests[a] = EVP_MD_fetch(NULL, algorithms[a].digest, NULL))) {
			fail(err, errlen, "could not load digest %s: %s", algorithms[a].digest,
			     openssl_reason(reason, sizeof reason));
			goto out;
		}
	}
	for (i = 0; i < ALGORITHM_COUNT && !auth->digests[i]; i++)
		;
	if (i == ALGORITHM_COUNT) {
		fail(err, errlen, "JWT_ALGORITHMS: no algorithm is allowed");
		goto out;
	}

	if (is_set(cfg->authorized_parties)) {
		p = cfg->authorized_parties;
		while (list_next(&p, &item, &len)) {
			char **grown = realloc(auth->parties, (auth->party_count + 1) * sizeof *grown);

			if (!grown) {
				fail(err, errlen, "out of memory");
				goto out;
			}
			auth->parties = grown;
			while (len > 0 && item[len - 1] == '/') /* an origin has no trailing slash */
				len--;
			auth->parties[auth->party_count++] = strndup(item, len);
			if (!auth->parties[auth->party_count - 1]) {
				fail(err, errlen, "out of memory");
				goto out;
			}
		}
		if (auth->party_count == 0) {
			fail(err, errlen, "CLERK_AUTHORIZED_PARTIES: lists no origin");
			goto out;
		}
	}
	auth->audience = copy_setting(cfg->audience);
	auth->jwks_file = copy_setting(cfg->jwks_file);
	if (!auth->jwks_file) {
		if (is_set(cfg->jwks_url)) {
			auth->jwks_url = strdup(cfg->jwks_url);
		} else {
			struct cs_buf b = CS_BUF_INIT;

			cs_buf_printf(&b, "%s/.well-known/jwks.json", auth->issuer);
			auth->jwks_url = cs_buf_detach(&b, NULL);
		}
		if (!auth->jwks_url) {
			fail(err, errlen, "out of memory");
			goto out;
		}
		/* Reference-counted by libcurl; a service calls this at start, before its threads. */
		if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
			fail(err, errlen, "could not initialize libcurl");
			goto out;
		}
		auth->curl_initialized = 1;
	}
	if ((is_set(cfg->audience) && !auth->audience) || (is_set(cfg->jwks_file) && !auth->jwks_file)) {
		fail(err, errlen, "out of memory");
		goto out;
	}

	if (pthread_mutex_init(&auth->keys_lock, NULL) != 0)
		goto locks_failed;
	locks++;
	if (pthread_cond_init(&auth->keys_loaded, NULL) != 0)
		goto locks_failed;
	locks++;
	if (pthread_mutex_init(&auth->cache_lock, NULL) != 0)
		goto locks_failed;
	locks++;

	*out = auth;
	auth = NULL;
	rc = 0;
	goto out;
locks_failed:
	fail(err, errlen, "could not create the verifier's locks");
out:
	if (auth) {
		if (locks > 2)
			pthread_mutex_destroy(&auth->cache_lock);
		if (locks > 1)
			pthread_cond_destroy(&auth->keys_loaded);
		if (locks > 0)
			pthread_mutex_destroy(&auth->keys_lock);
		/* Not yet a whole verifier: free its parts without the locks. */
		free_parts(auth);
	}
	return rc;
}

void cs_auth_free(struct cs_auth *auth)
{
	if (!auth)
		return;
	pthread_mutex_destroy(&auth->cache_lock);
	pthread_cond_destroy(&auth->keys_loaded);
	pthread_mutex_destroy(&auth->keys_lock);
	keyset_free(auth->keys);
	free_parts(auth);
}

/* "Bearer <token>": the scheme is case-insensitive (RFC 7235), the token one word. */
static int bearer_token(const char *h, const char **token, size_t *len)
{
	const char *start, *end;

	while (*h == ' ' || *h == '\t')
		h++;
	if (strncasecmp(h, "Bearer", 6) != 0 || (h[6] != ' ' && h[6] != '\t'))
		return -1;
	h += 6;
	while (*h == ' ' || *h == '\t')
		h++;
	start = h;
	while (*h && *h != ' ' && *h != '\t')
		h++;
	end = h;
	while (*h == ' ' || *h == '\t')
		h++;
	if (end == start || *h)
		return -1;
	*token = start;
	*len = (size_t)(end - start);
	return 0;
}

/* The first non-empty __session cookie (exact name: __session_x is another cookie). */
static int session_cookie(const char *c, const char **token, size_t *len)
{
	static const char name[] = "__session";
	const char *value, *end;

	while (*c) {
		while (*c == ' ' || *c == '\t' || *c == ';')
			c++;
		end = c + strcspn(c, ";");
		if ((size_t)(end - c) > sizeof name && memcmp(c, name, sizeof name - 1) == 0 &&
		    c[sizeof name - 1] == '=') {
			value = c + sizeof name;
			while (end > value && (end[-1] == ' ' || end[-1] == '\t'))
				end--;
			if (end - value >= 2 && value[0] == '"' && end[-1] == '"') {
				value++;
				end--;
			}
			if (end > value) {
				*token = value;
				*len = (size_t)(end - value);
				return 0;
			}
		}
		c = end;
	}
	return -1;
}

int cs_auth_token_from_request(const char *method, const char *authorization, const char *cookie,
			       const char **token, size_t *len)
{
	if (is_set(authorization))
		return bearer_token(authorization, token, len);
	/* The cookie is sent by the browser on its own: only reads may use it (no CSRF). */
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) || !cookie)
		return -1;
	return session_cookie(cookie, token, len);
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static void b64url_bignum(struct cs_buf *b, const BIGNUM *bn)
{
	int n = BN_num_bytes(bn);
	unsigned char *bytes = malloc(n > 0 ? (size_t)n : 1);

	if (!bytes)
		abort(); /* as cs_buf does */
	BN_bn2bin(bn, bytes);
	b64url_encode(b, bytes, (size_t)n);
	free(bytes);
}

int cs_auth_dev_keypair(const char *kid, char **private_pem, char **jwk_json, char *err,
			size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	BIGNUM *n = NULL, *e = NULL;
	struct cs_buf nb = CS_BUF_INIT, eb = CS_BUF_INIT;
	json_t *jwk = NULL;
	char *pem = NULL, *json = NULL, *data, reason[256];
	long pem_len;
	int rc = -1;

	if (!is_set(kid) || strlen(kid) > CS_AUTH_KID_MAX) {
		fail(err, errlen, "kid must be 1 to %d bytes", CS_AUTH_KID_MAX);
		goto out;
	}
	pkey = EVP_RSA_gen(2048);
	if (!pkey) {
		fail(err, errlen, "could not generate an rsa key: %s", openssl_reason(reason, sizeof reason));
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) ||
	    (pem_len = BIO_get_mem_data(bio, &data)) <= 0) {
		fail(err, errlen, "could not write the private key: %s", openssl_reason(reason, sizeof reason));
		goto out;
	}
	pem = strndup(data, (size_t)pem_len);
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
		fail(err, errlen, "could not read the public key: %s", openssl_reason(reason, sizeof reason));
		goto out;
	}
	b64url_bignum(&nb, n);
	b64url_bignum(&eb, e);
	jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "use", "sig",
			"alg", "RS256", "n", nb.data, "e", eb.data);
	json = jwk ? json_dumps(jwk, JSON_COMPACT) : NULL;
	if (!pem || !json) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	*private_pem = pem;
	*jwk_json = json;
	pem = json = NULL;
	rc = 0;
out:
	free(pem);
	free(json);
	json_decref(jwk);
	cs_buf_release(&nb);
	cs_buf_release(&eb);
	BN_free(n);
	BN_free(e);
	BIO_free(bio);
	EVP_PKEY_free(pkey);
	return rc;
}

int cs_auth_sign_rs256(const char *pem, size_t pem_len, const char *kid, const char *claims_json,
		       char **token, char *err, size_t errlen)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	EVP_MD_CTX *md_ctx = NULL;
	json_t *header = NULL;
	char *header_json = NULL, reason[256];
	unsigned char *sig = NULL;
	size_t sig_len = 0;
	struct cs_buf b = CS_BUF_INIT;
	int rc = -1;

	if (!is_set(kid) || strlen(kid) > CS_AUTH_KID_MAX) {
		fail(err, errlen, "kid must be 1 to %d bytes", CS_AUTH_KID_MAX);
		goto out;
	}
	if (pem_len > INT_MAX || !(bio = BIO_new_mem_buf(pem, (int)pem_len)) ||
	    !(pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL))) {
		fail(err, errlen, "could not read the private key: %s", openssl_reason(reason, sizeof reason));
		goto out;
	}
	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		fail(err, errlen, "the private key is not an rsa key");
		goto out;
	}
	header = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", kid);
	header_json = header ? json_dumps(header, JSON_COMPACT) : NULL;
	if (!header_json) {
		fail(err, errlen, "out of memory");
		goto out;
	}
	b64url_encode(&b, (const unsigned char *)header_json, strlen(header_json));
	cs_buf_putc(&b, '.');
	b64url_encode(&b, (const unsigned char *)claims_json, strlen(claims_json));
	md_ctx = EVP_MD_CTX_new();
	if (!md_ctx || EVP_DigestSignInit_ex(md_ctx, NULL, "SHA256", NULL, NULL, pkey, NULL) != 1 ||
	    EVP_DigestSign(md_ctx, NULL, &sig_len, (const unsigned char *)b.data, b.len) != 1 ||
	    !(sig = malloc(sig_len)) ||
	    EVP_DigestSign(md_ctx, sig, &sig_len, (const unsigned char *)b.data, b.len) != 1) {
		fail(err, errlen, "could not sign the token: %s", openssl_reason(reason, sizeof reason));
		goto out;
	}
	cs_buf_putc(&b, '.');
	b64url_encode(&b, sig, sig_len);
	*token = cs_buf_detach(&b, NULL);
	rc = 0;
out:
	ERR_clear_error();
	cs_buf_release(&b);
	free(sig);
	free(header_json);
	json_decref(header);
	EVP_MD_CTX_free(md_ctx);
	EVP_PKEY_free(pkey);
	BIO_free(bio);
	return rc;
}

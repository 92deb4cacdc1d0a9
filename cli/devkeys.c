/*
 * devkeys.c - development RSA keys and RS256 tokens (see devkeys.h). Signing
 * lives here, in the command-line tool, so that no service links code that
 * makes tokens.
 */
#include "devkeys.h"

#include <jansson.h>
#include <limits.h>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base64url.h"
#include "buf.h"
#include "jwks.h"

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

static void append_base64url(struct cs_buf *b, const unsigned char *in, size_t len)
{
	cs_buf_grow(b, cs_base64url_encoded_len(len));
	b->len += cs_base64url_encode(in, len, b->data + b->len);
}

static int no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return 0;
}

static void append_bignum(struct cs_buf *b, const BIGNUM *bn)
{
	int n = BN_num_bytes(bn);
	unsigned char *bytes = malloc(n > 0 ? (size_t)n : 1);

	if (!bytes)
		abort(); /* as cs_buf does */
	BN_bn2bin(bn, bytes);
	append_base64url(b, bytes, (size_t)n);
	free(bytes);
}

int cli_devkeys_make(const char *kid, char **private_pem, char **jwk_json, char *err, size_t errlen)
{
	EVP_PKEY *pkey = NULL;
	BIO *bio = NULL;
	BIGNUM *n = NULL, *e = NULL;
	struct cs_buf nb = CS_BUF_INIT, eb = CS_BUF_INIT;
	json_t *jwk = NULL;
	char *pem = NULL, *json = NULL, *data, reason[256];
	long pem_len;
	int rc = -1;

	if (!kid || !*kid || strlen(kid) > CS_JWKS_KID_MAX) {
		snprintf(err, errlen, "kid must be 1 to %d bytes", CS_JWKS_KID_MAX);
		goto out;
	}
	pkey = EVP_RSA_gen(2048);
	if (!pkey) {
		snprintf(err, errlen, "could not generate an rsa key: %s",
			 openssl_reason(reason, sizeof reason));
		goto out;
	}
	bio = BIO_new(BIO_s_mem());
	if (!bio || !PEM_write_bio_PrivateKey(bio, pkey, NULL, NULL, 0, NULL, NULL) ||
	    (pem_len = BIO_get_mem_data(bio, &data)) <= 0) {
		snprintf(err, errlen, "could not write the private key: %s",
			 openssl_reason(reason, sizeof reason));
		goto out;
	}
	pem = strndup(data, (size_t)pem_len);
	if (!EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_N, &n) ||
	    !EVP_PKEY_get_bn_param(pkey, OSSL_PKEY_PARAM_RSA_E, &e)) {
		snprintf(err, errlen, "could not read the public key: %s",
			 openssl_reason(reason, sizeof reason));
		goto out;
	}
	append_bignum(&nb, n);
	append_bignum(&eb, e);
	jwk = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "kty", "RSA", "kid", kid, "use", "sig",
			"alg", "RS256", "n", nb.data, "e", eb.data);
	json = jwk ? json_dumps(jwk, JSON_COMPACT) : NULL;
	if (!pem || !json) {
		snprintf(err, errlen, "out of memory");
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

int cli_devkeys_sign(const char *pem, size_t pem_len, const char *kid, const char *claims_json,
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

	if (!kid || !*kid || strlen(kid) > CS_JWKS_KID_MAX) {
		snprintf(err, errlen, "kid must be 1 to %d bytes", CS_JWKS_KID_MAX);
		goto out;
	}
	if (pem_len > INT_MAX || !(bio = BIO_new_mem_buf(pem, (int)pem_len)) ||
	    !(pkey = PEM_read_bio_PrivateKey(bio, NULL, no_passphrase, NULL))) {
		snprintf(err, errlen, "could not read the private key: %s",
			 openssl_reason(reason, sizeof reason));
		goto out;
	}
	if (!EVP_PKEY_is_a(pkey, "RSA")) {
		snprintf(err, errlen, "the private key is not an rsa key");
		goto out;
	}
	header = json_pack("{s:s, s:s, s:s}", "alg", "RS256", "typ", "JWT", "kid", kid);
	header_json = header ? json_dumps(header, JSON_COMPACT) : NULL;
	if (!header_json) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	append_base64url(&b, (const unsigned char *)header_json, strlen(header_json));
	cs_buf_putc(&b, '.');
	append_base64url(&b, (const unsigned char *)claims_json, strlen(claims_json));
	md_ctx = EVP_MD_CTX_new();
	if (!md_ctx || EVP_DigestSignInit_ex(md_ctx, NULL, "SHA256", NULL, NULL, pkey, NULL) != 1 ||
	    EVP_DigestSign(md_ctx, NULL, &sig_len, (const unsigned char *)b.data, b.len) != 1 ||
	    !(sig = malloc(sig_len)) ||
	    EVP_DigestSign(md_ctx, sig, &sig_len, (const unsigned char *)b.data, b.len) != 1) {
		snprintf(err, errlen, "could not sign the token: %s",
			 openssl_reason(reason, sizeof reason));
		goto out;
	}
	cs_buf_putc(&b, '.');
	append_base64url(&b, sig, sig_len);
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

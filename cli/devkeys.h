/*
 * devkeys.h - development signing keys and the tokens they sign, for
 * `chatsync dev-keys` and `chatsync token` (cli/token.c), the unit tests, the
 * fuzz targets and the bench's token minter. The services never link this:
 * they only verify (common/auth.h).
 *
 * cli_devkeys_make makes an RSA 2048 key: *private_pem is its PKCS#8 PEM,
 * *jwk_json its public half as one compact JWK object
 * {"kty":"RSA","kid":kid,"use":"sig","alg":"RS256","n":...,"e":...}. Both are
 * NUL-terminated and the caller's to free().
 *
 * cli_devkeys_sign signs claims_json (a JSON object, used byte for byte) with
 * the private key in pem (pem_len bytes, no NUL needed) under the header
 * {"alg":"RS256","typ":"JWT","kid":kid}; *token is the caller's to free().
 *
 * kid is 1 to CS_JWKS_KID_MAX bytes. Both return 0, or -1 with a lowercase
 * message in err (errlen bytes, never NULL); out-parameters are written only
 * on success.
 */
#ifndef CLI_DEVKEYS_H
#define CLI_DEVKEYS_H

#include <stddef.h>

int cli_devkeys_make(const char *kid, char **private_pem, char **jwk_json, char *err,
		     size_t errlen);
int cli_devkeys_sign(const char *pem, size_t pem_len, const char *kid, const char *claims_json,
		     char **token, char *err, size_t errlen);

#endif

/*
 * fuzz_token.c - token verification up to the signature check
 * (cs_auth_verify, common/auth.c and auth_rules.c): the length cap, the three
 * segments, the header's base64url and JSON, alg, typ, crit and kid, the key
 * lookup and the signature's encoding and length, against a verifier whose
 * JWKS holds one RSA key, "k1", made at start (cli/devkeys.c).
 *
 * The input's first byte chooses its form: even, the rest is the token as
 * sent; odd, the rest is "<header JSON>\0<payload JSON>\0<signature bytes>",
 * which the target encodes and joins with dots, so that libFuzzer mutates the
 * JSON itself rather than its base64url.
 *
 * Promises: nothing without a valid signature is accepted (none can be made
 * here), every refusal says why, and the reason never repeats the token.
 */
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include "auth.h"
#include "devkeys.h"

#define NOW 1700000000LL

static struct cs_auth *auth;

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	struct cs_auth_config cfg = { .issuer = "clerk.example.com",
				      .leeway_s = -1,
				      .algorithms = "RS256,RS384" };
	char *pem = NULL, *jwk = NULL, path[64], err[256];
	int fd = memfd_create("jwks", 0);

	(void)argc;
	(void)argv;
	if (fd < 0 || cli_devkeys_make("k1", &pem, &jwk, err, sizeof err) < 0 ||
	    dprintf(fd, "{\"keys\":[%s]}", jwk) < 0) {
		fprintf(stderr, "fuzz_token: could not make a key set: %s\n", err);
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	cfg.jwks_file = path;
	if (cs_auth_new(&cfg, &auth, err, sizeof err) < 0) {
		fprintf(stderr, "fuzz_token: could not make a verifier: %s\n", err);
		abort();
	}
	free(pem);
	free(jwk);
	return 0;
}

/* "<header>\0<payload>\0<signature>" -> its three parts base64url-encoded and dotted. */
static char *build_token(const uint8_t *data, size_t size, size_t *len)
{
	char *token = malloc(size * 4 / 3 + 16), *o = token;
	const uint8_t *part = data, *end = data + size;
	int i;

	if (!token)
		abort();
	for (i = 0; i < 3; i++) {
		const uint8_t *nul = i < 2 ? memchr(part, '\0', (size_t)(end - part)) : NULL;
		const uint8_t *stop = nul ? nul : end;

		o += fuzz_b64url(part, (size_t)(stop - part), o);
		if (i < 2)
			*o++ = '.';
		part = nul ? nul + 1 : end;
	}
	*len = (size_t)(o - token);
	return token;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_auth_user user;
	char err[256] = "", *token;
	size_t len;

	if (size == 0)
		return 0;
	if (data[0] & 1) {
		token = build_token(data + 1, size - 1, &len);
	} else {
		len = size - 1;
		token = malloc(len + 1);
		memcpy(token, data + 1, len);
	}
	FUZZ_CHECK(cs_auth_verify(auth, token, len, NOW, &user, err, sizeof err) == -1);
	FUZZ_CHECK(err[0] != '\0');
	if (len >= 12)
		FUZZ_CHECK(!memmem(err, strlen(err), token, len));
	free(token);
	return 0;
}

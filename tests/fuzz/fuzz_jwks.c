/*
 * fuzz_jwks.c - the JWKS document loader (common/jwks.c): the input is the
 * key set file a verifier reads, through the public path only (cs_auth_new,
 * then a verify whose kid makes it load the file).
 *
 * Promises: a load either fails, saying why, or yields keys; the token,
 * signed at start by the key "k1" whose public half the seeds hold, is
 * accepted only when the document holds that key.
 */
#include "fuzz.h"

#include <sys/mman.h>
#include <unistd.h>

#include "auth.h"
#include "devkeys.h"

#define NOW 1700000000LL

static int fd = -1;
static char path[64];
static char *token;

/*
 * A throwaway RSA key made for this target alone (it signs nothing else): the
 * seeds in tests/fuzz/corpus/fuzz_jwks/ hold its public half as the JWK "k1".
 */
static const char k1_pem[] =
	"-----BEGIN PRIVATE KEY-----\n"
	"MIIEvgIBADANBgkqhkiG9w0BAQEFAASCBKgwggSkAgEAAoIBAQDNu1oo0JwlTyYr\n"
	"Tpb3HdKWaPTFo+1ZOBGPP3ZCoxlnSpICzYPYWEqFjUskbcCxhljPOAUCSGDTZH58\n"
	"vrtjQqyFmv1UGrrib0jS5OaXsCjPllR5ANtA38wxjXn3/aGvBSV+6gMOx1gUHgUk\n"
	"n4M2PQlDj2BvlTjZ+ueJg3aPvef+OT6utmCDhGTfprDVktkZb8M+4+MBQNNjuKi1\n"
	"ISSN5fzzn67YXV32nhsLq/6Z/jKbjP7UcVarTRHY2n6ucSSc6G6KytiXFQPgpvTB\n"
	"cVkr3fvM1B66HKE2yjMIEanhcuMFq7ASmGopA72lRY7bMu1WZ7o1FG2pzSSyJAYE\n"
	"x/jtXQg3AgMBAAECggEASZVvt3Z5yuxm0gmPfH6ZsjuDBOfPfmBMA4jm0wnEDcpB\n"
	"tCfutuRJb0AstrBcwgIz5JX8UKcznphsl1Ce9G9GBpl7b2gKHPBBw1Ck229iAXGa\n"
	"8Baq1SbWwYiBLf51JIT6Ns0bX99T9QoRu9oj07P8CsKO8woT5f9Ubj5rmxkJD8ej\n"
	"7l33ILOKtD19q/X4RBkHP+XNWLIBJ2IRu+WNpTqDv0DvszPBmN7C7poDSpmJwcmX\n"
	"LcNLaN/4DFmeHSLvRmMeOLcD/YHa6kyy78WXu+Oe+/HXbiaP7dNwthD3BAS+jpMZ\n"
	"fJW8oaLVozLoNQqJ9RHfdSfDNL5Wyos+1XzuV6wwPQKBgQD7752S1cqa++4sItNk\n"
	"TT2r4QnsjLAZ5YY/27X5SadfQm29hmgnzYu4Tq88GReXRzWxYycbfui1n/JKJHhA\n"
	"WfIAq3lvuqV0hxPK0XWihFsRh1JimrJ+z2JoDTBHBiqgCV+5Qa1r9OMWIR04rOA7\n"
	"7g4eR8MYeM2e7ecM7hXkT9COAwKBgQDRDO8UKwo8WMiiNqdGKb/fc1U+qrK++KCa\n"
	"mJY7KjTf3d3VQD/fHdXbUkroeFckHWMJrBW8dobk5gNHiggiHFRtZ5BO9KDJ1kn+\n"
	"g8kydUI9ogGhNnmU51rgyioHMGe/MfIdOslJnzBqjaiY2E3ubG5U9zy+A3/oORs0\n"
	"rZHvhSwQvQKBgHQUL1IcV0GZml+TnDq2rBeplFz9ZZZI/tYlcW7u1MM7ZDzS1OKh\n"
	"/iJpfqv+E7SMBt04hihRDP/CNmya6R0dVDeiyk0Efn92TVRBtiWvPhaRdxAfnuZ2\n"
	"vyyaBwhyeulJ6GT/Mdxv9MGZeFFItfhm8vJYtjdsUbFMhAydFlEfxUPpAoGBAKZL\n"
	"WJ+9gR3yLl/DhBrvOR+iWkxIc3oww2lXOiKEd50hm8Z4npZ44FbgRpBYslEbQ149\n"
	"UukhjDrnsfIlnkSsLoj9GjGEracBXMkmwlTuLCxlBFDeyaamx4cLqpUfb1gLfiK8\n"
	"UcTL6jLIzzYO0yd3f+j854frtsLfMoIcFHvpft0tAoGBAPaChQOa3cpXHkV2nfCS\n"
	"3eqqSZZ00p+dwy6KotORvGdHj/tjTuceFIjkyx63Cx/bXc7Hmb+P+rb1HUFZnuGc\n"
	"2Czt2WfXcWyas+9cPs352F883dFm7fDgrGZco1DyTSytSN7k8OvTygxXdPnA8XV/\n"
	"iTlQyu1K3PW1ayqhvDVBkV9D\n"
	"-----END PRIVATE KEY-----\n";

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char err[256];

	(void)argc;
	(void)argv;
	fd = memfd_create("jwks", 0);
	if (fd < 0 || cli_devkeys_sign(k1_pem, strlen(k1_pem), "k1",
				       "{\"sub\":\"user_1\",\"iss\":\"https://clerk.example.com\","
				       "\"exp\":1800000000}",
				       &token, err, sizeof err) < 0) {
		fprintf(stderr, "fuzz_jwks: could not sign the token: %s\n", err);
		abort();
	}
	snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_auth_config cfg = { .issuer = "clerk.example.com",
				      .leeway_s = -1,
				      .jwks_file = path };
	struct cs_auth *auth = NULL;
	struct cs_auth_stats stats;
	struct cs_auth_user user;
	char err[256] = "";
	int rc;

	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();
	FUZZ_CHECK(cs_auth_new(&cfg, &auth, err, sizeof err) == 0);
	rc = cs_auth_verify(auth, token, strlen(token), NOW, &user, err, sizeof err);
	cs_auth_stats(auth, &stats);
	FUZZ_CHECK(stats.jwks_loads == 1);
	if (rc == 0)
		FUZZ_CHECK(stats.jwks_load_errors == 0 && !strcmp(user.sub, "user_1"));
	else
		FUZZ_CHECK(err[0] != '\0');
	cs_auth_free(auth);
	return 0;
}

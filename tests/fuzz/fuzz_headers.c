/*
 * fuzz_headers.c - the request headers chatsync reads itself: If-Match
 * (common/http_request.c) and the token's place, "Authorization: Bearer" or the
 * __session cookie (cs_auth_token_from_request, common/auth_request.c).
 *
 * The input is "<method>\n<authorization>\n<cookie>" (a missing part is an
 * absent header); If-Match is the whole input.
 *
 * Promises: If-Match gives a version >= 0 or a 400; a token found is a
 * non-empty run of the header it came from, without blanks, and comes from
 * the cookie only for GET and HEAD without an Authorization header.
 */
#include "fuzz.h"

#include "auth.h"
#include "http.h"

static void check_if_match(const char *value)
{
	struct cs_error err = CS_ERROR_INIT;
	long long version = -1;
	int rc = cs_http_parse_if_match(value, &version, &err);

	FUZZ_CHECK(rc >= -1 && rc <= 1);
	if (rc == 1)
		FUZZ_CHECK(version >= 0);
	if (rc < 0)
		FUZZ_CHECK(err.status == 400);
}

static int inside(const char *token, size_t len, const char *header)
{
	return header && token >= header && token + len <= header + strlen(header);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *input = fuzz_cstring(data, size);
	char *method = input, *authorization = NULL, *cookie = NULL, *nl;
	const char *token = NULL;
	size_t len = 0, i;

	check_if_match(input);
	if ((nl = strchr(method, '\n'))) {
		*nl = '\0';
		authorization = nl + 1;
		if ((nl = strchr(authorization, '\n'))) {
			*nl = '\0';
			cookie = nl + 1;
		}
		if (!*authorization)
			authorization = NULL;
	}
	if (cs_auth_token_from_request(method, authorization, cookie, &token, &len) == 0) {
		FUZZ_CHECK(len > 0);
		FUZZ_CHECK(inside(token, len, authorization) || inside(token, len, cookie));
		if (inside(token, len, cookie))
			FUZZ_CHECK(!authorization &&
				   (!strcmp(method, "GET") || !strcmp(method, "HEAD")));
		else
			for (i = 0; i < len; i++)
				FUZZ_CHECK(token[i] != ' ' && token[i] != '\t');
	}
	free(input);
	return 0;
}

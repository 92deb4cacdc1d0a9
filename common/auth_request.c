/*
 * auth_request.c - where a request's token comes from: the Authorization
 * header, or for reads only the __session cookie (cs_auth_token_from_request
 * in auth.h). Nothing here checks the token itself.
 */
#include "auth.h"

#include <string.h>
#include <strings.h>

int cs_auth_bearer_token(const char *h, const char **token, size_t *len)
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
	if (authorization && *authorization)
		return cs_auth_bearer_token(authorization, token, len);
	/* The cookie is sent by the browser on its own: only reads may use it (no CSRF). */
	if (!method || (strcmp(method, "GET") != 0 && strcmp(method, "HEAD") != 0) || !cookie)
		return -1;
	return session_cookie(cookie, token, len);
}

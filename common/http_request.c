/*
 * http_request.c - reading a request: its making from the FastCGI
 * parameters, headers, query parameters, If-Match, and the JSON body.
 */
#include "http_internal.h"
#include "bounds.h"
#include "id.h"
#include "json.h"
#include "url.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

/* A client's X-Request-Id is echoed only when it is short printable ASCII. */
static const char *request_id(struct cs_request *req)
{
	const char *given = cs_http_param(req, "HTTP_X_REQUEST_ID");
	char *made;
	size_t i;

	if (given) {
		for (i = 0; i <= CS_LIMIT_REQUEST_ID_CHARS && given[i]; i++)
			if (given[i] < 0x21 || given[i] > 0x7e)
				break;
		if (i > 0 && i <= CS_LIMIT_REQUEST_ID_CHARS && !given[i])
			return given;
	}
	made = cs_arena_alloc(&req->arena, CS_ID_NEW_SIZE);
	cs_id_new("r_", made);
	return made;
}

void cs_http_init(struct cs_request *req, struct cs_http_exchange *exchange,
		  struct cs_server *server, FCGX_Request *fcgi)
{
	const char *uri;

	memset(req, 0, sizeof(*req));
	memset(exchange, 0, sizeof(*exchange));
	exchange->fcgi = fcgi;
	req->exchange = exchange;
	req->server = server;
	req->method = FCGX_GetParam("REQUEST_METHOD", fcgi->envp);
	if (!req->method)
		req->method = "GET";
	uri = FCGX_GetParam("REQUEST_URI", fcgi->envp);
	if (!uri)
		uri = "/";
	req->path = cs_arena_strndup(&req->arena, uri, strcspn(uri, "?"));
	req->request_id = request_id(req);
}

const char *cs_http_param(const struct cs_request *req, const char *cgi_name)
{
	return FCGX_GetParam(cgi_name, req->exchange->fcgi->envp);
}

const char *cs_http_query(struct cs_request *req, const char *name)
{
	return cs_url_query_value(&req->arena, cs_http_param(req, "QUERY_STRING"), name);
}

int cs_http_parse_long(const char *text, const char *name, long long fallback, long long min,
		       long long max, long long *value, struct cs_error *err)
{
	char *end;
	long long parsed;

	if (!text) {
		*value = fallback;
		return 0;
	}
	errno = 0;
	parsed = strtoll(text, &end, 10);
	if (errno || end == text || *end || parsed < min || parsed > max)
		return cs_error_set(err, 400, "%s: must be an integer from %lld to %lld", name, min,
				    max);
	*value = parsed;
	return 0;
}

int cs_http_query_long(struct cs_request *req, const char *name, long long fallback, long long min,
		       long long max, long long *value, struct cs_error *err)
{
	return cs_http_parse_long(cs_http_query(req, name), name, fallback, min, max, value, err);
}

int cs_http_body_object(struct cs_request *req, const char *const *allowed, json_t **out,
			struct cs_error *err)
{
	json_t *obj = NULL, *user;

	if (cs_json_parse_object(req->body, req->body_len, &obj, err) < 0)
		return -1;
	user = json_object_get(obj, "userId");
	if (user && (!json_is_string(user) || !req->user_id ||
		     strcmp(json_string_value(user), req->user_id) != 0)) {
		json_decref(obj);
		return cs_error_set(err, 400, "userId: must be the authenticated user or absent");
	}
	if (user)
		json_object_del(obj, "userId");
	if (cs_json_only_keys(obj, allowed, err) < 0) {
		json_decref(obj);
		return -1;
	}
	*out = obj;
	return 0;
}

int cs_http_parse_if_match(const char *value, long long *version, struct cs_error *err)
{
	int quoted;
	char *end;
	long long parsed;

	/* "*" matches any current document, which an update requires anyway */
	if (!value || !strcmp(value, "*"))
		return 0;
	if (!strncmp(value, "W/", 2))
		value += 2;
	quoted = *value == '"';
	value += quoted;
	/* digits only: strtoll alone would take " -3" (leading blanks, a sign) */
	errno = 0;
	parsed = *value >= '0' && *value <= '9' ? strtoll(value, &end, 10) : -1;
	if (parsed < 0 || errno || strcmp(end, quoted ? "\"" : "") != 0)
		return cs_error_set(err, 400, "If-Match: must be a version such as \"17\"");
	*version = parsed;
	return 1;
}

int cs_http_if_match(struct cs_request *req, long long *version, struct cs_error *err)
{
	return cs_http_parse_if_match(cs_http_param(req, "HTTP_IF_MATCH"), version, err);
}

static int is_json_type(const char *content_type)
{
	size_t len;

	if (!content_type)
		return 0;
	len = strcspn(content_type, ";");
	while (len && content_type[len - 1] == ' ')
		len--;
	return len == 16 && !strncasecmp(content_type, "application/json", 16);
}

int cs_http_read_body(struct cs_request *req, long max_body)
{
	FCGX_Request *fcgi = req->exchange->fcgi;
	const char *length_param = cs_http_param(req, "CONTENT_LENGTH");
	long long length = 0;
	char *body, *end = NULL;
	long long got = 0;

	if (length_param && *length_param) {
		errno = 0;
		length = strtoll(length_param, &end, 10);
		if (errno || *end)
			length = -1;
	}
	if (length < 0) {
		cs_http_error(req, 400, "body: bad Content-Length");
		return -1;
	}
	if (length > max_body) {
		cs_http_error(req, 413, "body: larger than %ld bytes", max_body);
		return -1;
	}
	if (!is_json_type(cs_http_param(req, "CONTENT_TYPE"))) {
		cs_http_error(req, 415, "body: Content-Type must be application/json");
		return -1;
	}
	body = cs_arena_alloc(&req->arena, (size_t)length + 1);
	while (got < length) {
		size_t want = (size_t)(length - got);
		int n = FCGX_GetStr(body + got,
				    (int)(want < CS_HTTP_IO_CHUNK ? want : CS_HTTP_IO_CHUNK),
				    fcgi->in);

		if (n <= 0)
			break;
		got += n;
	}
	if (got != length) {
		cs_http_error(req, 400, "body: shorter than its Content-Length");
		return -1;
	}
	body[length] = '\0';
	req->body = body;
	req->body_len = (size_t)length;
	return 0;
}

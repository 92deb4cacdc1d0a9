/*
 * http.h - a request as its handler sees it: reading it, and answering it.
 *
 * The server (server.h) makes the request, routes it and calls the handler.
 * A handler ends in exactly one response: cs_http_respond, cs_http_error or
 * cs_http_fail, or a stream (a handler that sends none answers 500);
 * cs_http_responded tells whether it has. Whatever a handler allocates from
 * req->arena is freed when the request ends. The FastCGI side of the request
 * (its streams, the status sent, the headers to send) is http's own: a
 * handler never touches req->exchange.
 */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "arena.h"
#include "error.h"

#define CS_ROUTE_MAX_PARAMS 4

struct cs_server;
struct cs_http_exchange;

struct cs_request {
	struct cs_server *server;
	struct cs_arena arena;
	const char *method;
	const char *path; /* raw path, without the query */
	const char *request_id;
	const char *user_id;                     /* with CS_ROUTE_USER */
	long long token_exp;                     /* with CS_ROUTE_USER: the token's exp, seconds */
	const char *params[CS_ROUTE_MAX_PARAMS]; /* decoded ":name" segments, in order */
	size_t param_lens[CS_ROUTE_MAX_PARAMS];
	const char *body; /* with CS_ROUTE_BODY: NUL-terminated */
	size_t body_len;
	struct cs_http_exchange *exchange; /* http's own (http_internal.h) */
};

/* ---- reading the request ---- */

/* A request header by its CGI name ("HTTP_IF_MATCH"), or NULL. */
const char *cs_http_param(const struct cs_request *req, const char *cgi_name);
/* A query parameter, percent-decoded into the arena, or NULL when absent (url.h). */
const char *cs_http_query(struct cs_request *req, const char *name);
/* An integer query parameter in [min, max], fallback when absent; -1 with a 400 in err. */
int cs_http_query_long(struct cs_request *req, const char *name, long long fallback, long long min,
		       long long max, long long *value, struct cs_error *err);
/* The same from the parameter's decoded text (NULL: absent); name is for the message. */
int cs_http_parse_long(const char *text, const char *name, long long fallback, long long min,
		       long long max, long long *value, struct cs_error *err);
/*
 * Parses req->body as a JSON object whose keys are all in allowed
 * (NULL-terminated). A "userId" key is always accepted but must equal the
 * token's sub (API.md). *out is a new reference.
 */
int cs_http_body_object(struct cs_request *req, const char *const *allowed, json_t **out,
			struct cs_error *err);
/* If-Match: 0 when absent, 1 with *version, -1 (400 in err) when malformed. */
int cs_http_if_match(struct cs_request *req, long long *version, struct cs_error *err);
/* The same from the header's value (NULL: absent): "17", "\"17\"", W/"17" or "*". */
int cs_http_parse_if_match(const char *value, long long *version, struct cs_error *err);

/* ---- answering it ---- */

/* Adds "Name: value" to the next response. */
void cs_http_add_header(struct cs_request *req, const char *name, const char *value);
/* ETag: "<version>" from a version's text. */
void cs_http_etag(struct cs_request *req, const char *version);
/* Sends a JSON response. */
void cs_http_respond(struct cs_request *req, int status, const char *body, size_t len);
/* Sends a response of another type ("text/plain; version=0.0.4" for /metrics). */
void cs_http_respond_as(struct cs_request *req, int status, const char *content_type,
			const char *body, size_t len);
/* Sends the API.md error body. */
void cs_http_error(struct cs_request *req, int status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void cs_http_fail(struct cs_request *req, const struct cs_error *err);

/* Streaming (SSE): headers now, then chunks; -1 once the client has gone. */
int cs_http_stream_begin(struct cs_request *req, const char *content_type);
int cs_http_stream_write(struct cs_request *req, const char *data, size_t len);

/*
 * The request's connection to nginx, for a long wait to watch: nginx closes it
 * when the client goes away (sync-svc's live requests). Borrowed: it stays open
 * until the request ends; never read, write or close it.
 */
int cs_http_connection_fd(const struct cs_request *req);
/* 1 once the request has its answer: a response, an error, a stream begun, or abandoned. */
int cs_http_responded(const struct cs_request *req);
/* Ends a request whose client has gone without an answer (logged as 499, as nginx does). */
void cs_http_abandon(struct cs_request *req);

#endif

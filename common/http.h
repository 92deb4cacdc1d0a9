/*
 * http.h - the FastCGI service: request loop, router, responses, errors.
 *
 * A service describes itself in a struct cs_service (its routes and prepared
 * statements) and hands it to cs_service_main, which loads the config, opens
 * the pool, Redis and the token verifier, listens on CHATSYNC_SOCKET with
 * CHATSYNC_THREADS threads, and stops within two seconds of SIGTERM after
 * finishing the requests in flight.
 *
 * Every service answers GET /healthz, /readyz and /metrics, also under
 * /svc/<service>/ so that nginx can reach each one by name.
 *
 * A handler is called with the route's parameters decoded, the user
 * authenticated (CS_ROUTE_USER) and the JSON body read (CS_ROUTE_BODY). It
 * ends in exactly one response: cs_http_respond, cs_http_error or
 * cs_http_fail (a handler that sends none answers 500). Whatever a handler
 * allocates from req->arena is freed when the request ends.
 */
#ifndef CS_HTTP_H
#define CS_HTTP_H

#include <jansson.h>
#include <stddef.h>

#include "arena.h"
#include "buf.h"
#include "config.h"
#include "error.h"

struct cs_request;
struct cs_server;

typedef void (*cs_handler)(struct cs_request *req);

#define CS_ROUTE_USER 1    /* a user's token is required; req->user_id is its sub */
#define CS_ROUTE_SERVICE 2 /* the IMPORT_TOKEN service token is required */
#define CS_ROUTE_BODY 4    /* a JSON body is read into req->body */
#define CS_ROUTE_MAX_PARAMS 4

struct cs_route {
	const char *method;  /* "GET", "POST", ... */
	const char *pattern; /* "/api/chats/:id/branch": ":name" matches one segment */
	cs_handler handler;
	unsigned flags;
	const char *name;    /* metrics label */
};

struct cs_db_statement;

struct cs_service {
	const char *name; /* "chats": log field, metrics label, /svc/<name>/ prefix */
	const struct cs_route *routes;
	size_t route_count;
	const struct cs_db_statement *statements;
	size_t statement_count;
	/* Optional: make the service's own state (cs_server_app) after the common parts. */
	int (*start)(struct cs_server *server, char *err, size_t errlen);
	/* Optional: called on SIGTERM, so that long requests end within the grace period. */
	void (*drain)(struct cs_server *server);
	void (*stop)(struct cs_server *server);
};

struct cs_request {
	struct cs_server *server;
	struct cs_arena arena;
	const char *method;
	const char *path;       /* raw path, without the query */
	const char *request_id;
	const char *user_id;    /* with CS_ROUTE_USER */
	long long token_exp;    /* with CS_ROUTE_USER: the token's exp, seconds */
	const char *params[CS_ROUTE_MAX_PARAMS]; /* decoded ":name" segments, in order */
	size_t param_lens[CS_ROUTE_MAX_PARAMS];
	const char *body;       /* with CS_ROUTE_BODY: NUL-terminated */
	size_t body_len;
	/* private to http.c */
	void *fcgi;
	struct cs_buf headers;
	int status;
	int streaming;
};

int cs_service_main(const struct cs_service *service);

/* Accessors for the process's shared parts. */
const struct cs_config *cs_server_config(const struct cs_server *server);
struct cs_db *cs_server_db(const struct cs_server *server);
struct cs_events *cs_server_events(const struct cs_server *server);
struct cs_metrics *cs_server_metrics(const struct cs_server *server);
void *cs_server_app(const struct cs_server *server);
void cs_server_set_app(struct cs_server *server, void *app);
/* 1 once SIGTERM arrived: long-running requests should end now. */
int cs_server_stopping(const struct cs_server *server);

/* A request header by its CGI name ("HTTP_IF_MATCH"), or NULL. */
const char *cs_http_param(const struct cs_request *req, const char *cgi_name);
/* A query parameter, percent-decoded into the arena, or NULL when absent. */
const char *cs_http_query(struct cs_request *req, const char *name);
/* The same from a query string ("a=1&b=x%20y"; NULL is an empty one): the first name= wins. */
const char *cs_http_query_value(struct cs_arena *arena, const char *query, const char *name);

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
/* ETag: "<version>" from a version's text. */
void cs_http_etag(struct cs_request *req, const char *version);

/* An integer query parameter in [min, max], default when absent; -1 with a 400 in err. */
int cs_http_query_long(struct cs_request *req, const char *name, long long fallback,
		       long long min, long long max, long long *value, struct cs_error *err);

/* Adds "Name: value" to the next response. */
void cs_http_add_header(struct cs_request *req, const char *name, const char *value);
/* Sends a JSON response. */
void cs_http_respond(struct cs_request *req, int status, const char *body, size_t len);
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

/* Percent-decodes src into the arena; NULL on a malformed escape. */
char *cs_http_decode(struct cs_arena *arena, const char *src, size_t len, size_t *out_len,
		     int plus_is_space);

#endif

/*
 * server.h - the FastCGI service process: its threads, its routes, its shared parts.
 *
 * A service describes itself in a struct cs_service (its routes and prepared
 * statements) and hands it to cs_server_main, which loads the config, opens
 * the pool, Redis and the token verifier, listens on CHATSYNC_SOCKET with
 * CHATSYNC_THREADS threads, and stops within two seconds of SIGTERM after
 * finishing the requests in flight.
 *
 * Every service answers GET /healthz, /readyz and /metrics, also under
 * /svc/<service>/ so that nginx can reach each one by name.
 *
 * A route's handler is called with the route's parameters decoded, the user
 * authenticated (CS_ROUTE_USER) and the JSON body read (CS_ROUTE_BODY); how
 * it reads the request and answers is http.h.
 */
#ifndef CS_SERVER_H
#define CS_SERVER_H

#include <stddef.h>

#include "config.h"
#include "http.h"

struct cs_server;

typedef void (*cs_handler)(struct cs_request *req);

#define CS_ROUTE_USER 1    /* a user's token is required; req->user_id is its sub */
#define CS_ROUTE_SERVICE 2 /* the IMPORT_TOKEN service token is required */
/*
 * CS_ROUTE_USER | CS_ROUTE_SERVICE: a user's token, or the service token
 * acting for the user named by the query's userId (req->user_id; a made-up
 * user is only a user with no documents). For the routes of streamed replies,
 * whose writer (the app's server) outlives a user's short-lived token.
 */
#define CS_ROUTE_BODY 4 /* a JSON body is read into req->body */

struct cs_route {
	const char *method;  /* "GET", "POST", ... */
	const char *pattern; /* "/api/chats/:id/branch": ":name" matches one segment (router.h) */
	cs_handler handler;
	unsigned flags;
	const char *name; /* metrics label */
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

/* Runs the service until SIGTERM; the process's exit status. */
int cs_server_main(const struct cs_service *service);

/* Accessors for the process's shared parts (borrowed: they live as long as the process). */
const struct cs_config *cs_server_config(const struct cs_server *server);
struct cs_db *cs_server_db(const struct cs_server *server);
struct cs_events *cs_server_events(const struct cs_server *server);
struct cs_metrics *cs_server_metrics(const struct cs_server *server);
void *cs_server_app(const struct cs_server *server);
void cs_server_set_app(struct cs_server *server, void *app);

#endif

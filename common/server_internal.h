/*
 * server_internal.h - the process's shared parts, shared by the two files of
 * the server module: server.c (the process, its threads, its lifecycle) and
 * server_dispatch.c (one request: route, token, body, handler).
 */
#ifndef CS_SERVER_INTERNAL_H
#define CS_SERVER_INTERNAL_H

#include <stdatomic.h>

#include "server.h"

struct cs_request_log;

/* Built-in routes come after the service's in the metrics table. */
enum {
	CS_SERVER_HEALTHZ,
	CS_SERVER_READYZ,
	CS_SERVER_METRICS,
	CS_SERVER_UNMATCHED,
	CS_SERVER_BUILTIN_COUNT
};
extern const char *const cs_server_builtin_names[CS_SERVER_BUILTIN_COUNT];

struct cs_server {
	const struct cs_service *service;
	struct cs_config config;
	struct cs_db *db;
	struct cs_db *replica; /* DATABASE_REPLICA_URL's pool, or NULL */
	struct cs_events *events;
	struct cs_wakeup *wakeup; /* publishes events' wake-ups off the request's path */
	struct cs_auth *auth;
	struct cs_metrics *metrics;
	struct cs_request_log *request_log; /* each request's line, written in batches */
	const char **route_names;
	void *app;
	int listen_fd;
	atomic_int stopping;
	atomic_int threads_done;
};

/* Routes req and answers it; the route's index in the metrics table. */
size_t cs_server_dispatch(struct cs_request *req);

#endif

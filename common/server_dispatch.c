/*
 * server_dispatch.c - one request: its route (router.h), its token (auth.h),
 * its body, then its handler; and the built-in routes every service answers.
 */
#include "server_internal.h"
#include "auth.h"
#include "db.h"
#include "events.h"
#include "http_internal.h"
#include "id.h"
#include "log.h"
#include "metrics.h"
#include "router.h"

#include <openssl/crypto.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

const char *const cs_server_builtin_names[CS_SERVER_BUILTIN_COUNT] = { "healthz", "readyz",
								       "metrics", "unmatched" };

static int same_method(const char *route_method, const char *method)
{
	return !strcmp(route_method, method) ||
	       (!strcmp(method, "HEAD") && !strcmp(route_method, "GET"));
}

/* ---- built-in routes ---- */

static void handle_healthz(struct cs_request *req)
{
	static const char body[] = "{\"status\":\"ok\"}";

	cs_http_respond(req, 200, body, sizeof(body) - 1);
}

/*
 * The replica's lag, or -1 when it is down. A replica that just failed is not
 * asked again for SYNC_REPLICA_RETRY_MS, as sync's reads skip it (cs_db_usable):
 * a stopped one would hold every probe and scrape for its timeout, longer than
 * a load balancer's health check waits.
 */
static int replica_lag_ms(struct cs_server *server, long long *lag_ms)
{
	struct cs_error err = CS_ERROR_INIT;

	if (!cs_db_usable(server->replica))
		return -1;
	if (cs_db_replica_lag_ms(server->replica, lag_ms, &err) < 0) {
		cs_db_failed(server->replica, server->config.replica_retry_ms);
		return -1;
	}
	cs_db_answered(server->replica);
	return 0;
}

static void handle_readyz(struct cs_request *req)
{
	struct cs_error err = CS_ERROR_INIT;
	int db_down = cs_db_ping(req->server->db, &err) < 0;
	int redis_down = cs_events_ping(req->server->events) < 0;
	char body[192], replica[96] = "";
	long long lag_ms = 0;

	if (db_down || redis_down) {
		cs_http_error(req, 503, "%s%s%s down", db_down ? "postgres" : "",
			      db_down && redis_down ? " and " : "", redis_down ? "redis" : "");
		return;
	}
	/* a replica down or behind is no reason to refuse: its reads go to the primary */
	if (req->server->replica) {
		if (replica_lag_ms(req->server, &lag_ms) < 0)
			snprintf(replica, sizeof(replica), ",\"replica\":\"down\"");
		else
			snprintf(replica, sizeof(replica),
				 ",\"replica\":\"up\",\"replicaLagMs\":%lld", lag_ms);
	}
	snprintf(body, sizeof(body),
		 "{\"status\":\"ready\",\"postgres\":\"up\",\"redis\":\"up\"%s}", replica);
	cs_http_respond(req, 200, body, strlen(body));
}

/* The pools' cs_db_read counts (their own lock, not the metrics' atomics). */
static void render_read_counts(struct cs_server *server, struct cs_buf *text)
{
	long long reads, carried, replica_reads = 0, replica_carried = 0;

	cs_db_read_counts(server->db, &reads, &carried);
	if (server->replica)
		cs_db_read_counts(server->replica, &replica_reads, &replica_carried);
	cs_buf_printf(text,
		      "# TYPE chatsync_db_reads_total counter\n"
		      "chatsync_db_reads_total{service=\"%s\"} %lld\n"
		      "# TYPE chatsync_db_reads_carried_total counter\n"
		      "chatsync_db_reads_carried_total{service=\"%s\"} %lld\n",
		      server->service->name, reads + replica_reads, server->service->name,
		      carried + replica_carried);
}

static void handle_metrics(struct cs_request *req)
{
	struct cs_buf text = CS_BUF_INIT;

	cs_metrics_render(req->server->metrics, &text);
	render_read_counts(req->server, &text);
	if (req->server->replica) {
		long long lag_ms = -1;

		/* -1 when the replica is down */
		if (replica_lag_ms(req->server, &lag_ms) < 0)
			lag_ms = -1;
		cs_buf_printf(&text,
			      "# TYPE chatsync_replica_lag_ms gauge\n"
			      "chatsync_replica_lag_ms{service=\"%s\"} %lld\n",
			      req->server->service->name, lag_ms);
	}
	cs_http_respond_as(req, 200, "text/plain; version=0.0.4", text.data, text.len);
	cs_buf_release(&text);
}

/* ---- one request ---- */

static int authenticate(struct cs_request *req, unsigned flags)
{
	const char *authorization = cs_http_param(req, "HTTP_AUTHORIZATION");
	const char *token = NULL;
	size_t token_len = 0;

	if (flags & CS_ROUTE_SERVICE) {
		const char *expected = req->server->config.import_token;
		size_t expected_len = expected ? strlen(expected) : 0;
		int is_service = expected_len && authorization &&
				 cs_auth_bearer_token(authorization, &token, &token_len) == 0 &&
				 token_len == expected_len &&
				 CRYPTO_memcmp(token, expected, expected_len) == 0;

		if (!(flags & CS_ROUTE_USER))
			return is_service ? 0 : -1;
		if (is_service) {
			/* the service token acts for the user named by ?userId= (server.h) */
			const char *user = cs_http_query(req, "userId");

			if (!user || !cs_id_valid(user, strlen(user)))
				return -1;
			req->user_id = user;
			req->token_exp = 0;
			return 0;
		}
	}
	if (flags & CS_ROUTE_USER) {
		struct cs_auth_user user;
		char reason[256];

		if (cs_auth_token_from_request(req->method, authorization,
					       cs_http_param(req, "HTTP_COOKIE"), &token,
					       &token_len) < 0)
			return -1;
		if (cs_auth_verify(req->server->auth, token, token_len, time(NULL), &user, reason,
				   sizeof(reason)) < 0) {
			cs_log_info("token rejected: %s", reason);
			return -1;
		}
		req->user_id = cs_arena_strndup(&req->arena, user.sub, strlen(user.sub));
		req->token_exp = user.exp;
	}
	return 0;
}

/* Strips "/svc/<service>" so that nginx can address each service by name. */
static const char *local_path(const struct cs_server *server, const char *path)
{
	size_t name_len = strlen(server->service->name);

	if (!strncmp(path, "/svc/", 5) && !strncmp(path + 5, server->service->name, name_len) &&
	    path[5 + name_len] == '/')
		return path + 5 + name_len;
	return path;
}

size_t cs_server_dispatch(struct cs_request *req)
{
	const struct cs_service *service = req->server->service;
	const char *path = local_path(req->server, req->path);
	struct cs_router_path segments;
	size_t i;
	int path_matched = 0;
	struct cs_buf allow = CS_BUF_INIT;

	if (cs_router_split(&req->arena, path, &segments) < 0) {
		cs_http_error(req, 400, "path: malformed");
		return service->route_count + CS_SERVER_UNMATCHED;
	}
	if (segments.count == 1 && !strcmp(req->method, "GET")) {
		static const cs_handler builtins[CS_SERVER_UNMATCHED] = {
			[CS_SERVER_HEALTHZ] = handle_healthz,
			[CS_SERVER_READYZ] = handle_readyz,
			[CS_SERVER_METRICS] = handle_metrics,
		};

		for (i = 0; i < CS_SERVER_UNMATCHED; i++) {
			if (!strcmp(segments.segs[0], cs_server_builtin_names[i])) {
				builtins[i](req);
				return service->route_count + i;
			}
		}
	}
	for (i = 0; i < service->route_count; i++) {
		const struct cs_route *route = &service->routes[i];

		if (!cs_router_match(route->pattern, &segments, req->params, req->param_lens,
				     CS_ROUTE_MAX_PARAMS))
			continue;
		path_matched = 1;
		if (!same_method(route->method, req->method)) {
			cs_buf_printf(&allow, "%s%s", allow.len ? ", " : "", route->method);
			continue;
		}
		cs_buf_release(&allow);
		if (authenticate(req, route->flags) < 0) {
			cs_http_error(req, 401, "missing or invalid token");
			return i;
		}
		if ((route->flags & CS_ROUTE_BODY) &&
		    cs_http_read_body(req, req->server->config.max_body) < 0)
			return i;
		route->handler(req);
		if (!cs_http_responded(req))
			cs_http_error(req, 500, "internal error");
		return i;
	}
	if (path_matched) {
		cs_http_add_header(req, "Allow", allow.data);
		cs_http_error(req, 405, "method %s not allowed here", req->method);
	} else {
		cs_http_error(req, 404, "no such route");
	}
	cs_buf_release(&allow);
	return service->route_count + CS_SERVER_UNMATCHED;
}

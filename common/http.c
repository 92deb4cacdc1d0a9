/*
 * http.c - the threaded FastCGI loop, routing, request parsing and responses.
 *
 * Each worker thread blocks in FCGX_Accept_r on the shared listening socket
 * and serves one request at a time. The main thread only waits for SIGTERM or
 * SIGINT (blocked everywhere else): it then shuts the listening socket down,
 * which wakes the threads blocked in accept, while threads serving a request
 * finish it first.
 */
#include "http.h"
#include "auth.h"
#include "db.h"
#include "events.h"
#include "id.h"
#include "json.h"
#include "log.h"
#include "metrics.h"
#include "router.h"
#include "sockperm.h"

#include <errno.h>
#include <fcgiapp.h>
#include <openssl/crypto.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SHUTDOWN_GRACE_MS 1800

/* Built-in routes come after the service's in the metrics table. */
enum { BUILTIN_HEALTHZ, BUILTIN_READYZ, BUILTIN_METRICS, BUILTIN_NOT_FOUND, BUILTIN_COUNT };
static const char *const builtin_names[BUILTIN_COUNT] = { "healthz", "readyz", "metrics",
							  "unmatched" };

struct cs_server {
	const struct cs_service *service;
	struct cs_config config;
	struct cs_db *db;
	struct cs_events *events;
	struct cs_auth *auth;
	struct cs_metrics *metrics;
	const char **route_names;
	void *app;
	int listen_fd;
	atomic_int stopping;
	atomic_int threads_done;
};

const struct cs_config *cs_server_config(const struct cs_server *server) { return &server->config; }
struct cs_db *cs_server_db(const struct cs_server *server) { return server->db; }
struct cs_events *cs_server_events(const struct cs_server *server) { return server->events; }
struct cs_metrics *cs_server_metrics(const struct cs_server *server) { return server->metrics; }
void *cs_server_app(const struct cs_server *server) { return server->app; }
void cs_server_set_app(struct cs_server *server, void *app) { server->app = app; }
int cs_server_stopping(const struct cs_server *server) { return atomic_load(&server->stopping); }

/* ---- request parsing ---- */

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

char *cs_http_decode(struct cs_arena *arena, const char *src, size_t len, size_t *out_len,
		     int plus_is_space)
{
	char *out = cs_arena_alloc(arena, len + 1);
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (src[i] == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return NULL;
			hi = hex_value(src[i + 1]);
			lo = hex_value(src[i + 2]);
			if (hi < 0 || lo < 0)
				return NULL;
			out[n++] = (char)(hi * 16 + lo);
			i += 2;
		} else if (plus_is_space && src[i] == '+') {
			out[n++] = ' ';
		} else {
			out[n++] = src[i];
		}
	}
	out[n] = '\0';
	if (out_len)
		*out_len = n;
	return out;
}

const char *cs_http_param(const struct cs_request *req, const char *cgi_name)
{
	return FCGX_GetParam(cgi_name, ((FCGX_Request *)req->fcgi)->envp);
}

const char *cs_http_query_value(struct cs_arena *arena, const char *query, const char *name)
{
	size_t name_len = strlen(name);

	while (query && *query) {
		size_t pair_len = strcspn(query, "&");
		const char *eq = memchr(query, '=', pair_len);
		size_t key_len = eq ? (size_t)(eq - query) : pair_len;

		if (key_len == name_len && !memcmp(query, name, name_len)) {
			const char *value = eq ? eq + 1 : query + pair_len;
			size_t value_len = (size_t)(query + pair_len - value);

			return cs_http_decode(arena, value, value_len, NULL, 1);
		}
		query += pair_len;
		if (*query == '&')
			query++;
	}
	return NULL;
}

const char *cs_http_query(struct cs_request *req, const char *name)
{
	return cs_http_query_value(&req->arena, cs_http_param(req, "QUERY_STRING"), name);
}

int cs_http_query_long(struct cs_request *req, const char *name, long long fallback,
		       long long min, long long max, long long *value, struct cs_error *err)
{
	const char *text = cs_http_query(req, name);
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

/* A client's X-Request-Id is echoed only when it is short printable ASCII. */
static const char *request_id(struct cs_request *req)
{
	const char *given = cs_http_param(req, "HTTP_X_REQUEST_ID");
	char *made;
	size_t i;

	if (given) {
		for (i = 0; i <= 128 && given[i]; i++)
			if (given[i] < 0x21 || given[i] > 0x7e)
				break;
		if (i > 0 && i <= 128 && !given[i])
			return given;
	}
	made = cs_arena_alloc(&req->arena, CS_ID_NEW_SIZE);
	cs_id_new("r_", made);
	return made;
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

void cs_http_etag(struct cs_request *req, const char *version)
{
	char etag[40];

	snprintf(etag, sizeof(etag), "\"%.32s\"", version);
	cs_http_add_header(req, "ETag", etag);
}

/* ---- responses ---- */

static const char *status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 201: return "Created";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 409: return "Conflict";
	case 412: return "Precondition Failed";
	case 413: return "Payload Too Large";
	case 415: return "Unsupported Media Type";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 503: return "Service Unavailable";
	default: return status < 400 ? "OK" : "Internal Server Error";
	}
}

void cs_http_add_header(struct cs_request *req, const char *name, const char *value)
{
	cs_buf_printf(&req->headers, "%s: %s\r\n", name, value);
}

/* libfcgi counts in int: lengths stay size_t here and reach it in chunks. */
#define IO_CHUNK ((size_t)1 << 20)

static size_t min_size(size_t a, size_t b)
{
	return a < b ? a : b;
}

static int put_all(FCGX_Stream *out, const char *data, size_t len)
{
	while (len > 0) {
		size_t n = min_size(len, IO_CHUNK);

		if (FCGX_PutStr(data, (int)n, out) != (int)n)
			return -1;
		data += n;
		len -= n;
	}
	return 0;
}

static void write_head(struct cs_request *req, int status, const char *content_type,
		       long long content_length)
{
	FCGX_Request *fcgi = req->fcgi;
	struct cs_buf head = CS_BUF_INIT;

	cs_buf_printf(&head, "Status: %d %s\r\nContent-Type: %s\r\nX-Request-Id: %s\r\n"
			     "Cache-Control: no-store\r\n",
		      status, status_text(status), content_type, req->request_id);
	if (content_length >= 0)
		cs_buf_printf(&head, "Content-Length: %lld\r\n", content_length);
	if (req->headers.len)
		cs_buf_append(&head, req->headers.data, req->headers.len);
	cs_buf_puts(&head, "\r\n");
	put_all(fcgi->out, head.data, head.len);
	cs_buf_release(&head);
	req->status = status;
}

void cs_http_respond(struct cs_request *req, int status, const char *body, size_t len)
{
	FCGX_Request *fcgi = req->fcgi;

	if (req->status) {
		cs_log_error("second response to one request (%d after %d)", status, req->status);
		return;
	}
	write_head(req, status, "application/json", (long long)len);
	if (strcmp(req->method, "HEAD") != 0)
		put_all(fcgi->out, body, len);
}

static void send_error(struct cs_request *req, int status, const char *code, const char *message)
{
	struct cs_buf body = CS_BUF_INIT;

	if (status == 401)
		cs_http_add_header(req, "WWW-Authenticate", "Bearer error=\"invalid_token\"");
	if (status == 503)
		cs_http_add_header(req, "Retry-After", "1");
	cs_buf_printf(&body, "{\"error\":{\"code\":\"%s\",\"message\":", code);
	cs_buf_json_string(&body, message, strlen(message));
	cs_buf_puts(&body, ",\"requestId\":");
	cs_buf_json_string(&body, req->request_id, strlen(req->request_id));
	cs_buf_puts(&body, "}}");
	cs_http_respond(req, status, body.data, body.len);
	cs_buf_release(&body);
}

void cs_http_error(struct cs_request *req, int status, const char *fmt, ...)
{
	char message[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(message, sizeof(message), fmt, ap);
	va_end(ap);
	send_error(req, status, cs_error_code(status), message);
}

void cs_http_fail(struct cs_request *req, const struct cs_error *err)
{
	if (err->status >= 500 && err->status != 503)
		cs_metrics_add(req->server->metrics, CS_COUNTER_DB_ERRORS, 1);
	send_error(req, err->status, err->code ? err->code : cs_error_code(err->status),
		   err->message);
}

int cs_http_stream_begin(struct cs_request *req, const char *content_type)
{
	FCGX_Request *fcgi = req->fcgi;

	cs_http_add_header(req, "X-Accel-Buffering", "no");
	write_head(req, 200, content_type, -1);
	req->streaming = 1;
	return FCGX_FFlush(fcgi->out) < 0 ? -1 : 0;
}

int cs_http_stream_write(struct cs_request *req, const char *data, size_t len)
{
	FCGX_Request *fcgi = req->fcgi;

	if (put_all(fcgi->out, data, len) < 0)
		return -1;
	return FCGX_FFlush(fcgi->out) < 0 ? -1 : 0;
}

int cs_http_connection_fd(const struct cs_request *req)
{
	return ((const FCGX_Request *)req->fcgi)->ipcFd;
}

int cs_http_responded(const struct cs_request *req)
{
	return req->status != 0;
}

void cs_http_abandon(struct cs_request *req)
{
	if (!req->status)
		req->status = 499;
}

/* ---- routing ---- */

static int same_method(const char *route_method, const char *method)
{
	return !strcmp(route_method, method) || (!strcmp(method, "HEAD") && !strcmp(route_method, "GET"));
}

/* ---- built-in routes ---- */

static void handle_healthz(struct cs_request *req)
{
	static const char body[] = "{\"status\":\"ok\"}";

	cs_http_respond(req, 200, body, sizeof(body) - 1);
}

static void handle_readyz(struct cs_request *req)
{
	struct cs_error err = CS_ERROR_INIT;
	int db_down = cs_db_ping(req->server->db, &err) < 0;
	int redis_down = cs_events_ping(req->server->events) < 0;
	char body[128];

	if (db_down || redis_down) {
		cs_http_error(req, 503, "%s%s%s down", db_down ? "postgres" : "",
			      db_down && redis_down ? " and " : "", redis_down ? "redis" : "");
		return;
	}
	snprintf(body, sizeof(body), "{\"status\":\"ready\",\"postgres\":\"up\",\"redis\":\"up\"}");
	cs_http_respond(req, 200, body, strlen(body));
}

static void handle_metrics(struct cs_request *req)
{
	FCGX_Request *fcgi = req->fcgi;
	struct cs_buf text = CS_BUF_INIT;

	cs_metrics_render(req->server->metrics, &text);
	write_head(req, 200, "text/plain; version=0.0.4", (long long)text.len);
	put_all(fcgi->out, text.data, text.len);
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

		if (!expected_len || !authorization || strncmp(authorization, "Bearer ", 7) != 0)
			return -1;
		token = authorization + 7;
		token_len = strlen(token);
		return token_len == expected_len && CRYPTO_memcmp(token, expected, expected_len) == 0
			       ? 0
			       : -1;
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

/* Reads the body; 0, or -1 after sending the error. */
static int read_body(struct cs_request *req)
{
	FCGX_Request *fcgi = req->fcgi;
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
	if (length > req->server->config.max_body) {
		cs_http_error(req, 413, "body: larger than %ld bytes", req->server->config.max_body);
		return -1;
	}
	if (!is_json_type(cs_http_param(req, "CONTENT_TYPE"))) {
		cs_http_error(req, 415, "body: Content-Type must be application/json");
		return -1;
	}
	body = cs_arena_alloc(&req->arena, (size_t)length + 1);
	while (got < length) {
		int n = FCGX_GetStr(body + got, (int)min_size((size_t)(length - got), IO_CHUNK),
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

/* Strips "/svc/<service>" so that nginx can address each service by name. */
static const char *local_path(const struct cs_server *server, const char *path)
{
	size_t name_len = strlen(server->service->name);

	if (!strncmp(path, "/svc/", 5) && !strncmp(path + 5, server->service->name, name_len) &&
	    path[5 + name_len] == '/')
		return path + 5 + name_len;
	return path;
}

static size_t dispatch(struct cs_request *req)
{
	const struct cs_service *service = req->server->service;
	const char *path = local_path(req->server, req->path);
	struct cs_router_path segments;
	size_t i;
	int path_matched = 0;
	struct cs_buf allow = CS_BUF_INIT;

	if (cs_router_split(&req->arena, path, &segments) < 0) {
		cs_http_error(req, 400, "path: malformed");
		return service->route_count + BUILTIN_NOT_FOUND;
	}
	if (segments.count == 1 && !strcmp(req->method, "GET")) {
		static const cs_handler builtins[] = { handle_healthz, handle_readyz, handle_metrics };

		for (i = 0; i < 3; i++) {
			if (!strcmp(segments.segs[0], builtin_names[i])) {
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
		if ((route->flags & CS_ROUTE_BODY) && read_body(req) < 0)
			return i;
		route->handler(req);
		if (!req->status)
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
	return service->route_count + BUILTIN_NOT_FOUND;
}

static void serve(struct cs_server *server, FCGX_Request *fcgi)
{
	struct cs_request req;
	const char *uri;
	long long started = cs_monotonic_us();
	size_t route;

	memset(&req, 0, sizeof(req));
	req.server = server;
	req.fcgi = fcgi;
	req.method = FCGX_GetParam("REQUEST_METHOD", fcgi->envp);
	if (!req.method)
		req.method = "GET";
	uri = FCGX_GetParam("REQUEST_URI", fcgi->envp);
	if (!uri)
		uri = "/";
	req.path = cs_arena_strndup(&req.arena, uri, strcspn(uri, "?"));
	req.request_id = request_id(&req);

	route = dispatch(&req);
	if (!req.streaming)
		FCGX_FFlush(fcgi->out);
	cs_metrics_observe(server->metrics, route, req.status, cs_monotonic_us() - started);
	cs_log_request(req.method, req.path, req.status, cs_monotonic_us() - started,
		       req.request_id, req.user_id);
	cs_buf_release(&req.headers);
	cs_arena_release(&req.arena);
}

static void *worker(void *arg)
{
	struct cs_server *server = arg;
	FCGX_Request fcgi;

	FCGX_InitRequest(&fcgi, server->listen_fd, 0);
	while (!atomic_load(&server->stopping) && FCGX_Accept_r(&fcgi) >= 0) {
		serve(server, &fcgi);
		FCGX_Finish_r(&fcgi);
	}
	FCGX_Free(&fcgi, 1);
	atomic_fetch_add(&server->threads_done, 1);
	return NULL;
}

/* ---- process lifecycle ---- */

static int open_socket(struct cs_server *server, char *err, size_t errlen)
{
	const char *path = server->config.socket_path;

	if (!path) {
		snprintf(err, errlen, "CHATSYNC_SOCKET: is required");
		return -1;
	}
	unlink(path); /* a socket left by a killed process */
	server->listen_fd = FCGX_OpenSocket(path, 1024);
	if (server->listen_fd < 0) {
		snprintf(err, errlen, "could not listen on %s: %s", path, strerror(errno));
		return -1;
	}
	/* nginx workers run as another user: they reach it through the group */
	return cs_sockperm_apply(path, server->config.socket_mode, server->config.socket_group, err,
				 errlen);
}

static int uses_flag(const struct cs_service *service, unsigned flag)
{
	size_t i;

	for (i = 0; i < service->route_count; i++)
		if (service->routes[i].flags & flag)
			return 1;
	return 0;
}

static int start_parts(struct cs_server *server, char *err, size_t errlen)
{
	const struct cs_service *service = server->service;
	const struct cs_config *cfg = &server->config;
	struct cs_events_options events;
	size_t i, n = service->route_count + BUILTIN_COUNT;

	server->route_names = calloc(n, sizeof(*server->route_names));
	if (!server->route_names) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < service->route_count; i++)
		server->route_names[i] = service->routes[i].name;
	for (i = 0; i < BUILTIN_COUNT; i++)
		server->route_names[service->route_count + i] = builtin_names[i];
	server->metrics = cs_metrics_new(service->name, server->route_names, n);
	if (!server->metrics) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cs_db_new(cfg, service->statements, service->statement_count, &server->db, err,
		      errlen) < 0)
		return -1;
	cs_events_options_from(&events, cfg);
	if (cs_events_new(&events, &server->events, err, errlen) < 0)
		return -1;
	if (uses_flag(service, CS_ROUTE_USER)) {
		struct cs_auth_config auth = {
			.issuer = cfg->issuer,
			.authorized_parties = cfg->authorized_parties,
			.audience = cfg->audience,
			.jwks_file = cfg->jwks_file,
			.jwks_url = cfg->jwks_url,
			.leeway_s = (int)cfg->jwt_leeway_s,
			.algorithms = cfg->jwt_algorithms,
		};

		if (cs_auth_new(&auth, &server->auth, err, errlen) < 0)
			return -1;
	}
	if (service->start && service->start(server, err, errlen) < 0)
		return -1;
	return 0;
}

static void stop_parts(struct cs_server *server)
{
	if (server->service->stop)
		server->service->stop(server);
	cs_auth_free(server->auth);
	cs_events_free(server->events);
	cs_db_free(server->db);
	cs_metrics_free(server->metrics);
	free(server->route_names);
	cs_config_release(&server->config);
}

/* Waits for SIGTERM/SIGINT, then lets the workers finish within the grace period. */
static void wait_for_shutdown(struct cs_server *server, pthread_t *threads, long count,
			      const sigset_t *signals)
{
	long long deadline;
	int sig = 0;
	long i;

	sigwait(signals, &sig);
	cs_log_info("signal %d: stopping", sig);
	atomic_store(&server->stopping, 1);
	if (server->service->drain)
		server->service->drain(server);
	FCGX_ShutdownPending();
	shutdown(server->listen_fd, SHUT_RDWR);
	deadline = cs_monotonic_us() + SHUTDOWN_GRACE_MS * 1000LL;
	while (atomic_load(&server->threads_done) < count && cs_monotonic_us() < deadline)
		usleep(10000);
	if (atomic_load(&server->threads_done) < count) {
		cs_log_warn("%ld requests still running at shutdown",
			    count - atomic_load(&server->threads_done));
		return;
	}
	for (i = 0; i < count; i++)
		pthread_join(threads[i], NULL);
}

int cs_service_main(const struct cs_service *service)
{
	struct cs_server server;
	pthread_t *threads = NULL;
	pthread_attr_t attr;
	sigset_t signals;
	char err[512] = "";
	long i, started = 0;
	int status = 1;

	memset(&server, 0, sizeof(server));
	server.service = service;
	server.listen_fd = -1;
	cs_log_init(service->name);

	/* Every thread inherits this mask: only the main thread takes the signals. */
	sigemptyset(&signals);
	sigaddset(&signals, SIGTERM);
	sigaddset(&signals, SIGINT);
	sigaddset(&signals, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &signals, NULL);
	sigdelset(&signals, SIGPIPE);

	if (cs_config_load(&server.config, err, sizeof(err)) < 0)
		goto out;
	if (FCGX_Init() != 0) {
		snprintf(err, sizeof(err), "could not initialise libfcgi");
		goto out;
	}
	if (start_parts(&server, err, sizeof(err)) < 0 || open_socket(&server, err, sizeof(err)) < 0)
		goto out;
	threads = calloc((size_t)server.config.threads, sizeof(*threads));
	if (!threads) {
		snprintf(err, sizeof(err), "out of memory");
		goto out;
	}
	pthread_attr_init(&attr);
	pthread_attr_setstacksize(&attr, (size_t)server.config.thread_stack_kb * 1024);
	for (i = 0; i < server.config.threads; i++) {
		if (pthread_create(&threads[i], &attr, worker, &server) != 0)
			break;
		started++;
	}
	pthread_attr_destroy(&attr);
	if (started == 0) {
		snprintf(err, sizeof(err), "could not start worker threads");
		goto out;
	}
	cs_log_info("listening on %s with %ld threads", server.config.socket_path, started);
	wait_for_shutdown(&server, threads, started, &signals);
	if (atomic_load(&server.threads_done) < started) {
		/* Threads still inside a request use the shared parts: leave them be. */
		status = 0;
		unlink(server.config.socket_path);
		_exit(0);
	}
	status = 0;
out:
	if (status)
		cs_log_error("%s", err[0] ? err : "could not start");
	if (server.listen_fd >= 0) {
		close(server.listen_fd);
		if (server.config.socket_path)
			unlink(server.config.socket_path);
	}
	free(threads);
	stop_parts(&server);
	return status;
}

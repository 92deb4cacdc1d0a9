/*
 * server.c - the service process: its threads, the FastCGI accept loop, and
 * its start and stop.
 *
 * Each worker thread blocks in FCGX_Accept_r on the shared listening socket
 * and serves one request at a time. The main thread only waits for SIGTERM or
 * SIGINT (blocked everywhere else): it then shuts the listening socket down,
 * which wakes the threads blocked in accept, while threads serving a request
 * finish it first.
 */
#include "server_internal.h"
#include "auth.h"
#include "clock.h"
#include "db.h"
#include "events.h"
#include "http_internal.h"
#include "log.h"
#include "metrics.h"
#include "request_log.h"
#include "sockperm.h"
#include "wakeup.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define SHUTDOWN_GRACE_MS 1800

const struct cs_config *cs_server_config(const struct cs_server *server)
{
	return &server->config;
}
struct cs_db *cs_server_db(const struct cs_server *server)
{
	return server->db;
}
struct cs_db *cs_server_replica_db(const struct cs_server *server)
{
	return server->replica;
}
struct cs_events *cs_server_events(const struct cs_server *server)
{
	return server->events;
}
struct cs_wakeup *cs_server_wakeup(const struct cs_server *server)
{
	return server->wakeup;
}
struct cs_metrics *cs_server_metrics(const struct cs_server *server)
{
	return server->metrics;
}
void *cs_server_app(const struct cs_server *server)
{
	return server->app;
}
void cs_server_set_app(struct cs_server *server, void *app)
{
	server->app = app;
}

/* ---- one request ---- */

static void serve(struct cs_server *server, FCGX_Request *fcgi)
{
	struct cs_http_exchange exchange;
	struct cs_request req;
	long long started = cs_clock_monotonic_us();
	size_t route;

	cs_http_init(&req, &exchange, server, fcgi);
	route = cs_server_dispatch(&req);
	cs_http_finish(&req);
	/* 503 is an answer by design (a dependency down, a full process), not a fault of ours */
	if (cs_http_status(&req) >= 500 && cs_http_status(&req) != 503)
		cs_metrics_add(server->metrics, CS_COUNTER_INTERNAL_ERRORS, 1);
	cs_metrics_observe(server->metrics, route, cs_http_status(&req),
			   cs_clock_monotonic_us() - started);
	cs_request_log_add(server->request_log, req.method, req.path, cs_http_status(&req),
			   cs_clock_monotonic_us() - started, req.request_id, req.user_id);
	cs_http_release(&req);
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

/* "host:port" with a host and a port in 1..65535 (libfcgi would take ":port" as every address). */
static int valid_listen_address(const char *address)
{
	const char *colon = strrchr(address, ':');
	char *end;
	long port;

	if (!colon || colon == address)
		return 0;
	port = strtol(colon + 1, &end, 10);
	return end != colon + 1 && !*end && port > 0 && port < 65536;
}

/* The listening socket: CHATSYNC_SOCKET (unix) or CHATSYNC_LISTEN (TCP), exactly one. */
static int open_socket(struct cs_server *server, char *err, size_t errlen)
{
	const char *path = server->config.socket_path;
	const char *address = server->config.listen_address;

	if (!path == !address) {
		snprintf(err, errlen,
			 "CHATSYNC_SOCKET or CHATSYNC_LISTEN: exactly one is required");
		return -1;
	}
	if (address) {
		if (!valid_listen_address(address)) {
			snprintf(err, errlen, "CHATSYNC_LISTEN: expected host:port, got \"%s\"",
				 address);
			return -1;
		}
		/* libfcgi binds host:port with SO_REUSEADDR; FCGI_WEB_SERVER_ADDRS limits peers */
		server->listen_fd = FCGX_OpenSocket(address, 1024);
		if (server->listen_fd < 0) {
			snprintf(err, errlen, "could not listen on %s: %s", address,
				 strerror(errno));
			return -1;
		}
		return 0;
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
	size_t i, n = service->route_count + CS_SERVER_BUILTIN_COUNT;

	server->route_names = calloc(n, sizeof(*server->route_names));
	if (!server->route_names) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (i = 0; i < service->route_count; i++)
		server->route_names[i] = service->routes[i].name;
	for (i = 0; i < CS_SERVER_BUILTIN_COUNT; i++)
		server->route_names[service->route_count + i] = cs_server_builtin_names[i];
	server->metrics = cs_metrics_new(service->name, server->route_names, n);
	if (!server->metrics) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (cs_request_log_new(STDERR_FILENO, CS_REQUEST_LOG_WINDOW_MS, server->metrics,
			       &server->request_log, err, errlen) < 0)
		return -1;
	if (cs_db_new(cfg, service->statements, service->statement_count, &server->db, err,
		      errlen) < 0)
		return -1;
	if (cfg->database_replica_url) {
		/*
		 * the same settings, another server: the URL differs, and the
		 * statement timeout is short, since a slow replica read has the
		 * primary to fall back on (docs/decisions/replica-reads.md)
		 */
		struct cs_config replica = *cfg;

		replica.database_url = cfg->database_replica_url;
		replica.db_statement_timeout_ms = cfg->replica_timeout_ms;
		if (cs_db_new(&replica, service->statements, service->statement_count,
			      &server->replica, err, errlen) < 0)
			return -1;
	}
	cs_events_options_from(&events, cfg);
	if (cs_events_new(&events, &server->events, err, errlen) < 0 ||
	    cs_wakeup_new(server->events, server->metrics, cfg->redis_publish_queue,
			  &server->wakeup, err, errlen) < 0)
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
	/* the workers are done: their lines go out before the teardown's own */
	cs_request_log_free(server->request_log);
	if (server->service->stop)
		server->service->stop(server);
	cs_auth_free(server->auth);
	cs_wakeup_free(server->wakeup); /* before events: it publishes what is queued */
	cs_events_free(server->events);
	cs_db_free(server->replica);
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
	deadline = cs_clock_monotonic_us() + SHUTDOWN_GRACE_MS * 1000LL;
	while (atomic_load(&server->threads_done) < count && cs_clock_monotonic_us() < deadline)
		usleep(10000);
	if (atomic_load(&server->threads_done) < count) {
		cs_log_warn("%ld requests still running at shutdown",
			    count - atomic_load(&server->threads_done));
		return;
	}
	for (i = 0; i < count; i++)
		pthread_join(threads[i], NULL);
}

int cs_server_main(const struct cs_service *service)
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
	if (start_parts(&server, err, sizeof(err)) < 0 ||
	    open_socket(&server, err, sizeof(err)) < 0)
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
	cs_log_info("listening on %s with %ld threads",
		    server.config.socket_path ? server.config.socket_path
					      : server.config.listen_address,
		    started);
	wait_for_shutdown(&server, threads, started, &signals);
	if (atomic_load(&server.threads_done) < started) {
		/* Threads still inside a request use the shared parts: leave them be. */
		status = 0;
		if (server.config.socket_path)
			unlink(server.config.socket_path);
		cs_request_log_stop(server.request_log);
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

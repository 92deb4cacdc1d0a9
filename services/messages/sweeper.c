/*
 * sweeper.c - ends abandoned streams: a thread of messages-svc that, about
 * once a second, finds the streaming messages whose row has not changed for
 * STREAM_IDLE_TIMEOUT_MS and ends as `error`, with every chunk Redis holds,
 * those that got no chunk for as long. Every messages-svc process sweeps; the
 * claim (common/stream.h) lets exactly one of them end a stream, and the
 * row's write matches only a streaming row, also when Redis lost the state.
 */
#include "clock.h"
#include "db.h"
#include "log.h"
#include "messages.h"
#include "server.h"
#include "stream.h"

#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SWEEP_INTERVAL_MS 1000
#define SWEEP_BATCH "100"

struct messages_sweeper {
	struct cs_server *server;
	pthread_t thread;
	int started;
	atomic_int stopping;
	pthread_mutex_t lock;
	pthread_cond_t wake;
};

/* Ends one idle stream; logs what it could not do (the next sweep tries again). */
static void end_idle(struct cs_server *server, const char *id, const char *user_id,
		     long long row_seq)
{
	const struct cs_config *cfg = cs_server_config(server);
	struct cs_events *events = cs_server_events(server);
	struct cs_stream_result claim = CS_STREAM_RESULT_INIT;
	struct cs_error err = CS_ERROR_INIT;
	PGresult *res = NULL;
	int rc;

	if (cs_stream_claim(events, user_id, id, -1, cs_clock_now_ms(), cfg->stream_idle_timeout_ms,
			    &claim) < 0)
		return; /* Redis away: wait for it rather than drop what it holds */
	if (claim.outcome == CS_STREAM_OK) {
		rc = messages_stream_persist(server, user_id, id, claim.from_seq, claim.seq,
					     claim.pending ? claim.pending : "", "error", &res,
					     &err);
		if (rc < 0)
			cs_stream_release(events, user_id, id);
		else
			cs_stream_finish(events, user_id, id, "error");
	} else if (claim.outcome == CS_STREAM_MISSING) {
		/* Redis lost the stream: what the row holds is all there is */
		rc = messages_stream_persist(server, user_id, id, row_seq, row_seq, "", "error",
					     &res, &err);
	} else {
		rc = 0;
	}
	if (rc < 0)
		cs_log_warn("could not end an idle stream: %s", err.message);
	else if (res)
		cs_log_info("ended an idle stream as error");
	PQclear(res);
	cs_stream_result_release(&claim);
}

static void sweep(struct cs_server *server)
{
	const struct cs_config *cfg = cs_server_config(server);
	struct cs_error err = CS_ERROR_INIT;
	struct cs_db_conn *conn = NULL;
	PGresult *res = NULL;
	char before[24];
	int row;

	snprintf(before, sizeof(before), "%lld", cs_clock_now_ms() - cfg->stream_idle_timeout_ms);
	if (cs_db_acquire(cs_server_db(server), &conn, &err) < 0)
		return;
	{
		const char *params[2] = { before, SWEEP_BATCH };

		if (cs_db_exec(conn, "messages_stream_idle", 2, params, NULL, &res, &err) < 0) {
			cs_db_release(conn);
			return;
		}
	}
	cs_db_release(conn);
	for (row = 0; row < PQntuples(res); row++)
		end_idle(server, PQgetvalue(res, row, 0), PQgetvalue(res, row, 1),
			 strtoll(PQgetvalue(res, row, 2), NULL, 10));
	PQclear(res);
}

static void *run(void *arg)
{
	struct messages_sweeper *sweeper = arg;

	while (!atomic_load(&sweeper->stopping)) {
		struct timespec until;

		clock_gettime(CLOCK_MONOTONIC, &until);
		until.tv_sec += SWEEP_INTERVAL_MS / 1000;
		pthread_mutex_lock(&sweeper->lock);
		while (!atomic_load(&sweeper->stopping) &&
		       pthread_cond_timedwait(&sweeper->wake, &sweeper->lock, &until) != ETIMEDOUT)
			;
		pthread_mutex_unlock(&sweeper->lock);
		if (!atomic_load(&sweeper->stopping))
			sweep(sweeper->server);
	}
	return NULL;
}

int messages_sweeper_start(struct cs_server *server, char *err, size_t errlen)
{
	struct messages_sweeper *sweeper = calloc(1, sizeof(*sweeper));
	pthread_condattr_t attr;

	if (!sweeper) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	sweeper->server = server;
	pthread_mutex_init(&sweeper->lock, NULL);
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&sweeper->wake, &attr);
	pthread_condattr_destroy(&attr);
	if (pthread_create(&sweeper->thread, NULL, run, sweeper) != 0) {
		snprintf(err, errlen, "could not start the stream sweeper thread");
		pthread_cond_destroy(&sweeper->wake);
		pthread_mutex_destroy(&sweeper->lock);
		free(sweeper);
		return -1;
	}
	sweeper->started = 1;
	cs_server_set_app(server, sweeper);
	return 0;
}

void messages_sweeper_stop(struct cs_server *server)
{
	struct messages_sweeper *sweeper = cs_server_app(server);

	if (!sweeper)
		return;
	pthread_mutex_lock(&sweeper->lock);
	atomic_store(&sweeper->stopping, 1);
	pthread_cond_signal(&sweeper->wake);
	pthread_mutex_unlock(&sweeper->lock);
	if (sweeper->started)
		pthread_join(sweeper->thread, NULL);
	pthread_cond_destroy(&sweeper->wake);
	pthread_mutex_destroy(&sweeper->lock);
	free(sweeper);
	cs_server_set_app(server, NULL);
}

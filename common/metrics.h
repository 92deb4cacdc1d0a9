/*
 * metrics.h - Prometheus counters and latency histograms for one process.
 *
 * Routes are known at start, so the table is fixed: requests by route and
 * status, a latency histogram per route, and a few process counters. Updates
 * are lock-free atomics; cs_metrics_render writes the text exposition format.
 */
#ifndef CS_METRICS_H
#define CS_METRICS_H

#include <stddef.h>

#include "buf.h"

/*
 * The process counters, one line each: X(id, Prometheus name, Prometheus
 * type). The enum and the rendered names and # TYPE lines are made from this
 * one list, so they cannot drift; each counts what its name says, and
 * docs/OPERATIONS.md lists them with where they count.
 */
/* clang-format off */
#define CS_METRICS_COUNTERS(X) \
	X(INTERNAL_ERRORS, "chatsync_internal_errors_total", "counter")     /* answers 5xx other than 503 (server.c) */ \
	X(REDIS_ERRORS, "chatsync_redis_errors_total", "counter")           /* wake-ups that could not be published (version.c) */ \
	X(LIVE_SUBSCRIBERS, "chatsync_live_subscribers", "gauge")           /* add 1 / -1 */ \
	X(IMPORT_ROWS, "chatsync_import_rows_total", "counter")             /* rows written by imports (services/import) */ \
	X(WAKEUPS_PUBLISHED, "chatsync_wakeups_published_total", "counter") /* wake-ups a writer published (version.c) */ \
	X(WAKEUPS_RECEIVED, "chatsync_wakeups_received_total", "counter")   /* wake-ups sync-svc's reader took from Redis (hub.c) */ \
	X(REPLICA_READS, "chatsync_replica_reads_total", "counter")         /* change-feed pages read from the replica (sync page.c) */ \
	X(REPLICA_FALLBACKS, "chatsync_replica_fallbacks_total", "counter") /* pages read from the primary: the replica behind or down (sync page.c) */ \
	X(REQUEST_LOG_LINES_DROPPED, "chatsync_request_log_lines_dropped_total", "counter") /* request log lines not written: the output stuck or failed (request_log.c) */

#define CS_METRICS_COUNTER_ENUM(id, name, type) CS_COUNTER_##id,
enum cs_counter {
	CS_METRICS_COUNTERS(CS_METRICS_COUNTER_ENUM)
	CS_COUNTER_COUNT
};
#undef CS_METRICS_COUNTER_ENUM
/* clang-format on */

struct cs_metrics;

/* route_names: one label per route index; borrowed, must outlive the metrics. */
struct cs_metrics *cs_metrics_new(const char *service, const char *const *route_names,
				  size_t route_count);
void cs_metrics_free(struct cs_metrics *m);
void cs_metrics_observe(struct cs_metrics *m, size_t route, int status, long long micros);
void cs_metrics_add(struct cs_metrics *m, enum cs_counter counter, long long delta);
void cs_metrics_render(struct cs_metrics *m, struct cs_buf *out);

#endif

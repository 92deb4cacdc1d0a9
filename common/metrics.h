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

/* Each counts what its name says; docs/OPERATIONS.md lists them with where they count. */
enum cs_counter {
	CS_COUNTER_INTERNAL_ERRORS,  /* answers 5xx other than 503 (server.c) */
	CS_COUNTER_REDIS_ERRORS,     /* wake-ups that could not be published (version.c) */
	CS_COUNTER_LIVE_SUBSCRIBERS, /* a gauge: add 1 / -1 */
	CS_COUNTER_IMPORT_ROWS,
	CS_COUNTER_WAKEUPS_PUBLISHED, /* wake-ups a writer published (version.c) */
	CS_COUNTER_WAKEUPS_RECEIVED,  /* wake-ups sync-svc's reader took from Redis (hub.c) */
	CS_COUNTER_COUNT
};

struct cs_metrics;

/* route_names: one label per route index; borrowed, must outlive the metrics. */
struct cs_metrics *cs_metrics_new(const char *service, const char *const *route_names,
				  size_t route_count);
void cs_metrics_free(struct cs_metrics *m);
void cs_metrics_observe(struct cs_metrics *m, size_t route, int status, long long micros);
void cs_metrics_add(struct cs_metrics *m, enum cs_counter counter, long long delta);
void cs_metrics_render(struct cs_metrics *m, struct cs_buf *out);

#endif

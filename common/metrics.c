/* metrics.c - fixed tables of atomics, rendered as Prometheus text. */
#include "metrics.h"

#include <stdatomic.h>
#include <stdlib.h>

#define STATUS_MIN 100
#define STATUS_SLOTS 500

static const double bucket_seconds[] = { 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
					 0.1,    0.25,  0.5,    1,     2.5,  10,    60 };
#define BUCKETS (sizeof(bucket_seconds) / sizeof(bucket_seconds[0]))

struct route_metrics {
	atomic_llong by_status[STATUS_SLOTS];
	atomic_llong buckets[BUCKETS + 1]; /* the last is +Inf */
	atomic_llong sum_us;
};

struct cs_metrics {
	const char *service;
	const char *const *route_names;
	size_t route_count;
	struct route_metrics *routes;
	atomic_llong counters[CS_COUNTER_COUNT];
};

/* clang-format off */
#define COUNTER_INFO(id, name, type) [CS_COUNTER_##id] = { name, type },
static const struct {
	const char *name;
	const char *type;
} counter_info[CS_COUNTER_COUNT] = { CS_METRICS_COUNTERS(COUNTER_INFO) };
#undef COUNTER_INFO
/* clang-format on */

struct cs_metrics *cs_metrics_new(const char *service, const char *const *route_names,
				  size_t route_count)
{
	struct cs_metrics *m = calloc(1, sizeof(*m));

	if (!m)
		return NULL;
	m->routes = calloc(route_count, sizeof(*m->routes));
	if (!m->routes) {
		free(m);
		return NULL;
	}
	m->service = service;
	m->route_names = route_names;
	m->route_count = route_count;
	return m;
}

void cs_metrics_free(struct cs_metrics *m)
{
	if (!m)
		return;
	free(m->routes);
	free(m);
}

void cs_metrics_observe(struct cs_metrics *m, size_t route, int status, long long micros)
{
	struct route_metrics *r;
	size_t b = 0;

	if (!m || route >= m->route_count)
		return;
	r = &m->routes[route];
	if (status >= STATUS_MIN && status < STATUS_MIN + STATUS_SLOTS)
		atomic_fetch_add(&r->by_status[status - STATUS_MIN], 1);
	while (b < BUCKETS && micros > bucket_seconds[b] * 1e6)
		b++;
	atomic_fetch_add(&r->buckets[b], 1);
	atomic_fetch_add(&r->sum_us, micros);
}

void cs_metrics_add(struct cs_metrics *m, enum cs_counter counter, long long delta)
{
	if (m && counter < CS_COUNTER_COUNT)
		atomic_fetch_add(&m->counters[counter], delta);
}

void cs_metrics_render(struct cs_metrics *m, struct cs_buf *out)
{
	size_t r, s, b;

	cs_buf_puts(out, "# TYPE chatsync_requests_total counter\n");
	for (r = 0; r < m->route_count; r++)
		for (s = 0; s < STATUS_SLOTS; s++) {
			long long n = atomic_load(&m->routes[r].by_status[s]);

			if (n)
				cs_buf_printf(
					out,
					"chatsync_requests_total{service=\"%s\",route=\"%s\",status=\"%zu\"} %lld\n",
					m->service, m->route_names[r], s + STATUS_MIN, n);
		}
	cs_buf_puts(out, "# TYPE chatsync_request_seconds histogram\n");
	for (r = 0; r < m->route_count; r++) {
		long long cumulative = 0;

		for (b = 0; b <= BUCKETS; b++) {
			cumulative += atomic_load(&m->routes[r].buckets[b]);
			if (b < BUCKETS)
				cs_buf_printf(
					out,
					"chatsync_request_seconds_bucket{service=\"%s\",route=\"%s\",le=\"%g\"} %lld\n",
					m->service, m->route_names[r], bucket_seconds[b],
					cumulative);
			else
				cs_buf_printf(
					out,
					"chatsync_request_seconds_bucket{service=\"%s\",route=\"%s\",le=\"+Inf\"} %lld\n",
					m->service, m->route_names[r], cumulative);
		}
		cs_buf_printf(out,
			      "chatsync_request_seconds_sum{service=\"%s\",route=\"%s\"} %.6f\n",
			      m->service, m->route_names[r],
			      (double)atomic_load(&m->routes[r].sum_us) / 1e6);
		cs_buf_printf(out,
			      "chatsync_request_seconds_count{service=\"%s\",route=\"%s\"} %lld\n",
			      m->service, m->route_names[r], cumulative);
	}
	for (s = 0; s < CS_COUNTER_COUNT; s++)
		cs_buf_printf(out, "# TYPE %s %s\n%s{service=\"%s\"} %lld\n", counter_info[s].name,
			      counter_info[s].type, counter_info[s].name, m->service,
			      (long long)atomic_load(&m->counters[s]));
}

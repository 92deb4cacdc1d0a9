/* test_metrics.c - the Prometheus text of common/metrics.c. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <string.h>

#include "metrics.h"

static const char *const routes[] = { "chats_get", "metrics" };

static char *render(struct cs_metrics *m, struct cs_buf *out)
{
	cs_buf_reset(out);
	cs_metrics_render(m, out);
	cs_buf_putc(out, '\0');
	return out->data;
}

static void test_render_counts_requests_by_route_and_status(void **state)
{
	struct cs_metrics *m = cs_metrics_new("chats", routes, 2);
	struct cs_buf out = CS_BUF_INIT;
	char *text;

	(void)state;
	text = render(m, &out);
	assert_non_null(strstr(text, "# TYPE chatsync_requests_total counter\n"));
	assert_null(strstr(text, "chatsync_requests_total{")); /* no request: no sample */
	cs_metrics_observe(m, 0, 200, 100);
	cs_metrics_observe(m, 0, 200, 100);
	cs_metrics_observe(m, 0, 404, 100);
	cs_metrics_observe(m, 1, 200, 100);
	cs_metrics_observe(m, 2, 200, 100); /* no such route: ignored */
	text = render(m, &out);
	assert_non_null(strstr(
		text,
		"chatsync_requests_total{service=\"chats\",route=\"chats_get\",status=\"200\"} 2\n"));
	assert_non_null(strstr(
		text,
		"chatsync_requests_total{service=\"chats\",route=\"chats_get\",status=\"404\"} 1\n"));
	assert_non_null(strstr(
		text,
		"chatsync_requests_total{service=\"chats\",route=\"metrics\",status=\"200\"} 1\n"));
	cs_buf_release(&out);
	cs_metrics_free(m);
}

static void test_render_histogram_is_cumulative_with_sum_and_count(void **state)
{
	struct cs_metrics *m = cs_metrics_new("sync", routes, 2);
	struct cs_buf out = CS_BUF_INIT;
	char *text;

	(void)state;
	cs_metrics_observe(m, 0, 200, 400);      /* 0.4 ms: in le=0.0005 */
	cs_metrics_observe(m, 0, 200, 3000);     /* 3 ms: first in le=0.005 */
	cs_metrics_observe(m, 0, 200, 90000000); /* 90 s: only +Inf */
	text = render(m, &out);
	assert_non_null(strstr(
		text,
		"chatsync_request_seconds_bucket{service=\"sync\",route=\"chats_get\",le=\"0.0005\"} 1\n"));
	assert_non_null(strstr(
		text,
		"chatsync_request_seconds_bucket{service=\"sync\",route=\"chats_get\",le=\"0.0025\"} 1\n"));
	assert_non_null(strstr(
		text,
		"chatsync_request_seconds_bucket{service=\"sync\",route=\"chats_get\",le=\"0.005\"} 2\n"));
	assert_non_null(strstr(
		text,
		"chatsync_request_seconds_bucket{service=\"sync\",route=\"chats_get\",le=\"60\"} 2\n"));
	assert_non_null(strstr(
		text,
		"chatsync_request_seconds_bucket{service=\"sync\",route=\"chats_get\",le=\"+Inf\"} 3\n"));
	assert_non_null(strstr(
		text,
		"chatsync_request_seconds_sum{service=\"sync\",route=\"chats_get\"} 90.003400\n"));
	assert_non_null(strstr(
		text, "chatsync_request_seconds_count{service=\"sync\",route=\"chats_get\"} 3\n"));
	assert_non_null(strstr(
		text, "chatsync_request_seconds_count{service=\"sync\",route=\"metrics\"} 0\n"));
	cs_buf_release(&out);
	cs_metrics_free(m);
}

static void test_render_counters_by_their_names(void **state)
{
	struct cs_metrics *m = cs_metrics_new("sync", routes, 2);
	struct cs_buf out = CS_BUF_INIT;
	char *text;

	(void)state;
	cs_metrics_add(m, CS_COUNTER_WAKEUPS_RECEIVED, 3);
	cs_metrics_add(m, CS_COUNTER_LIVE_SUBSCRIBERS, 2);
	cs_metrics_add(m, CS_COUNTER_LIVE_SUBSCRIBERS, -1);
	cs_metrics_add(m, CS_COUNTER_INTERNAL_ERRORS, 1);
	cs_metrics_add(NULL, CS_COUNTER_INTERNAL_ERRORS, 1); /* no metrics: nothing */
	text = render(m, &out);
	assert_non_null(strstr(text, "\nchatsync_wakeups_received_total{service=\"sync\"} 3\n"));
	assert_non_null(strstr(text, "\nchatsync_wakeups_published_total{service=\"sync\"} 0\n"));
	assert_non_null(strstr(text, "\nchatsync_live_subscribers{service=\"sync\"} 1\n"));
	assert_non_null(strstr(text, "\nchatsync_internal_errors_total{service=\"sync\"} 1\n"));
	assert_non_null(strstr(text, "\nchatsync_redis_errors_total{service=\"sync\"} 0\n"));
	assert_non_null(strstr(text, "\nchatsync_import_rows_total{service=\"sync\"} 0\n"));
	/* every counter under its # TYPE line */
	assert_non_null(strstr(text,
			       "\n# TYPE chatsync_wakeups_received_total counter\n"
			       "chatsync_wakeups_received_total{"));
	assert_non_null(strstr(text,
			       "\n# TYPE chatsync_live_subscribers gauge\n"
			       "chatsync_live_subscribers{"));
	assert_non_null(strstr(text,
			       "\n# TYPE chatsync_internal_errors_total counter\n"
			       "chatsync_internal_errors_total{"));
	cs_buf_release(&out);
	cs_metrics_free(m);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_render_counts_requests_by_route_and_status),
		cmocka_unit_test(test_render_histogram_is_cumulative_with_sum_and_count),
		cmocka_unit_test(test_render_counters_by_their_names),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

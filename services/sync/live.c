/*
 * live.c - long-poll and Server-Sent Events over the change feed.
 *
 * A live request holds its FastCGI thread while it waits (DESIGN.md, hard
 * part 4), but no Postgres connection and no Redis connection: it borrows a
 * pooled connection only to read, and the hub's one reader thread wakes it.
 * The number held at once is capped (SYNC_LIVE_MAX, and never all of the
 * process's threads) so that plain requests always find a thread, and per
 * user (SYNC_LIVE_PER_USER) so that one user cannot take them all; a request
 * whose client went away gives its slot back at once (hub.h).
 */
#include "live.h"
#include "clock.h"
#include "hub.h"
#include "log.h"
#include "metrics.h"
#include "page.h"
#include "streams.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Threads kept free of live requests for delta reads and sync status. */
#define THREADS_KEPT_FOR_PLAIN_REQUESTS 4
#define LONG_POLL_DEFAULT_S 25
#define LONG_POLL_MAX_S 60
#define READ_RETRY_US 1000000LL /* an open stream's next read after Postgres failed */
/*
 * A user at its cap frees a slot when one of its own requests ends: a
 * long-poll within LONG_POLL_DEFAULT_S, a stream not before its token
 * expires. A few seconds spare a misbehaving client's retries.
 */
#define USER_FULL_RETRY_AFTER_S "5"

struct sync_live {
	struct sync_hub *hub;
	long max_per_user;
	long long ping_us;
};

void sync_live_drain(struct cs_server *server)
{
	struct sync_live *live = cs_server_app(server);

	sync_hub_drain(live->hub);
}

int sync_live_start(struct cs_server *server, char *err, size_t errlen)
{
	const struct cs_config *cfg = cs_server_config(server);
	struct sync_live *live = calloc(1, sizeof(*live));
	struct sync_hub_limits limits;

	if (!live) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	limits.max_live = cfg->live_max;
	if (limits.max_live > cfg->threads - THREADS_KEPT_FOR_PLAIN_REQUESTS)
		limits.max_live = cfg->threads - THREADS_KEPT_FOR_PLAIN_REQUESTS;
	if (limits.max_live < 1)
		limits.max_live = 1;
	limits.max_per_user = cfg->live_per_user;
	limits.recheck_ms = cfg->live_recheck_ms;
	live->max_per_user = cfg->live_per_user;
	live->ping_us = cfg->sse_ping_s * 1000000LL;
	if (sync_hub_start(cfg, &limits, cs_server_metrics(server), &live->hub, err, errlen) < 0) {
		free(live);
		return -1;
	}
	cs_server_set_app(server, live);
	return 0;
}

void sync_live_stop(struct cs_server *server)
{
	struct sync_live *live = cs_server_app(server);

	if (!live)
		return;
	sync_hub_stop(live->hub);
	free(live);
}

/*
 * Takes a live slot and registers the waiter, before the first read: a commit
 * after that read must still wake us. -1 after answering 429 (the user's cap)
 * or 503 (the process's).
 */
static int enter(struct cs_request *req, struct sync_live *live, struct sync_waiter *w)
{
	switch (sync_hub_join(live->hub, w, req->user_id, cs_http_connection_fd(req))) {
	case SYNC_HUB_JOINED:
		break;
	case SYNC_HUB_USER_FULL:
		cs_http_add_header(req, "Retry-After", USER_FULL_RETRY_AFTER_S);
		cs_http_error(req, 429,
			      "too many live requests for this user (at most %ld at once)",
			      live->max_per_user);
		return -1;
	default:
		cs_http_error(req, 503, "too many live requests, try again");
		return -1;
	}
	cs_metrics_add(cs_server_metrics(req->server), CS_COUNTER_LIVE_SUBSCRIBERS, 1);
	return 0;
}

static void leave(struct cs_request *req, struct sync_live *live, struct sync_waiter *w)
{
	sync_hub_leave(live->hub, w);
	cs_metrics_add(cs_server_metrics(req->server), CS_COUNTER_LIVE_SUBSCRIBERS, -1);
}

/* Chunks a long-poll answers, as a JSON array's elements. */
struct poll_chunks {
	struct cs_buf json;
	int count;
};

static int collect_chunk(struct cs_request *req, const struct sync_chunk *chunk, void *arg)
{
	struct poll_chunks *chunks = arg;

	(void)req;
	if (chunks->count++)
		cs_buf_putc(&chunks->json, ',');
	sync_streams_chunk_json(&chunks->json, chunk);
	return 0;
}

/* {"changes": [], "chunks": [...], "cursor", "hasMore": false}: chunks, no new version. */
static void respond_chunks(struct cs_request *req, const struct sync_streams *streams,
			   long long after, const struct poll_chunks *chunks)
{
	struct cs_buf body = CS_BUF_INIT;
	struct cs_buf cursor = CS_BUF_INIT;

	sync_streams_append_cursor(&cursor, streams, after);
	cs_buf_puts(&body, "{\"changes\":[],\"chunks\":[");
	cs_buf_append(&body, chunks->json.data, chunks->json.len);
	cs_buf_puts(&body, "],\"cursor\":");
	cs_buf_json_string(&body, cursor.data, cursor.len);
	cs_buf_puts(&body, ",\"hasMore\":false}");
	cs_http_respond(req, 200, body.data, body.len);
	cs_buf_release(&cursor);
	cs_buf_release(&body);
}

void sync_live_long_poll(struct cs_request *req, long long after, const char *streamed,
			 size_t streamed_len, long long limit)
{
	struct sync_live *live = cs_server_app(req->server);
	struct cs_error err = CS_ERROR_INIT;
	struct cs_buf body = CS_BUF_INIT;
	struct poll_chunks chunks = { CS_BUF_INIT, 0 };
	struct sync_streams streams;
	struct sync_waiter waiter;
	struct sync_page page;
	long long timeout_s, deadline;
	int asked_page = 0;

	sync_streams_init(&streams);
	if (sync_streams_from_cursor(&streams, streamed, streamed_len) < 0
		    ? cs_error_set(&err, 400, "cursor: malformed")
		    : cs_http_query_long(req, "timeout", LONG_POLL_DEFAULT_S, 0, LONG_POLL_MAX_S,
					 &timeout_s, &err)) {
		cs_http_fail(req, &err);
		goto out;
	}
	if (enter(req, live, &waiter) < 0)
		goto out;
	deadline = cs_clock_monotonic_us() + timeout_s * 1000000LL;
	for (;;) {
		long long now, wake_at;
		int woken;

		cs_buf_reset(&body);
		if (sync_page_load(req, after, limit, &streams, &body, &page, &err) < 0) {
			cs_http_fail(req, &err);
			break;
		}
		streams.need_page = 0;
		if (page.count > 0) {
			cs_http_respond(req, 200, body.data, body.len);
			break;
		}
		for (;;) {
			/* chunks only while the page is empty: the client applies them after it */
			sync_streams_deliver(&streams, req, live->hub, &waiter, after,
					     collect_chunk, &chunks);
			now = cs_clock_monotonic_us();
			if (chunks.count > 0) {
				respond_chunks(req, &streams, after, &chunks);
				break;
			}
			if ((streams.need_page && !asked_page) || now >= deadline ||
			    sync_hub_draining(live->hub))
				break;
			wake_at = now + sync_hub_recheck_us(live->hub);
			woken = sync_hub_wait(live->hub, &waiter,
					      wake_at < deadline ? wake_at : deadline);
			if (woken < 0) {
				cs_http_abandon(req);
				break;
			}
			asked_page = 0;
			if (woken != SYNC_HUB_CHUNKS)
				break; /* a new version, or the re-check: read Postgres */
		}
		if (cs_http_responded(req))
			break;
		if (streams.need_page && !asked_page) {
			asked_page = 1;
			continue;
		}
		if (cs_clock_monotonic_us() >= deadline || sync_hub_draining(live->hub)) {
			cs_http_respond(req, 200, body.data, body.len);
			break;
		}
	}
	leave(req, live, &waiter);
out:
	sync_streams_release(&streams);
	cs_buf_release(&chunks.json);
	cs_buf_release(&body);
}

static int send_changes(struct cs_request *req, const struct cs_buf *page_json,
			const struct sync_page *page)
{
	struct cs_buf event = CS_BUF_INIT;
	int rc;

	cs_buf_printf(&event, "id: %s\nevent: changes\ndata: ", page->cursor);
	cs_buf_append(&event, page_json->data, page_json->len);
	cs_buf_puts(&event, "\n\n");
	rc = cs_http_stream_write(req, event.data, event.len);
	cs_buf_release(&event);
	return rc;
}

/* An SSE `chunk` event, its id the cursor that counts it. */
struct sse_chunks {
	const struct sync_streams *streams;
	const long long *after;
	struct cs_buf event;
};

static int send_chunk(struct cs_request *req, const struct sync_chunk *chunk, void *arg)
{
	struct sse_chunks *out = arg;

	cs_buf_reset(&out->event);
	cs_buf_puts(&out->event, "id: ");
	sync_streams_append_cursor(&out->event, out->streams, *out->after);
	cs_buf_puts(&out->event, "\nevent: chunk\ndata: ");
	sync_streams_chunk_json(&out->event, chunk);
	cs_buf_puts(&out->event, "\n\n");
	return cs_http_stream_write(req, out->event.data, out->event.len);
}

void sync_live_event_stream(struct cs_request *req, long long after, const char *streamed,
			    size_t streamed_len, long long limit)
{
	static const char ping[] = ": ping\n\n";
	static const char reauth[] = "event: reauth\ndata: {}\n\n";
	/*
	 * nginx (fastcgi_buffering off) holds the response head back until body
	 * bytes follow it: without this comment a client with nothing to replay
	 * would see no answer at all until the first ping.
	 */
	static const char opened[] = ": connected\n\n";
	struct sync_live *live = cs_server_app(req->server);
	struct cs_error err = CS_ERROR_INIT;
	struct cs_buf page_json = CS_BUF_INIT;
	struct sync_streams streams;
	struct sse_chunks chunks = { &streams, &after, CS_BUF_INIT };
	struct sync_waiter waiter;
	struct sync_page page;
	long long now = cs_clock_monotonic_us(), next_ping = now + live->ping_us, next_check = now;
	/* the token's expiry on the monotonic clock (none for the service token) */
	long long expires =
		req->token_exp
			? now + ((long long)req->token_exp - (long long)time(NULL)) * 1000000LL
			: now + LONG_POLL_MAX_S * 60 * 1000000LL;
	int page_ready, asked_page = 0;

	sync_streams_init(&streams);
	if (sync_streams_from_cursor(&streams, streamed, streamed_len) < 0) {
		cs_http_error(req, 400, "cursor: malformed");
		goto done;
	}
	if (enter(req, live, &waiter) < 0)
		goto done;
	/*
	 * The first page is read before the stream opens, so that a client meets
	 * a failing Postgres as a 503 with Retry-After, not as a stream that ends
	 * at once and is reopened in a loop.
	 */
	if (sync_page_load(req, after, limit, &streams, &page_json, &page, &err) < 0) {
		cs_http_fail(req, &err);
		goto out;
	}
	page_ready = 1;
	if (cs_http_stream_begin(req, "text/event-stream") < 0 ||
	    cs_http_stream_write(req, opened, sizeof(opened) - 1) < 0)
		goto out;
	for (;;) {
		long long wake_at;
		int woken;

		now = cs_clock_monotonic_us();
		if (now >= expires) {
			cs_http_stream_write(req, reauth, sizeof(reauth) - 1);
			break;
		}
		if (now >= next_check) {
			if (!page_ready) {
				cs_buf_reset(&page_json);
				page_ready = sync_page_load(req, after, limit, &streams, &page_json,
							    &page, &err) == 0;
			}
			if (!page_ready) {
				/* Postgres is away: the stream stays (with its pings) and reads again soon */
				cs_log_warn("event stream could not read changes: %s", err.message);
				next_check = cs_clock_monotonic_us() + READ_RETRY_US;
				goto read_later;
			}
			page_ready = 0;
			streams.need_page = 0;
			if (page.count > 0) {
				if (send_changes(req, &page_json, &page) < 0)
					break;
				after = page.last;
				next_ping = cs_clock_monotonic_us() + live->ping_us;
				if (page.has_more)
					continue;
			}
			next_check = cs_clock_monotonic_us() + sync_hub_recheck_us(live->hub);
		}
read_later:
		if (sync_hub_draining(live->hub))
			break;
		if (sync_streams_deliver(&streams, req, live->hub, &waiter, after, send_chunk,
					 &chunks) < 0)
			break;
		if (chunks.event.len)
			next_ping = cs_clock_monotonic_us() + live->ping_us;
		cs_buf_reset(&chunks.event);
		if (streams.need_page && !asked_page) {
			/* a stream whose newest window the client has no page of yet */
			asked_page = 1;
			next_check = 0;
			continue;
		}
		if (now >= next_ping) {
			if (cs_http_stream_write(req, ping, sizeof(ping) - 1) < 0)
				break;
			next_ping = now + live->ping_us;
		}
		wake_at = next_ping < next_check ? next_ping : next_check;
		if (expires < wake_at)
			wake_at = expires;
		woken = sync_hub_wait(live->hub, &waiter, wake_at);
		if (woken < 0)
			break; /* the client went away */
		asked_page = 0;
		if (woken & SYNC_HUB_CHANGES)
			next_check = 0;
	}
out:
	leave(req, live, &waiter);
done:
	sync_streams_release(&streams);
	cs_buf_release(&chunks.event);
	cs_buf_release(&page_json);
}

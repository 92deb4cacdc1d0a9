/*
 * changes.c - GET /api/sync: a user's changes after a cursor.
 *
 * The cursor is the last version a client has. Because a user's versions
 * commit in order (common/version.h), "everything above V" read in one
 * snapshot is a complete prefix: a page can never skip a change that commits
 * later with a lower version.
 */
#include "bounds.h"
#include "cursor.h"
#include "live.h"
#include "page.h"
#include "streams.h"
#include "changes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/*
 * The cursor's version, and what a live request had sent of streamed replies
 * (streams.h; "" when none); absent or "0" is 0.
 */
static int read_cursor(struct cs_request *req, long long *version, const char **text, size_t *len,
		       struct cs_error *err)
{
	const char *cursor = cs_http_param(req, "HTTP_LAST_EVENT_ID");
	struct sync_streams check;
	int malformed;

	if (!cursor || !*cursor)
		cursor = cs_http_query(req, "cursor");
	*version = 0;
	*text = "";
	*len = 0;
	if (!cursor || !*cursor || !strcmp(cursor, "0"))
		return 0;
	if (cs_cursor_decode(&req->arena, cursor, version, text, len) < 0 || *version < 0)
		return cs_error_set(err, 400, "cursor: malformed");
	sync_streams_init(&check);
	malformed = sync_streams_from_cursor(&check, *text, *len) < 0;
	sync_streams_release(&check);
	return malformed ? cs_error_set(err, 400, "cursor: malformed") : 0;
}

static int wants_event_stream(struct cs_request *req)
{
	const char *accept = cs_http_param(req, "HTTP_ACCEPT");

	return accept && strstr(accept, "text/event-stream") != NULL;
}

void sync_changes(struct cs_request *req)
{
	struct cs_error err = CS_ERROR_INIT;
	struct cs_buf body = CS_BUF_INIT;
	struct sync_page page;
	const char *live = cs_http_query(req, "live");
	const char *streamed = "";
	size_t streamed_len = 0;
	long long after = 0, limit;

	if (read_cursor(req, &after, &streamed, &streamed_len, &err) < 0 ||
	    cs_http_query_long(req, "limit", CS_LIMIT_SYNC_PAGE_DEFAULT, 1, CS_LIMIT_SYNC_PAGE_MAX,
			       &limit, &err) < 0)
		goto out;
	if (wants_event_stream(req)) {
		sync_live_event_stream(req, after, streamed, streamed_len, limit);
		goto out;
	}
	if (live && strcmp(live, "0") != 0 && strcmp(live, "false") != 0) {
		sync_live_long_poll(req, after, streamed, streamed_len, limit);
		goto out;
	}
	if (sync_page_load(req, after, limit, NULL, &body, &page, &err) < 0)
		goto out;
	cs_http_respond(req, 200, body.data, body.len);
out:
	if (!cs_http_responded(req))
		cs_http_fail(req, &err);
	cs_buf_release(&body);
}

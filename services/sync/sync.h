/* sync.h - the handlers of sync-svc (API.md, Sync) and what they share. */
#ifndef SYNC_H
#define SYNC_H

#include "buf.h"
#include "server.h"

struct sync_page {
	long long last;  /* the cursor's version after this page */
	const char *cursor; /* the same, as the client sees it (in the request's arena) */
	int count;       /* changes in the page */
	int has_more;
};

void sync_changes(struct cs_request *req);
void sync_status_put(struct cs_request *req);
void sync_status_list(struct cs_request *req);

/*
 * Appends {"changes": [...], "cursor": ..., "hasMore": ...} for the user's
 * changes after version `after` to out, borrowing a pooled connection only
 * for the query.
 */
int sync_load_page(struct cs_request *req, long long after, long long limit, struct cs_buf *out,
		   struct sync_page *page, struct cs_error *err);

/* Live delivery (live.c): long-poll and Server-Sent Events. */
void sync_long_poll(struct cs_request *req, long long after, long long limit);
void sync_event_stream(struct cs_request *req, long long after, long long limit);
int sync_live_start(struct cs_server *server, char *err, size_t errlen);
void sync_live_stop(struct cs_server *server);
void sync_live_drain(struct cs_server *server);

#endif

/* page.h - one page of the change feed (API.md, Sync), shared by the delta and live reads. */
#ifndef SYNC_PAGE_H
#define SYNC_PAGE_H

#include "buf.h"
#include "http.h"

struct sync_page {
	long long last;     /* the cursor's version after this page */
	const char *cursor; /* the same, as the client sees it (in the request's arena) */
	int count;          /* changes in the page */
	int has_more;
};

/*
 * Appends {"changes": [...], "cursor": ..., "hasMore": ...} for the user's
 * changes after version `after` to out, borrowing a pooled connection only
 * for the query.
 */
int sync_page_load(struct cs_request *req, long long after, long long limit, struct cs_buf *out,
		   struct sync_page *page, struct cs_error *err);

#endif

/* page.h - one page of the change feed (API.md, Sync), shared by the delta and live reads. */
#ifndef SYNC_PAGE_H
#define SYNC_PAGE_H

#include "buf.h"
#include "document.h"
#include "http.h"
#include "streams.h"

/*
 * The statement of a page (sync-svc prepares it as "sync_changes"): a user's
 * changes after a version, both tables merged in version order and bounded
 * in stored bytes (document.h; stored_bytes follows the documents). $1 user,
 * $2 the version after which, $3 the most rows. Its columns, in order, are
 * enum sync_page_column's: change the one with the other.
 */
/* clang-format off */
#define SYNC_PAGE_SQL \
	"SELECT * FROM (SELECT changes.*, " \
	CS_ANSWER_BYTES_BEFORE("changes.stored_bytes", "changes.v") " AS bytes_before FROM (" \
	"SELECT * FROM (" \
	"(SELECT 0 AS kind, c.version AS v, " CS_CHAT_COLUMNS ", " CS_MESSAGE_NULLS ", " \
	CS_CHAT_STORED_BYTES " AS stored_bytes" \
	" FROM chats c WHERE c.user_id = $1 AND c.version > $2 ORDER BY c.version LIMIT $3) " \
	"UNION ALL " \
	"(SELECT 1, m.version, " CS_CHAT_NULLS ", " CS_MESSAGE_COLUMNS ", " CS_MESSAGE_STORED_BYTES \
	" FROM messages m WHERE m.user_id = $1 AND m.version > $2 ORDER BY m.version LIMIT $3)" \
	") merged ORDER BY v LIMIT $3) changes) page " \
	"WHERE bytes_before < " CS_ANSWER_BUDGET " ORDER BY v"
/* clang-format on */

enum sync_page_column {
	SYNC_PAGE_COL_KIND,      /* 0 a chat, 1 a message */
	SYNC_PAGE_COL_VERSION,   /* the row's version */
	SYNC_PAGE_COL_FIRST_DOC, /* the chat's columns, then the message's (NULLs for the other) */
	SYNC_PAGE_COL_STORED_BYTES =
		SYNC_PAGE_COL_FIRST_DOC + CS_CHAT_COLUMN_COUNT + CS_MESSAGE_COLUMN_COUNT,
	SYNC_PAGE_COL_BYTES_BEFORE
};

struct sync_page {
	long long last;     /* the cursor's version after this page */
	const char *cursor; /* the same, as the client sees it (in the request's arena) */
	int count;          /* changes in the page */
	int has_more;
};

/*
 * Appends {"changes": [...], "cursor": ..., "hasMore": ...} for the user's
 * changes after version `after` to out, borrowing a pooled connection only
 * for the query. streams (NULL for a plain delta read): a live request's map
 * of streamed replies, which learns the page's messages and is in the cursor.
 */
int sync_page_load(struct cs_request *req, long long after, long long limit,
		   struct sync_streams *streams, struct cs_buf *out, struct sync_page *page,
		   struct cs_error *err);

#endif

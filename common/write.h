/*
 * write.h - the shape every write of a user's documents takes.
 *
 *   struct cs_write w = CS_WRITE_INIT;
 *   if (cs_write_begin(&w, req, 1, &err) < 0) goto out;  // BEGIN, lock the user, take versions
 *   ... statements on w.conn, stamping w.version_text and w.now_text ...
 *   if (cs_write_commit(&w, &err) < 0) goto out;         // COMMIT, release, then the wake-up
 * out:
 *   cs_write_end(&w);                                     // rolls back if not committed
 *
 * cs_write_begin borrows the connection for the user (at most
 * DB_POOL_USER_MAX at once); cs_write_commit gives it back before it
 * publishes, so that a slow Redis never holds a pooled connection: w.conn
 * is NULL after a commit.
 *
 * One write does not take this shape: messages_append
 * (services/messages/messages.c) sends BEGIN, the version reservation, the
 * insert and COMMIT in one pipeline, so that the hottest write costs one
 * round trip instead of four.
 *
 * It also answers the two ways an UPDATE of "the user's live row with this
 * id" can match nothing, and runs the one soft delete, identically for chats
 * and messages.
 */
#ifndef CS_WRITE_H
#define CS_WRITE_H

#include "db.h"
#include "document.h"
#include "http.h"

struct cs_write {
	struct cs_request *req;
	struct cs_db_conn *conn;
	long long version;     /* the last version reserved */
	char version_text[24]; /* the same, as a statement parameter */
	char now_text[24];     /* the write's time (ms), as a statement parameter */
	long long replayed;    /* cs_write_replayed's version, published by cs_write_end */
};

/* clang-format off */
#define CS_WRITE_INIT { NULL, NULL, 0, "", "", 0 }
/* clang-format on */

int cs_write_begin(struct cs_write *w, struct cs_request *req, long long versions,
		   struct cs_error *err);
int cs_write_commit(struct cs_write *w, struct cs_error *err);
void cs_write_end(struct cs_write *w);
/*
 * The write turned out to be a replay, answered from the stored document of
 * this version. cs_write_end publishes it once the connection is back: the
 * first try may have committed and lost its wake-up with its connection.
 */
void cs_write_replayed(struct cs_write *w, long long version);

/*
 * An update matched no row: 404 when the user has no live document with this
 * id (`visible` selects its version by id and user), else 412 naming the
 * current version. Always -1 with err filled.
 */
int cs_write_explain_miss(struct cs_write *w, const char *visible, const char *id, const char *what,
			  struct cs_error *err);
/*
 * DELETE of the document named by the path's :id, answered: a soft delete.
 * `delete_statement` marks the user's live row deleted ($1 id, $2 user,
 * $3 version, $4 time) returning the document's columns; when it matches
 * nothing, `get_own` ($1 id, $2 user) finds the user's tombstone, answered
 * as it is (a repeated delete writes nothing), else 404. 1 when this
 * request deleted the row (committed), else 0.
 */
int cs_write_soft_delete(struct cs_request *req, enum cs_document_kind kind,
			 const char *delete_statement, const char *get_own);

#endif

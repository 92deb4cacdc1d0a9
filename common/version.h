/*
 * version.h - per-user change numbers (DESIGN.md, hard part 1).
 *
 * A write transaction starts with cs_version_begin (BEGIN and the reservation
 * in one round trip; append sends both first in a pipeline of its own): it
 * locks the user's counter row until the transaction ends and takes `count`
 * new numbers, so one user's versions commit in the order they were handed
 * out and a reader who has seen version V can never later miss a version
 * below V. cs_version_reserve takes more within the transaction (a branch,
 * once it knows how many messages it copies). Contention is per user only.
 * After the commit, cs_version_committed queues the wake-up for the process's
 * publisher (wakeup.h); a Redis failure is logged and counted there, never
 * returned.
 *
 * Every service that writes puts CS_VERSION_STATEMENT in its statement table.
 */
#ifndef CS_VERSION_H
#define CS_VERSION_H

#include "db.h"
#include "http.h"

/* clang-format off */
#define CS_VERSION_STATEMENT                                                                  \
	{ "cs_version_reserve",                                                                  \
	  "INSERT INTO user_versions AS u (user_id, version) VALUES ($1, $2) "                    \
	  "ON CONFLICT (user_id) DO UPDATE SET version = u.version + EXCLUDED.version "         \
	  "RETURNING version" }
/* clang-format on */

/* Locks the user's counter and takes count (≥ 0) numbers: *last is the highest. */
int cs_version_reserve(struct cs_db_conn *conn, const char *user_id, long long count,
		       long long *last, struct cs_error *err);
/* BEGIN, then cs_version_reserve: one round trip */
int cs_version_begin(struct cs_db_conn *conn, const char *user_id, long long count, long long *last,
		     struct cs_error *err);
void cs_version_committed(struct cs_server *server, const char *user_id, long long version);

#endif

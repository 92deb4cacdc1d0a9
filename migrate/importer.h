/*
 * importer.h - the import of a legacy export, shared by `chatsync import` and
 * POST /api/import so that the two cannot differ (DESIGN.md, hard part 6;
 * docs/decisions/import.md says why it works this way).
 *
 *   struct cs_import *imp = NULL;
 *   if (cs_import_new(conn, &options, &imp, &err) < 0 ||
 *       cs_import_stage(imp, read, ctx, &err) < 0 ||    // the whole document, or nothing
 *       cs_import_write(imp, &err) < 0)                 // or cs_import_check: a dry run
 *           goto out;
 *   cs_import_counts(imp, CS_LEGACY_CHATS) ...; cs_import_each_reject(imp, fn, arg, &err);
 * out:
 *   cs_import_free(imp);
 *
 * Staging: every row of the document is checked (migrate/legacy.h) and COPYed
 * into temporary tables of the connection's session; a document that turns
 * out not to be one JSON object (truncated, not JSON, wrong type) fails
 * cs_import_stage and nothing reaches the store. Then each row is classified
 * by SQL against the store and the rest of the file:
 *
 *   insert     new: written by cs_import_write
 *   exists     its id (a sync status: user and device) is in the store for
 *              the same user: skipped, never overwritten, so that a re-run
 *              writes nothing new and a killed run resumes
 *   duplicate  an earlier accepted row of the file has the id: skipped
 *   reject     the row is malformed, its id belongs to another user, its
 *              chat is neither in the store nor accepted in the file or is
 *              another user's, or its position is taken: listed with why
 *
 * cs_import_write writes the inserts table by table (chats first, so that
 * messages may precede their chats in the file), in batches of at most
 * CS_IMPORT_BATCH_ROWS rows (options.batch_rows) or CS_IMPORT_BATCH_BYTES
 * bytes, each in its own transaction that takes every new row's per-user
 * version from user_versions
 * (locked in user order) and, after the commit, publishes one wake-up per
 * user of the batch. A batch that meets a row written meanwhile by someone
 * else is classified again and retried.
 *
 * The connection is borrowed for the import's life (cs_import_stage hands it
 * to a thread of its own that COPYs one chunk while the next is read: nobody
 * else may use it meanwhile); the temporary tables are
 * dropped by cs_import_free (and by Postgres if the session dies). The
 * session's work_mem, jit and temp_buffers are set for bulk work.
 */
#ifndef CS_IMPORTER_H
#define CS_IMPORTER_H

#include "db.h"
#include "error.h"
#include "jsonstream.h"
#include "legacy.h"

struct cs_events;
struct cs_import;

#define CS_IMPORT_BATCH_ROWS 20000
#define CS_IMPORT_BATCH_BYTES (16 << 20)

/* Per table: read = inserted + skipped + rejected. */
struct cs_import_counts {
	long long read;
	long long inserted; /* a dry run: would be inserted */
	long long skipped;  /* already in the store, or a duplicate of an earlier row */
	long long rejected;
	long long duplicates; /* of skipped: the later rows of an id the file has twice */
};

enum cs_import_step {
	CS_IMPORT_READING,  /* rows: rows read so far, all tables */
	CS_IMPORT_CHECKING, /* classifying a table's rows */
	CS_IMPORT_WRITING,  /* rows of total written for table */
	CS_IMPORT_DONE,     /* table is complete: counts are final */
};

struct cs_import_progress {
	enum cs_import_step step;
	enum cs_legacy_table table;
	long long rows;
	long long total;
	const struct cs_import_counts *counts;
};

struct cs_import_options {
	struct cs_events *events; /* wake-ups after each batch; NULL: none */
	long long batch_rows;     /* rows per write transaction; 0: CS_IMPORT_BATCH_ROWS */
	void (*progress)(void *arg, const struct cs_import_progress *progress);
	void *progress_arg;
};

/* The staging tables (ord, reason, then CS_LEGACY_*_COLUMNS) and the classification. */
#define CS_IMPORT_STAGED_CHATS "cs_import_chats"
#define CS_IMPORT_STAGED_MESSAGES "cs_import_messages"
#define CS_IMPORT_STAGED_SYNC_STATUS "cs_import_sync_status"
/* (ord, user_id, status, reason) per staged row; status one of the letters below */
#define CS_IMPORT_VERDICT_SUFFIX "_verdict"
#define CS_IMPORT_INSERT 'i'
#define CS_IMPORT_EXISTS 'e'
#define CS_IMPORT_DUPLICATE 'd'
#define CS_IMPORT_REJECT 'r'

/* Creates the staging tables on conn (borrowed until cs_import_free). */
int cs_import_new(struct cs_db_conn *conn, const struct cs_import_options *options,
		  struct cs_import **out, struct cs_error *err);
/* Drops the staging tables and frees imp. NULL is fine. */
void cs_import_free(struct cs_import *imp);

/* Reads and stages the whole document; a malformed document is a 400 naming where. */
int cs_import_stage(struct cs_import *imp, cs_jsonstream_read_fn read, void *ctx,
		    struct cs_error *err);
/* Classifies every staged row and writes nothing (a dry run; verify). */
int cs_import_check(struct cs_import *imp, struct cs_error *err);
/* Classifies and writes, table by table. */
int cs_import_write(struct cs_import *imp, struct cs_error *err);

/* The connection the import was made on (its session holds the staging tables). */
struct cs_db_conn *cs_import_conn(const struct cs_import *imp);

/* The counts of a table, final after cs_import_check or cs_import_write. */
const struct cs_import_counts *cs_import_counts(const struct cs_import *imp,
						enum cs_legacy_table table);

/*
 * Calls fn for every rejected row, table by table in file order: id is the
 * row's id (a sync status: "user_id/device_id"), NULL when the row has none
 * that can be shown; index its position in the file's array.
 */
typedef int (*cs_import_reject_fn)(void *arg, enum cs_legacy_table table, const char *id,
				   long long index, const char *reason);
int cs_import_each_reject(struct cs_import *imp, cs_import_reject_fn fn, void *arg,
			  struct cs_error *err);

/*
 * Appends the API.md report: {"chats": {"read", "inserted", "skipped",
 * "rejected"}, "messages": {...}, "syncStatus": {...}, "rejects": [{"table",
 * "id", "index", "reason"}]}, with "dryRun": true after cs_import_check.
 */
int cs_import_report_json(struct cs_import *imp, struct cs_buf *out, struct cs_error *err);

#endif

/*
 * importer.h - the import of a legacy export, shared by `chatsync import` and
 * POST /api/import so that the two cannot differ (DESIGN.md, hard part 6;
 * docs/decisions/import.md says why it works this way).
 *
 *   struct cs_importer *imp = NULL;
 *   if (cs_importer_new(conn, &options, &imp, &err) < 0 ||
 *       cs_importer_stage(imp, read, ctx, &err) < 0 ||    // the whole document, or nothing
 *       cs_importer_write(imp, &err) < 0)                 // or cs_importer_check: a dry run
 *           goto out;
 *   cs_importer_counts(imp, CS_LEGACY_CHATS) ...; cs_importer_each_reject(imp, fn, arg, &err);
 * out:
 *   cs_importer_free(imp);
 *
 * Staging: every row of the document is checked (migrate/legacy.h) and COPYed
 * into temporary tables of the connection's session; a document that turns
 * out not to be one JSON object (truncated, not JSON, wrong type) fails
 * cs_importer_stage and nothing reaches the store. Then each row is classified
 * by SQL against the store and the rest of the file:
 *
 *   insert     new: written by cs_importer_write
 *   exists     its id (a sync status: user and device) is in the store for
 *              the same user: skipped, never overwritten, so that a re-run
 *              writes nothing new and a killed run resumes
 *   duplicate  an earlier accepted row of the file has the id: skipped
 *   reject     the row is malformed, its id belongs to another user, its
 *              chat is neither in the store nor accepted in the file or is
 *              another user's, or its position is taken: listed with why
 *
 * cs_importer_write writes the inserts table by table (chats first, so that
 * messages may precede their chats in the file), in batches of at most
 * CS_IMPORTER_BATCH_ROWS rows (options.batch_rows) or CS_IMPORTER_BATCH_BYTES
 * bytes, each in its own transaction that takes every new row's per-user
 * version from user_versions
 * (locked in user order) and, after the commit, publishes one wake-up per
 * user of the batch. A batch that meets a row written meanwhile by someone
 * else is classified again and retried.
 *
 * The connection is borrowed for the import's life (cs_importer_stage hands it
 * to a thread of its own that COPYs one chunk while the next is read: nobody
 * else may use it meanwhile); the temporary tables are
 * dropped by cs_importer_free (and by Postgres if the session dies). The
 * session's work_mem, jit and temp_buffers are set for bulk work.
 */
#ifndef CS_IMPORTER_H
#define CS_IMPORTER_H

#include "db.h"
#include "error.h"
#include "jsonstream.h"
#include "legacy.h"

struct cs_events;
struct cs_importer;

#define CS_IMPORTER_BATCH_ROWS 20000
#define CS_IMPORTER_BATCH_BYTES (16 << 20)

/* Per table: read = inserted + skipped + rejected. */
struct cs_importer_counts {
	long long read;
	long long inserted; /* a dry run: would be inserted */
	long long skipped;  /* already in the store, or a duplicate of an earlier row */
	long long rejected;
	long long duplicates; /* of skipped: the later rows of an id the file has twice */
};

enum cs_importer_step {
	CS_IMPORTER_READING,  /* rows: rows read so far, all tables */
	CS_IMPORTER_CHECKING, /* classifying a table's rows */
	CS_IMPORTER_WRITING,  /* rows of total written for table */
	CS_IMPORTER_DONE,     /* table is complete: counts are final */
};

struct cs_importer_progress {
	enum cs_importer_step step;
	enum cs_legacy_table table;
	long long rows;
	long long total;
	const struct cs_importer_counts *counts;
};

struct cs_importer_options {
	struct cs_events *events; /* wake-ups after each batch; NULL: none */
	long long batch_rows;     /* rows per write transaction; 0: CS_IMPORTER_BATCH_ROWS */
	void (*progress)(void *arg, const struct cs_importer_progress *progress);
	void *progress_arg;
};

/* The staging tables (ord, reason, then CS_LEGACY_*_COLUMNS) and the classification. */
#define CS_IMPORTER_STAGED_CHATS "cs_import_chats"
#define CS_IMPORTER_STAGED_MESSAGES "cs_import_messages"
#define CS_IMPORTER_STAGED_SYNC_STATUS "cs_import_sync_status"
/* (ord, user_id, status, reason) per staged row; status one of the letters below */
#define CS_IMPORTER_VERDICT_SUFFIX "_verdict"
#define CS_IMPORTER_INSERT 'i'
#define CS_IMPORTER_EXISTS 'e'
#define CS_IMPORTER_DUPLICATE 'd'
#define CS_IMPORTER_REJECT 'r'

/* Creates the staging tables on conn (borrowed until cs_importer_free). */
int cs_importer_new(struct cs_db_conn *conn, const struct cs_importer_options *options,
		    struct cs_importer **out, struct cs_error *err);
/* Drops the staging tables and frees imp. NULL is fine. */
void cs_importer_free(struct cs_importer *imp);

/* Reads and stages the whole document; a malformed document is a 400 naming where. */
int cs_importer_stage(struct cs_importer *imp, cs_jsonstream_read_fn read, void *ctx,
		      struct cs_error *err);
/* Classifies every staged row and writes nothing (a dry run; verify). */
int cs_importer_check(struct cs_importer *imp, struct cs_error *err);
/* Classifies and writes, table by table. */
int cs_importer_write(struct cs_importer *imp, struct cs_error *err);

/* The connection the import was made on (its session holds the staging tables). */
struct cs_db_conn *cs_importer_conn(const struct cs_importer *imp);

/* The counts of a table, final after cs_importer_check or cs_importer_write. */
const struct cs_importer_counts *cs_importer_counts(const struct cs_importer *imp,
						    enum cs_legacy_table table);

/*
 * Calls fn for every rejected row, table by table in file order: id is the
 * row's id (a sync status: "user_id/device_id"), NULL when the row has none
 * that can be shown; index its position in the file's array.
 */
typedef int (*cs_importer_reject_fn)(void *arg, enum cs_legacy_table table, const char *id,
				     long long index, const char *reason);
int cs_importer_each_reject(struct cs_importer *imp, cs_importer_reject_fn fn, void *arg,
			    struct cs_error *err);

/*
 * Appends the API.md report: {"chats": {"read", "inserted", "skipped",
 * "rejected"}, "messages": {...}, "syncStatus": {...}, "rejects": [{"table",
 * "id", "index", "reason"}]}, with "dryRun": true after cs_importer_check.
 */
int cs_importer_report_json(struct cs_importer *imp, struct cs_buf *out, struct cs_error *err);

#endif

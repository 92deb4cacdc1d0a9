/*
 * exporter.h - the store written back in the legacy export format, for a
 * rollback (`chatsync export`, GET /api/export).
 *
 * The output is what the old system's scripts/export-data.ts wrote and what
 * cs_importer_stage reads: {"chats": [...], "messages": [...], "syncStatus":
 * [...], "exportedAt": "..."}, one row per line, deleted rows included (a
 * rollback must be complete), times as "YYYY-MM-DDTHH:MM:SS.mmmZ". All three
 * tables come from one REPEATABLE READ snapshot, read through cursors, and
 * the text goes out in pieces of about 64 KiB: memory stays flat whatever
 * the size of the store.
 */
#ifndef CS_EXPORTER_H
#define CS_EXPORTER_H

#include <stddef.h>

#include "db.h"
#include "legacy.h"

/* Takes the next piece of the document; -1 stops the export (the reader went away). */
typedef int (*cs_exporter_write_fn)(void *arg, const char *data, size_t len);

struct cs_exporter_counts {
	long long rows[CS_LEGACY_TABLES];
};

/*
 * Writes the rows of the users in user_ids (count of them; none: every
 * user), ordered by user and version. On an error after some output the
 * document is left unfinished, so that no reader can take it for complete.
 */
int cs_exporter_run(struct cs_db_conn *conn, const char *const *user_ids, size_t count,
		    cs_exporter_write_fn write, void *arg, struct cs_exporter_counts *counts,
		    struct cs_error *err);

#endif

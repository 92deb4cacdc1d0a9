/*
 * legacy.h - the legacy export format, row by row, in both directions.
 *
 * An export (API.md, Import) is {"chats": [...], "messages": [...],
 * "syncStatus": [...], "exportedAt": "..."} whose rows are the old tables'
 * rows with snake_case columns, timestamps as ISO-8601 strings. This module
 * knows one row at a time:
 *
 * - cs_legacy_stage_row checks a row of the file and turns it into one line
 *   of COPY text for the importer's staging table: the row's index, a reject
 *   reason (\N when the row is good) and the store's columns in the order of
 *   CS_LEGACY_*_COLUMNS. A rejected row keeps only what identifies it.
 * - cs_legacy_write_row turns a row of the store, selected with
 *   CS_LEGACY_*_SELECT, back into a legacy JSON object (for export).
 *
 * Accepted rows: ids, user ids and chat ids are 1-255 bytes of text without
 * control characters; a chat's title is 1-500 characters; a message's
 * content is a string of at most 1 MiB, its role "user" or "assistant", its
 * position null or an integer 0..2^31-1, its attachments any JSON of at most
 * 256 KiB (kept as written: the raw text goes to jsonb); branches is an array
 * or null (stored as []); is_deleted true, false or null (false). Times are
 * ISO strings (migrate/timestamp.h) or integer milliseconds; a missing or null
 * created_at/updated_at is the row's timestamp, a missing timestamp the
 * created_at. A sync status needs user_id, device_id and updated_at (or
 * last_sync_timestamp, or created_at). Members the store has no column for
 * are ignored.
 */
#ifndef CS_LEGACY_H
#define CS_LEGACY_H

#include <libpq-fe.h>
#include <stddef.h>

#include "buf.h"
#include "schema.h"

enum cs_legacy_table { CS_LEGACY_CHATS, CS_LEGACY_MESSAGES, CS_LEGACY_SYNC_STATUS };
#define CS_LEGACY_TABLES 3

/*
 * The store's columns of each table that an export carries (common/schema.h:
 * all but version), in the order of the staging lines.
 */
#define CS_LEGACY_CHAT_COLUMNS CS_SCHEMA_LEGACY_COLUMNS(CS_SCHEMA_CHATS, "")
#define CS_LEGACY_MESSAGE_COLUMNS CS_SCHEMA_LEGACY_COLUMNS(CS_SCHEMA_MESSAGES, "")
#define CS_LEGACY_SYNC_STATUS_COLUMNS CS_SCHEMA_LEGACY_COLUMNS(CS_SCHEMA_SYNC_STATUS, "")

/* The same, as cs_legacy_write_row reads them from a result. */
#define CS_LEGACY_CHAT_SELECT CS_SCHEMA_LEGACY_SELECT(CS_SCHEMA_CHATS)
#define CS_LEGACY_MESSAGE_SELECT CS_SCHEMA_LEGACY_SELECT(CS_SCHEMA_MESSAGES)
#define CS_LEGACY_SYNC_STATUS_SELECT CS_SCHEMA_LEGACY_SELECT(CS_SCHEMA_SYNC_STATUS)

/* The same with their types: a staging table's columns after (ord, reason). */
#define CS_LEGACY_CHAT_STAGING CS_SCHEMA_LEGACY_DDL(CS_SCHEMA_CHATS)
#define CS_LEGACY_MESSAGE_STAGING CS_SCHEMA_LEGACY_DDL(CS_SCHEMA_MESSAGES)
#define CS_LEGACY_SYNC_STATUS_STAGING CS_SCHEMA_LEGACY_DDL(CS_SCHEMA_SYNC_STATUS)

/* The index of each column in those lists, and how many each has. */
enum cs_legacy_chat_column {
	CS_SCHEMA_LEGACY_INDEXES(CS_SCHEMA_CHATS, CS_LEGACY_CHAT_COL_) CS_LEGACY_CHAT_COLUMN_COUNT
};
/* clang-format off */
enum cs_legacy_message_column {
	CS_SCHEMA_LEGACY_INDEXES(CS_SCHEMA_MESSAGES, CS_LEGACY_MESSAGE_COL_)
	CS_LEGACY_MESSAGE_COLUMN_COUNT
};
enum cs_legacy_sync_status_column {
	CS_SCHEMA_LEGACY_INDEXES(CS_SCHEMA_SYNC_STATUS, CS_LEGACY_SYNC_STATUS_COL_)
	CS_LEGACY_SYNC_STATUS_COLUMN_COUNT
};
/* clang-format on */
/* Per enum cs_legacy_table, for `static const int columns[CS_LEGACY_TABLES] = ...`. */
#define CS_LEGACY_COLUMN_COUNTS                                              \
	{                                                                    \
		CS_LEGACY_CHAT_COLUMN_COUNT, CS_LEGACY_MESSAGE_COLUMN_COUNT, \
			CS_LEGACY_SYNC_STATUS_COLUMN_COUNT                   \
	}
/* The most columns of the three. */
#define CS_LEGACY_MAX_COLUMNS                                                  \
	CS_LEGACY_MAX_OF((int)CS_LEGACY_CHAT_COLUMN_COUNT,                     \
			 CS_LEGACY_MAX_OF((int)CS_LEGACY_MESSAGE_COLUMN_COUNT, \
					  (int)CS_LEGACY_SYNC_STATUS_COLUMN_COUNT))
#define CS_LEGACY_MAX_OF(a, b) ((a) > (b) ? (a) : (b))

/* How an export carries a column (common/schema.h's FORMAT). */
enum cs_legacy_format {
	CS_LEGACY_FORMAT_ID,
	CS_LEGACY_FORMAT_TEXT,
	CS_LEGACY_FORMAT_TIME,
	CS_LEGACY_FORMAT_RAW,
	CS_LEGACY_FORMAT_INT,
	CS_LEGACY_FORMAT_BOOL
};

/* An exported column of a table, in the order of CS_LEGACY_*_COLUMNS. */
struct cs_legacy_column {
	const char *name; /* its member in a legacy row */
	enum cs_legacy_format format;
	int key; /* identifies the row: a rejected row keeps it */
};

/* The exported columns of table; *count gets how many (CS_LEGACY_*_COLUMN_COUNT). */
const struct cs_legacy_column *cs_legacy_columns(enum cs_legacy_table table, int *count);

/* "chats", "messages", "syncStatus": the members of the export object. */
const char *cs_legacy_member(enum cs_legacy_table table);
/* The three member names and a NULL, for cs_jsonstream_parse. */
const char *const *cs_legacy_members(void);
/* The table of a member name (one of cs_legacy_members); -1 for another string. */
int cs_legacy_table_of(const char *member);

/*
 * Appends one staging line (ending in '\n') for row (len bytes; NULL for a
 * row too large to read, len then its size) at index ord of its table.
 * Returns 0 when the row is accepted, 1 when it is rejected (the line says
 * why). Never fails otherwise.
 */
int cs_legacy_stage_row(enum cs_legacy_table table, long long ord, const char *row, size_t len,
			struct cs_buf *out);

/* Appends row `row` of res (columns of CS_LEGACY_*_SELECT) as a legacy JSON object. */
void cs_legacy_write_row(enum cs_legacy_table table, const PGresult *res, int row,
			 struct cs_buf *out);

#endif

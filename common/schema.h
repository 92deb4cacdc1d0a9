/*
 * schema.h - the columns of chats, messages and sync_status: one table each,
 * from which everything that names them in order is generated at compile
 * time (X-macros): the select lists and the index of each column in them,
 * the column counts, the API's field names and kinds (document.c), the NULLs
 * that stand for a table's row in a UNION with another (sync-svc), and for
 * migrate/ the legacy export's columns and the staging tables' columns
 * (migrate/legacy.h).
 *
 * Adding a column is one line here, where 001_init.sql and later migrations
 * put it (tests/integration/test_schema.py compares the two), plus its
 * migration in db/migrations/: the API's documents, the import (staging,
 * checks by FORMAT, rejects by KEY), the export, verify and a branch's copy of
 * its messages follow from the line. The statements that write a document
 * from a request name the columns they write themselves, beside the
 * parameters they bind.
 *
 * Each line of a table is
 *
 *   ROW(arg, NAME, sql, api, legacy, KIND, type, FORMAT, KEY)
 *
 *   NAME    the column in the index enums (CS_CHAT_COL_NAME)
 *   sql     its SQL name, quoted where it is a keyword
 *   api     its member in the API's documents (docs/API.md)
 *   legacy  its member in a legacy export's rows (NULL: not exported)
 *   KIND    how a document shows it: STRING, NUMBER, BOOL or JSON (jsonb,
 *           selected as its text)
 *   type    its SQL type, as information_schema.columns names it
 *   FORMAT  how a legacy export carries it (migrate/legacy.h): ID (1-255
 *           bytes of text, document.h's id rule), TEXT (a string), TIME (an
 *           ISO-8601 string, milliseconds in the store), RAW (JSON kept as
 *           written, for jsonb), INT (an integer), BOOL (true, false or null:
 *           false); STORE_ONLY when an export does not carry it
 *   KEY     KEY when the column identifies a row of an import (a rejected
 *           row keeps these and no other), PLAIN when not
 *
 * The first line of a table calls FIRST, the others NEXT, so that a list
 * made as one string literal has ", " before each column but the first.
 * The first column of a table is in the legacy export too.
 */
#ifndef CS_SCHEMA_H
#define CS_SCHEMA_H

/* clang-format off */
#define CS_SCHEMA_CHATS(FIRST, NEXT, arg) \
	FIRST(arg, ID,                     "id",                     "id",                  "id",                     STRING, "text",    ID,         KEY)   \
	NEXT(arg,  USER_ID,                "user_id",                "userId",              "user_id",                STRING, "text",    ID,         PLAIN) \
	NEXT(arg,  TITLE,                  "title",                  "title",               "title",                  STRING, "text",    TEXT,       PLAIN) \
	NEXT(arg,  TIMESTAMP,              "\"timestamp\"",          "timestamp",           "timestamp",              NUMBER, "bigint",  TIME,       PLAIN) \
	NEXT(arg,  PARENT_CHAT_ID,         "parent_chat_id",         "parentChatId",        "parent_chat_id",         STRING, "text",    ID,         PLAIN) \
	NEXT(arg,  BRANCH_FROM_MESSAGE_ID, "branch_from_message_id", "branchFromMessageId", "branch_from_message_id", STRING, "text",    ID,         PLAIN) \
	NEXT(arg,  BRANCHES,               "branches",               "branches",            "branches",               JSON,   "jsonb",   RAW,        PLAIN) \
	NEXT(arg,  IS_DELETED,             "is_deleted",             "isDeleted",           "is_deleted",             BOOL,   "boolean", BOOL,       PLAIN) \
	NEXT(arg,  VERSION,                "version",                "version",             NULL,                     NUMBER, "bigint",  STORE_ONLY, PLAIN) \
	NEXT(arg,  CREATED_AT,             "created_at",             "createdAt",           "created_at",             NUMBER, "bigint",  TIME,       PLAIN) \
	NEXT(arg,  UPDATED_AT,             "updated_at",             "updatedAt",           "updated_at",             NUMBER, "bigint",  TIME,       PLAIN)

#define CS_SCHEMA_MESSAGES(FIRST, NEXT, arg) \
	FIRST(arg, ID,                     "id",                     "id",                  "id",                     STRING, "text",    ID,         KEY)   \
	NEXT(arg,  CHAT_ID,                "chat_id",                "chatId",              "chat_id",                STRING, "text",    ID,         PLAIN) \
	NEXT(arg,  USER_ID,                "user_id",                "userId",              "user_id",                STRING, "text",    ID,         PLAIN) \
	NEXT(arg,  CONTENT,                "content",                "content",             "content",                STRING, "text",    TEXT,       PLAIN) \
	NEXT(arg,  ROLE,                   "role",                   "role",                "role",                   STRING, "text",    TEXT,       PLAIN) \
	NEXT(arg,  TIMESTAMP,              "\"timestamp\"",          "timestamp",           "timestamp",              NUMBER, "bigint",  TIME,       PLAIN) \
	NEXT(arg,  POSITION,               "position",               "position",            "position",               NUMBER, "integer", INT,        PLAIN) \
	NEXT(arg,  ATTACHMENTS,            "attachments",            "attachments",         "attachments",            JSON,   "jsonb",   RAW,        PLAIN) \
	NEXT(arg,  IS_DELETED,             "is_deleted",             "isDeleted",           "is_deleted",             BOOL,   "boolean", BOOL,       PLAIN) \
	NEXT(arg,  VERSION,                "version",                "version",             NULL,                     NUMBER, "bigint",  STORE_ONLY, PLAIN) \
	NEXT(arg,  CREATED_AT,             "created_at",             "createdAt",           "created_at",             NUMBER, "bigint",  TIME,       PLAIN) \
	NEXT(arg,  UPDATED_AT,             "updated_at",             "updatedAt",           "updated_at",             NUMBER, "bigint",  TIME,       PLAIN) \
	NEXT(arg,  STREAM_STATE,           "stream_state",           "streamState",         NULL,                     STRING, "text",    STORE_ONLY, PLAIN) \
	NEXT(arg,  STREAM_SEQ,             "stream_seq",             "streamSeq",           NULL,                     NUMBER, "bigint",  STORE_ONLY, PLAIN)

#define CS_SCHEMA_SYNC_STATUS(FIRST, NEXT, arg) \
	FIRST(arg, USER_ID,                "user_id",                "userId",              "user_id",                STRING, "text",    ID,         KEY)   \
	NEXT(arg,  DEVICE_ID,              "device_id",              "deviceId",            "device_id",              STRING, "text",    ID,         KEY)   \
	NEXT(arg,  LAST_SYNC_TIMESTAMP,    "last_sync_timestamp",    "lastSyncTimestamp",   "last_sync_timestamp",    NUMBER, "bigint",  TIME,       PLAIN) \
	NEXT(arg,  CURSOR,                 "cursor",                 "cursor",              "cursor",                 STRING, "text",    TEXT,       PLAIN) \
	NEXT(arg,  UPDATED_AT,             "updated_at",             "updatedAt",           "updated_at",             NUMBER, "bigint",  TIME,       PLAIN)
/* clang-format on */

/* ---- the machinery: one macro per list and row (first or next) ---- */

#define CS_SCHEMA_READ_STRING(prefix, sql) prefix sql
#define CS_SCHEMA_READ_NUMBER(prefix, sql) prefix sql
#define CS_SCHEMA_READ_BOOL(prefix, sql) prefix sql
#define CS_SCHEMA_READ_JSON(prefix, sql) prefix sql "::text"
#define CS_SCHEMA_NULL_STRING(type) "NULL::" type
#define CS_SCHEMA_NULL_NUMBER(type) "NULL::" type
#define CS_SCHEMA_NULL_BOOL(type) "NULL::" type
#define CS_SCHEMA_NULL_JSON(type) "NULL::text"
#define CS_SCHEMA_IF_ID(...) __VA_ARGS__
#define CS_SCHEMA_IF_TEXT(...) __VA_ARGS__
#define CS_SCHEMA_IF_TIME(...) __VA_ARGS__
#define CS_SCHEMA_IF_RAW(...) __VA_ARGS__
#define CS_SCHEMA_IF_INT(...) __VA_ARGS__
#define CS_SCHEMA_IF_BOOL(...) __VA_ARGS__
#define CS_SCHEMA_IF_STORE_ONLY(...)
#define CS_SCHEMA_IS_KEY_KEY 1
#define CS_SCHEMA_IS_KEY_PLAIN 0

#define CS_SCHEMA_SELECT_FIRST(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_READ_##KIND(p, sql)
#define CS_SCHEMA_SELECT_NEXT(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	", " CS_SCHEMA_READ_##KIND(p, sql)
#define CS_SCHEMA_NULL_FIRST(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_NULL_##KIND(type)
#define CS_SCHEMA_NULL_NEXT(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	", " CS_SCHEMA_NULL_##KIND(type)
#define CS_SCHEMA_INDEX(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) p##NAME,

#define CS_SCHEMA_LEGACY_COLUMN_FIRST(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_IF_##FORMAT(p sql)
#define CS_SCHEMA_LEGACY_COLUMN_NEXT(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_IF_##FORMAT(", " p sql)
#define CS_SCHEMA_LEGACY_SELECT_FIRST(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_IF_##FORMAT(CS_SCHEMA_READ_##KIND(p, sql))
#define CS_SCHEMA_LEGACY_SELECT_NEXT(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_IF_##FORMAT(", " CS_SCHEMA_READ_##KIND(p, sql))
#define CS_SCHEMA_LEGACY_DDL_FIRST(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_IF_##FORMAT(sql " " type)
#define CS_SCHEMA_LEGACY_DDL_NEXT(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_IF_##FORMAT(", " sql " " type)
#define CS_SCHEMA_LEGACY_INDEX(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_IF_##FORMAT(p##NAME, )
#define CS_SCHEMA_LEGACY_NAME(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_IF_##FORMAT(legacy, )
#define CS_SCHEMA_LEGACY_INFO(p, NAME, sql, api, legacy, KIND, type, FORMAT, KEY) \
	CS_SCHEMA_IF_##FORMAT({ legacy, p##FORMAT, CS_SCHEMA_IS_KEY_##KEY }, )

/* ---- what the runtime selects ---- */

/* Every column, in order, each prefixed (a table alias and its dot, or ""). */
#define CS_SCHEMA_SELECT(TABLE, prefix) TABLE(CS_SCHEMA_SELECT_FIRST, CS_SCHEMA_SELECT_NEXT, prefix)
/* A NULL of each column's selected type: a row of TABLE's shape that is not there. */
#define CS_SCHEMA_NULLS(TABLE) TABLE(CS_SCHEMA_NULL_FIRST, CS_SCHEMA_NULL_NEXT, )
/* "prefix ## NAME," for each column: the body of an enum of column indexes. */
#define CS_SCHEMA_INDEXES(TABLE, prefix) TABLE(CS_SCHEMA_INDEX, CS_SCHEMA_INDEX, prefix)

#define CS_CHAT_COLUMNS CS_SCHEMA_SELECT(CS_SCHEMA_CHATS, "c.")
#define CS_MESSAGE_COLUMNS CS_SCHEMA_SELECT(CS_SCHEMA_MESSAGES, "m.")
#define CS_SYNC_STATUS_COLUMNS CS_SCHEMA_SELECT(CS_SCHEMA_SYNC_STATUS, "s.")
#define CS_CHAT_NULLS CS_SCHEMA_NULLS(CS_SCHEMA_CHATS)
#define CS_MESSAGE_NULLS CS_SCHEMA_NULLS(CS_SCHEMA_MESSAGES)

/* The index of each column in CS_*_COLUMNS, from the list's first column. */
enum cs_chat_column { CS_SCHEMA_INDEXES(CS_SCHEMA_CHATS, CS_CHAT_COL_) CS_CHAT_COLUMN_COUNT };
enum cs_message_column {
	CS_SCHEMA_INDEXES(CS_SCHEMA_MESSAGES, CS_MESSAGE_COL_) CS_MESSAGE_COLUMN_COUNT
};
enum cs_sync_status_column {
	CS_SCHEMA_INDEXES(CS_SCHEMA_SYNC_STATUS, CS_SYNC_STATUS_COL_) CS_SYNC_STATUS_COLUMN_COUNT
};

/* ---- the legacy export's columns (migrate/legacy.h names them) ---- */

/* The exported columns, in order, each prefixed, jsonb as jsonb. */
#define CS_SCHEMA_LEGACY_COLUMNS(TABLE, prefix) \
	TABLE(CS_SCHEMA_LEGACY_COLUMN_FIRST, CS_SCHEMA_LEGACY_COLUMN_NEXT, prefix)
/* The same, unprefixed, jsonb as its text: what a legacy row is written from. */
#define CS_SCHEMA_LEGACY_SELECT(TABLE) \
	TABLE(CS_SCHEMA_LEGACY_SELECT_FIRST, CS_SCHEMA_LEGACY_SELECT_NEXT, "")
/* "name type, ...": the exported columns of a staging table (CREATE TABLE). */
#define CS_SCHEMA_LEGACY_DDL(TABLE) TABLE(CS_SCHEMA_LEGACY_DDL_FIRST, CS_SCHEMA_LEGACY_DDL_NEXT, )
/* "prefix ## NAME," for each exported column. */
#define CS_SCHEMA_LEGACY_INDEXES(TABLE, prefix) \
	TABLE(CS_SCHEMA_LEGACY_INDEX, CS_SCHEMA_LEGACY_INDEX, prefix)
/* "legacy name", for each exported column: the body of an array of strings. */
#define CS_SCHEMA_LEGACY_NAMES(TABLE) TABLE(CS_SCHEMA_LEGACY_NAME, CS_SCHEMA_LEGACY_NAME, )
/*
 * "{ legacy name, prefix ## FORMAT, is a key }," for each exported column: the
 * body of an array of structs that describe them (migrate/legacy.c).
 */
#define CS_SCHEMA_LEGACY_INFOS(TABLE, prefix) \
	TABLE(CS_SCHEMA_LEGACY_INFO, CS_SCHEMA_LEGACY_INFO, prefix)

#endif

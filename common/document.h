/*
 * document.h - chats, messages and sync statuses as the API shows them
 * (API.md, Documents), and the rules their fields follow.
 *
 * Services select the columns in the order of CS_CHAT_COLUMNS /
 * CS_MESSAGE_COLUMNS / CS_SYNC_STATUS_COLUMNS (schema.h; starting at any
 * column offset) and turn a result row into its JSON object here
 * (document.c), so that chats-svc, messages-svc and sync-svc answer the same
 * document for the same row. Building appends to a cs_buf: no intermediate
 * tree, no quadratic copying.
 *
 * The rules of a document's fields are checked here too (document_rules.c),
 * for the API's handlers and for the import (migrate/legacy_stage.c) and
 * auth, which word their own reasons; the numbers are in bounds.h.
 */
#ifndef CS_DOCUMENT_H
#define CS_DOCUMENT_H

#include <libpq-fe.h>

#include "bounds.h"
#include "buf.h"
#include "error.h"
#include "schema.h"

/*
 * Answers that hold many documents are bounded by CS_LIMIT_ANSWER_BYTES of
 * stored text (bounds.h). A statement selects each row's stored bytes and
 * keeps only the rows that can belong to the answer plus one past it:
 *
 *   SELECT * FROM (SELECT ..., <size> AS stored_bytes,
 *                  CS_ANSWER_BYTES_BEFORE(<size>, <order>) AS bytes_before, ...) page
 *   WHERE bytes_before < CS_ANSWER_BUDGET
 *
 * and cs_document_answer_rows says how many of them the answer holds.
 */
/* clang-format off */
#define CS_CHAT_STORED_BYTES                                     \
	"(" CS_LIMIT_SQL(CS_LIMIT_DOCUMENT_BYTES) " + octet_length(c.title) " \
	"+ octet_length(c.branches::text))"
#define CS_MESSAGE_STORED_BYTES                                    \
	"(" CS_LIMIT_SQL(CS_LIMIT_DOCUMENT_BYTES) " + octet_length(m.content) " \
	"+ coalesce(octet_length(m.attachments::text), 0))"
/* The stored bytes of every row before the previous one: 0 for the first two. */
#define CS_ANSWER_BYTES_BEFORE(size, order) \
	"coalesce(sum(" size ") OVER (ORDER BY " order \
	" ROWS BETWEEN UNBOUNDED PRECEDING AND 2 PRECEDING), 0)"
/* clang-format on */
#define CS_ANSWER_BUDGET CS_LIMIT_SQL(CS_LIMIT_ANSWER_BYTES)

enum cs_document_kind { CS_DOCUMENT_CHAT, CS_DOCUMENT_MESSAGE };

struct cs_request;
/* Answers {"chat": doc} or {"message": doc} from a row, with the document's ETag. */
void cs_document_respond(struct cs_request *req, int status, enum cs_document_kind kind,
			 const PGresult *res, int row, int first_column);

/*
 * How many rows of res, from the first, one answer holds: at most limit
 * (negative: no limit), and no row once the stored bytes of the rows before
 * it (column bytes_column) reach CS_LIMIT_ANSWER_BYTES; the first row always,
 * so that a page advances. Fewer than PQntuples(res) means there is more.
 */
int cs_document_answer_rows(const PGresult *res, int bytes_column, long long limit);

/*
 * Grows out once for the documents of the first rows rows of res (every
 * column's bytes, each document's names and punctuation, and per_row more
 * for the caller's own text around each), so that a page is built without
 * reallocating; a string with escapes may still grow it.
 */
void cs_document_reserve(struct cs_buf *out, const PGresult *res, int rows, size_t per_row);
void cs_document_chat(struct cs_buf *out, const PGresult *res, int row, int first_column);
void cs_document_message(struct cs_buf *out, const PGresult *res, int row, int first_column);
/* Appends "[doc,doc,...]" of every row of res. */
void cs_document_messages(struct cs_buf *out, const PGresult *res, int first_column);
void cs_document_sync_status(struct cs_buf *out, const PGresult *res, int row, int first_column);

/* A message's position is a Postgres integer: 0 to 2^31-1. */
#define CS_DOCUMENT_POSITION_MAX 2147483647

/*
 * The rules. Each cs_document_check_* returns 0 when the value is acceptable,
 * else -1 with a 400 in err that names the field (API.md's messages).
 */
/* An id (id.h: 1-255 bytes of text) given as `field` (a path's :id is "id"). */
int cs_document_check_id(const char *field, const char *id, size_t len, struct cs_error *err);
int cs_document_check_title(const char *title, size_t len, struct cs_error *err);
int cs_document_check_content(size_t len, struct cs_error *err);
/* role: a NUL-terminated string */
int cs_document_check_role(const char *role, struct cs_error *err);
/* attachments: the length of their compact JSON */
int cs_document_check_attachments(size_t len, struct cs_error *err);
int cs_document_check_position(long long position, struct cs_error *err);
int cs_document_check_timestamp(long long timestamp, struct cs_error *err);
/*
 * The same rules, for a caller that words its own reasons (the import, auth):
 * 1 acceptable, 0 not. The checks above decide by these.
 */
/* The id rule (id.h's cs_id_valid: 1-255 bytes of UTF-8 without control characters). */
int cs_document_id_fits(const char *id, size_t len);
int cs_document_title_fits(size_t chars);
int cs_document_content_fits(size_t bytes);
/* bytes: of the attachments' compact JSON (the import gives their text as written) */
int cs_document_attachments_fits(size_t bytes);
int cs_document_role_valid(const char *role);

#endif

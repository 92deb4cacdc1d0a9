/*
 * document.h - chats and messages as the API shows them (API.md, Documents).
 *
 * Services select the columns in the order of CS_CHAT_COLUMNS /
 * CS_MESSAGE_COLUMNS (starting at any column offset) and turn a result row
 * into its JSON object here, so that chats-svc, messages-svc and sync-svc
 * answer the same document for the same row. Building appends to a cs_buf:
 * no intermediate tree, no quadratic copying.
 */
#ifndef CS_DOCUMENT_H
#define CS_DOCUMENT_H

#include <libpq-fe.h>

#include "buf.h"

#define CS_CHAT_COLUMNS                                                                   \
	"c.id, c.user_id, c.title, c.\"timestamp\", c.parent_chat_id, "                      \
	"c.branch_from_message_id, c.branches::text, c.is_deleted, c.version, c.created_at, " \
	"c.updated_at"
#define CS_CHAT_COLUMN_COUNT 11

#define CS_MESSAGE_COLUMNS                                                                \
	"m.id, m.chat_id, m.user_id, m.content, m.role, m.\"timestamp\", m.position, "      \
	"m.attachments::text, m.is_deleted, m.version, m.created_at, m.updated_at"
#define CS_MESSAGE_COLUMN_COUNT 12

/* Column index of version within each list (for ETag and sync). */
#define CS_CHAT_VERSION_COLUMN 8
#define CS_MESSAGE_VERSION_COLUMN 9
#define CS_CHAT_DELETED_COLUMN 7
#define CS_MESSAGE_DELETED_COLUMN 8

enum cs_document_kind { CS_DOCUMENT_CHAT, CS_DOCUMENT_MESSAGE };

struct cs_request;
/* Answers {"chat": doc} or {"message": doc} from a row, with the document's ETag. */
void cs_document_respond(struct cs_request *req, int status, enum cs_document_kind kind,
			 const PGresult *res, int row, int first_column);

void cs_document_chat(struct cs_buf *out, const PGresult *res, int row, int first_column);
void cs_document_message(struct cs_buf *out, const PGresult *res, int row, int first_column);
/* Appends "[doc,doc,...]" of every row of res. */
void cs_document_chats(struct cs_buf *out, const PGresult *res, int first_column);
void cs_document_messages(struct cs_buf *out, const PGresult *res, int first_column);

#endif

/*
 * messages-svc: appending, editing and deleting messages, and the paged
 * message list of a chat. Routes and the SQL they run, in one place.
 */
#include "db.h"
#include "document.h"
#include "messages.h"
#include "version.h"

#define MESSAGE_FROM " FROM messages m "
#define MESSAGE_KEY "coalesce(m.position, -1), m.\"timestamp\", m.id"
#define MESSAGE_ORDER " ORDER BY " MESSAGE_KEY " "

/* clang-format off */
static const struct cs_db_statement statements[] = {
	CS_VERSION_STATEMENT,
	{ "messages_owner", "SELECT m.user_id, " CS_MESSAGE_COLUMNS MESSAGE_FROM "WHERE m.id = $1" },
	{ "messages_get_own",
	  "SELECT " CS_MESSAGE_COLUMNS MESSAGE_FROM "WHERE m.id = $1 AND m.user_id = $2" },
	/*
	 * Runs in a pipeline after cs_version_reserve, as a statement of its own,
	 * so the user's version row is already locked: max(position) sees every
	 * committed append of the chat, and the reserved version is read back.
	 */
	{ "messages_insert",
	  "INSERT INTO messages AS m (id, chat_id, user_id, content, role, \"timestamp\", "
	  "position, attachments, version, created_at, updated_at) "
	  "SELECT $1, c.id, c.user_id, $4, $5, $6, "
	  "coalesce($7::int, (SELECT coalesce(max(x.position) + 1, 0) FROM messages x "
	  "WHERE x.chat_id = c.id)), $8::jsonb, "
	  "(SELECT u.version FROM user_versions u WHERE u.user_id = c.user_id), $9, $9 "
	  "FROM chats c WHERE c.id = $2 AND c.user_id = $3 AND NOT c.is_deleted "
	  "ON CONFLICT (id) DO NOTHING RETURNING " CS_MESSAGE_COLUMNS },
	{ "messages_update",
	  "UPDATE messages AS m SET content = coalesce($3, m.content), "
	  "attachments = CASE WHEN $4::boolean THEN $5::jsonb ELSE m.attachments END, "
	  "version = $6, updated_at = $7 "
	  "WHERE m.id = $1 AND m.user_id = $2 AND NOT m.is_deleted "
	  "AND ($8::bigint IS NULL OR m.version = $8::bigint) RETURNING " CS_MESSAGE_COLUMNS },
	{ "messages_visible",
	  "SELECT m.version" MESSAGE_FROM "WHERE m.id = $1 AND m.user_id = $2 AND NOT m.is_deleted" },
	{ "messages_delete",
	  "UPDATE messages AS m SET is_deleted = true, version = $3, updated_at = $4 "
	  "WHERE m.id = $1 AND m.user_id = $2 AND NOT m.is_deleted RETURNING " CS_MESSAGE_COLUMNS },
	/*
	 * A page in one round trip: no row when the chat is not the user's, one
	 * row of nulls when it has no messages after the key.
	 */
	{ "messages_page",
	  "SELECT " CS_MESSAGE_COLUMNS ", coalesce(m.stored_bytes, 0) FROM chats c LEFT JOIN LATERAL ("
	  "SELECT * FROM (SELECT m.*, " CS_MESSAGE_STORED_BYTES " AS stored_bytes, "
	  CS_ANSWER_BYTES_BEFORE(CS_MESSAGE_STORED_BYTES, MESSAGE_KEY) " AS bytes_before FROM ("
	  "SELECT * FROM messages x WHERE x.chat_id = c.id AND NOT x.is_deleted "
	  "AND (coalesce(x.position, -1), x.\"timestamp\", x.id) > ($3::int, $4::bigint, $5::text) "
	  "ORDER BY coalesce(x.position, -1), x.\"timestamp\", x.id LIMIT $6) m) m "
	  "WHERE m.bytes_before < " CS_ANSWER_BUDGET ") m ON true "
	  "WHERE c.id = $1 AND c.user_id = $2 AND NOT c.is_deleted" MESSAGE_ORDER },
};
/* clang-format on */

static const struct cs_route routes[] = {
	{ "GET", "/api/chats/:id/messages", messages_page, CS_ROUTE_USER, "messages_page" },
	{ "POST", "/api/chats/:id/messages", messages_append, CS_ROUTE_USER | CS_ROUTE_BODY,
	  "messages_append" },
	{ "PATCH", "/api/messages/:id", messages_update, CS_ROUTE_USER | CS_ROUTE_BODY,
	  "messages_update" },
	{ "DELETE", "/api/messages/:id", messages_delete, CS_ROUTE_USER, "messages_delete" },
};

int main(void)
{
	static const struct cs_service service = {
		.name = "messages",
		.routes = routes,
		.route_count = sizeof(routes) / sizeof(routes[0]),
		.statements = statements,
		.statement_count = sizeof(statements) / sizeof(statements[0]),
	};

	return cs_server_main(&service);
}

/*
 * messages-svc: appending, editing and deleting messages, and the paged
 * message list of a chat. Routes and the SQL they run, in one place.
 */
#include "bounds.h"
#include "db.h"
#include "document.h"
#include "messages.h"
#include "version.h"

#define MESSAGE_FROM " FROM messages m "
#define MESSAGE_KEY "coalesce(m.position, -1), m.\"timestamp\", m.id"
#define MESSAGE_ORDER " ORDER BY " MESSAGE_KEY " "
#define STREAMING_COUNT(user)                                     \
	"SELECT count(*) FROM messages s WHERE s.user_id = " user \
	" AND s.stream_state = "                                  \
	"'streaming' AND NOT s.is_deleted"

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
	/* $10 'streaming' or NULL; a user streams at most CS_LIMIT_STREAMS_PER_USER at once */
	{ "messages_insert",
	  "INSERT INTO messages AS m (id, chat_id, user_id, content, role, \"timestamp\", "
	  "position, attachments, version, created_at, updated_at, stream_state) "
	  "SELECT $1, c.id, c.user_id, $4, $5, $6, "
	  "coalesce($7::int, (SELECT coalesce(max(x.position) + 1, 0) FROM messages x "
	  "WHERE x.chat_id = c.id)), $8::jsonb, "
	  "(SELECT u.version FROM user_versions u WHERE u.user_id = c.user_id), $9, $9, "
	  "coalesce($10::text, 'complete') "
	  "FROM chats c WHERE c.id = $2 AND c.user_id = $3 AND NOT c.is_deleted "
	  "AND ($10::text IS NULL OR (" STREAMING_COUNT("$3") ") < "
	  CS_LIMIT_SQL(CS_LIMIT_STREAMS_PER_USER) ") "
	  "ON CONFLICT (id) DO NOTHING RETURNING " CS_MESSAGE_COLUMNS },
	{ "messages_streaming_count", STREAMING_COUNT("$1") },
	/*
	 * A streamed message's window or end (stream.c): matches only while the
	 * row streams at the seq the text follows, so that no window is written
	 * twice and nothing after the end.
	 */
	{ "messages_stream_write",
	  "UPDATE messages AS m SET content = m.content || $4, stream_seq = $5::bigint, "
	  "stream_state = $6, version = $7, updated_at = $8 "
	  "WHERE m.id = $1 AND m.user_id = $2 AND NOT m.is_deleted "
	  "AND m.stream_state = 'streaming' AND m.stream_seq = $3::bigint "
	  "RETURNING " CS_MESSAGE_COLUMNS },
	{ "messages_stream_row",
	  "SELECT m.stream_state, m.stream_seq, octet_length(m.content), m.version, m.chat_id"
	  MESSAGE_FROM "WHERE m.id = $1 AND m.user_id = $2 AND NOT m.is_deleted" },
	/* the sweeper's candidates: rows unchanged for the idle timeout (partial index) */
	{ "messages_stream_idle",
	  "SELECT m.id, m.user_id, m.stream_seq" MESSAGE_FROM
	  "WHERE m.stream_state = 'streaming' AND NOT m.is_deleted AND m.updated_at < $1 "
	  "ORDER BY m.updated_at LIMIT $2" },
	{ "messages_update",
	  "UPDATE messages AS m SET content = coalesce($3, m.content), "
	  "attachments = CASE WHEN $4::boolean THEN $5::jsonb ELSE m.attachments END, "
	  "version = $6, updated_at = $7 "
	  "WHERE m.id = $1 AND m.user_id = $2 AND NOT m.is_deleted "
	  "AND ($8::bigint IS NULL OR m.version = $8::bigint) "
	  "AND ($3::text IS NULL OR m.stream_state <> 'streaming') RETURNING " CS_MESSAGE_COLUMNS },
	{ "messages_visible",
	  "SELECT m.version" MESSAGE_FROM "WHERE m.id = $1 AND m.user_id = $2 AND NOT m.is_deleted" },
	{ "messages_delete",
	  "UPDATE messages AS m SET is_deleted = true, version = $3, updated_at = $4, "
	  "stream_state = CASE m.stream_state WHEN 'streaming' THEN 'error' "
	  "ELSE m.stream_state END "
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
	{ "POST", "/api/chats/:id/messages", messages_append,
	  CS_ROUTE_USER | CS_ROUTE_SERVICE | CS_ROUTE_BODY, "messages_append" },
	{ "PATCH", "/api/messages/:id", messages_update, CS_ROUTE_USER | CS_ROUTE_BODY,
	  "messages_update" },
	{ "DELETE", "/api/messages/:id", messages_delete, CS_ROUTE_USER, "messages_delete" },
	{ "POST", "/api/messages/:id/chunks", messages_stream_append,
	  CS_ROUTE_USER | CS_ROUTE_SERVICE | CS_ROUTE_BODY, "messages_stream_append" },
	{ "POST", "/api/messages/:id/end", messages_stream_end,
	  CS_ROUTE_USER | CS_ROUTE_SERVICE | CS_ROUTE_BODY, "messages_stream_end" },
};

int main(void)
{
	static const struct cs_service service = {
		.name = "messages",
		.routes = routes,
		.route_count = sizeof(routes) / sizeof(routes[0]),
		.statements = statements,
		.statement_count = sizeof(statements) / sizeof(statements[0]),
		.start = messages_sweeper_start,
		.stop = messages_sweeper_stop,
	};

	return cs_server_main(&service);
}

/*
 * chats-svc: the chat documents of API.md's Chats section, except the paged
 * message list of a chat, which messages-svc serves. Routes and the SQL they
 * run, in one place.
 */
#include "chats.h"
#include "db.h"
#include "document.h"
#include "version.h"

#define CHAT_FROM " FROM chats c "
#define CHAT_ORDER "c.\"timestamp\" DESC, c.id DESC"
#define CHAT_MESSAGE_ORDER "coalesce(m.position, -1), m.\"timestamp\", m.id"
#define CHAT_MESSAGE_KEY "(" CHAT_MESSAGE_ORDER ")"

/*
 * Answers of many documents are bounded in stored bytes (document.h): the
 * rows carry stored_bytes after the documents' columns, and one row past it.
 */
/* clang-format off */
#define CHAT_PAGE(after, limit)                                                        \
	"SELECT * FROM (SELECT " CS_CHAT_COLUMNS ", " CS_CHAT_STORED_BYTES " AS stored_bytes, " \
	CS_ANSWER_BYTES_BEFORE(CS_CHAT_STORED_BYTES, CHAT_ORDER) " AS bytes_before"          \
	CHAT_FROM "WHERE c.user_id = $1 AND NOT c.is_deleted " after                          \
	"ORDER BY " CHAT_ORDER " LIMIT " limit ") page "                                      \
	"WHERE bytes_before < " CS_ANSWER_BUDGET " ORDER BY \"timestamp\" DESC, id DESC"
/*
 * The messages of the user's chat: the owner is checked on the chat, never as
 * m.user_id = $n beside m.chat_id = $m. Given both, Postgres's planner may AND
 * the chat's index with messages_sync (user_id, version) and so read an index
 * entry for every message the user has in any chat: four times Postgres's CPU
 * per get on the bench's seed (about 1,100 messages a user), more for a
 * heavier user.
 */
#define OWN_CHAT_MESSAGES(m) \
	" FROM messages " m " JOIN chats c ON c.id = " m ".chat_id AND c.user_id = "
/* a chat's messages for an answer that holds them all, one row past the bound */
#define CHAT_MESSAGES                                                                         \
	"SELECT * FROM (SELECT " CS_MESSAGE_COLUMNS ", " CS_MESSAGE_STORED_BYTES " AS stored_bytes, " \
	CS_ANSWER_BYTES_BEFORE(CS_MESSAGE_STORED_BYTES, CHAT_MESSAGE_ORDER) " AS bytes_before, "   \
	"row_number() OVER (ORDER BY " CHAT_MESSAGE_ORDER ") AS answer_row"                     \
	OWN_CHAT_MESSAGES("m") "$2 WHERE c.id = $1 AND NOT m.is_deleted) page "                  \
	"WHERE bytes_before < " CS_ANSWER_BUDGET " ORDER BY answer_row"

/*
 * A branch's copy of a message (chats_copy_messages): every column of
 * schema.h copied from the source row s, except those the copy sets itself
 * (COPY_SET_<NAME>, defined as "~, its item in the SELECT list", with the
 * ", " before it but for the first column) and those it leaves to their
 * default (COPY_SET_<NAME> and COPY_SKIP_<NAME> defined as "~,"). A column
 * added to schema.h is copied without a line here. COPY_PICK(probe, dflt) is
 * what follows "~," when probe is defined so, else dflt (an undefined probe
 * stays one argument). One probe per list: cppcheck's preprocessor cannot
 * expand one inside another.
 */
#define COPY_SET_ID ~, "'m_' || replace(gen_random_uuid()::text, '-', '')"
#define COPY_SET_CHAT_ID ~, ", $2"
/* the chat's owner, whom the join checked (OWN_CHAT_MESSAGES), not the row's own */
#define COPY_SET_USER_ID ~, ", c.user_id"
#define COPY_SET_IS_DELETED ~,
#define COPY_SET_VERSION ~, \
	", $7::bigint + row_number() OVER (ORDER BY coalesce(s.position, -1), s.\"timestamp\", s.id)"
#define COPY_SET_CREATED_AT ~, ", $8"
#define COPY_SET_UPDATED_AT ~, ", $8"
#define COPY_SKIP_IS_DELETED ~,
/* a copy of a reply still streaming is what it had so far, and final */
#define COPY_SET_STREAM_STATE \
	~, ", CASE WHEN s.stream_state = 'streaming' THEN 'error' ELSE s.stream_state END"
/* variadic: a preprocessor may split the probe's comma before COPY_PICK sees it (cppcheck) */
#define COPY_PICK(...) COPY_SECOND(__VA_ARGS__, )
#define COPY_SECOND(a, b, ...) b
#define COPY_COLUMN_FIRST(p, NAME, sql, ...) COPY_PICK(COPY_SKIP_##NAME, sql)
#define COPY_COLUMN_NEXT(p, NAME, sql, ...) COPY_PICK(COPY_SKIP_##NAME, ", " sql)
#define COPY_VALUE_FIRST(p, NAME, sql, ...) COPY_PICK(COPY_SET_##NAME, "s." sql)
#define COPY_VALUE_NEXT(p, NAME, sql, ...) COPY_PICK(COPY_SET_##NAME, ", s." sql)
#define COPY_COLUMNS CS_SCHEMA_MESSAGES(COPY_COLUMN_FIRST, COPY_COLUMN_NEXT, )
#define COPY_VALUES CS_SCHEMA_MESSAGES(COPY_VALUE_FIRST, COPY_VALUE_NEXT, )

static const struct cs_db_statement statements[] = {
	CS_VERSION_STATEMENT,
	{ "chats_list_first", CHAT_PAGE("", "$2") },
	{ "chats_list_after", CHAT_PAGE("AND (c.\"timestamp\", c.id) < ($2, $3) ", "$4") },
	/* read apart from its chat, so that the chat's columns are not sent once per message */
	{ "chats_messages", CHAT_MESSAGES },
	{ "chats_owner", "SELECT c.user_id, " CS_CHAT_COLUMNS CHAT_FROM "WHERE c.id = $1" },
	{ "chats_get_own", "SELECT " CS_CHAT_COLUMNS CHAT_FROM "WHERE c.id = $1 AND c.user_id = $2" },
	{ "chats_insert",
	  "INSERT INTO chats AS c (id, user_id, title, \"timestamp\", parent_chat_id, "
	  "branch_from_message_id, version, created_at, updated_at) "
	  "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $8) "
	  "ON CONFLICT (id) DO NOTHING RETURNING " CS_CHAT_COLUMNS },
	/* past CS_LIMIT_BRANCHES the parent keeps its list; the child still names its parent */
	{ "chats_add_branch",
	  "UPDATE chats AS c SET branches = CASE WHEN jsonb_array_length(c.branches) < "
	  CS_LIMIT_SQL(CS_LIMIT_BRANCHES) " THEN c.branches || jsonb_build_array($3::text) "
	  "ELSE c.branches END, "
	  "version = $4, updated_at = $5 "
	  "WHERE c.id = $1 AND c.user_id = $2 AND NOT c.is_deleted RETURNING c.id" },
	{ "chats_update",
	  "UPDATE chats AS c SET title = coalesce($3, c.title), "
	  "branches = coalesce($4::jsonb, c.branches), version = $5, updated_at = $6 "
	  "WHERE c.id = $1 AND c.user_id = $2 AND NOT c.is_deleted "
	  "AND ($7::bigint IS NULL OR c.version = $7::bigint) RETURNING " CS_CHAT_COLUMNS },
	{ "chats_visible",
	  "SELECT c.version" CHAT_FROM "WHERE c.id = $1 AND c.user_id = $2 AND NOT c.is_deleted" },
	{ "chats_delete",
	  "UPDATE chats AS c SET is_deleted = true, version = $3, updated_at = $4 "
	  "WHERE c.id = $1 AND c.user_id = $2 AND NOT c.is_deleted RETURNING " CS_CHAT_COLUMNS },
	/* the point's key, and the stored bytes of the messages a branch from it copies */
	{ "chats_branch_point",
	  "SELECT coalesce(p.position, -1), p.\"timestamp\", p.id, "
	  "(SELECT coalesce(sum(" CS_MESSAGE_STORED_BYTES "), 0)" OWN_CHAT_MESSAGES("m")
	  "$3 WHERE c.id = $2 AND NOT m.is_deleted AND " CHAT_MESSAGE_KEY
	  " <= (coalesce(p.position, -1), p.\"timestamp\", p.id)) FROM messages p "
	  "WHERE p.id = $1 AND p.chat_id = $2 AND p.user_id = $3 AND NOT p.is_deleted" },
	/* copies keep order, content and position; each gets its own version */
	{ "chats_copy_messages",
	  "WITH copied AS (INSERT INTO messages (" COPY_COLUMNS ") "
	  "SELECT " COPY_VALUES OWN_CHAT_MESSAGES("s") "$3 "
	  "WHERE c.id = $1 AND NOT s.is_deleted "
	  "AND (coalesce(s.position, -1), s.\"timestamp\", s.id) <= ($4::int, $5::bigint, $6::text) "
	  "RETURNING *) "
	  "SELECT " CS_MESSAGE_COLUMNS " FROM copied m "
	  "ORDER BY coalesce(m.position, -1), m.\"timestamp\", m.id" },
};
/* clang-format on */

static const struct cs_route routes[] = {
	{ "GET", "/api/chats", chats_list, CS_ROUTE_USER, "chats_list" },
	{ "POST", "/api/chats", chats_create, CS_ROUTE_USER | CS_ROUTE_BODY, "chats_create" },
	{ "GET", "/api/chats/:id", chats_get, CS_ROUTE_USER, "chats_get" },
	{ "PATCH", "/api/chats/:id", chats_update, CS_ROUTE_USER | CS_ROUTE_BODY, "chats_update" },
	{ "DELETE", "/api/chats/:id", chats_delete, CS_ROUTE_USER, "chats_delete" },
	{ "POST", "/api/chats/:id/branch", chats_branch, CS_ROUTE_USER | CS_ROUTE_BODY,
	  "chats_branch" },
};

int main(void)
{
	static const struct cs_service service = {
		.name = "chats",
		.routes = routes,
		.route_count = sizeof(routes) / sizeof(routes[0]),
		.statements = statements,
		.statement_count = sizeof(statements) / sizeof(statements[0]),
	};

	return cs_server_main(&service);
}

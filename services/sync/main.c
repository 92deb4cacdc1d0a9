/*
 * sync-svc: the change feed (delta, long-poll, SSE) and per-device sync
 * status. Routes and the SQL they run, in one place.
 */
#include "db.h"
#include "document.h"
#include "live.h"
#include "page.h"
#include "changes.h"
#include "sync_status.h"

/* clang-format off */
static const struct cs_db_statement statements[] = {
	/* a user's changes after a version: page.h's statement and its columns */
	{ "sync_changes", SYNC_PAGE_SQL },
	{ "sync_latest", "SELECT version FROM user_versions WHERE user_id = $1" },
	/* no row when the device is new and the user has CS_LIMIT_DEVICES already */
	{ "sync_status_put",
	  "INSERT INTO sync_status AS s (user_id, device_id, last_sync_timestamp, cursor, updated_at) "
	  "SELECT $1::text, $2::text, $3::bigint, $4::text, $5::bigint "
	  "WHERE EXISTS (SELECT 1 FROM sync_status d WHERE d.user_id = $1 AND d.device_id = $2) "
	  "OR (SELECT count(*) FROM sync_status d WHERE d.user_id = $1) < "
	  CS_LIMIT_SQL(CS_LIMIT_DEVICES) " ON CONFLICT (user_id, device_id) DO UPDATE SET "
	  "last_sync_timestamp = coalesce(EXCLUDED.last_sync_timestamp, s.last_sync_timestamp), "
	  "cursor = coalesce(EXCLUDED.cursor, s.cursor), updated_at = EXCLUDED.updated_at "
	  "RETURNING " CS_SYNC_STATUS_COLUMNS },
	{ "sync_status_list",
	  "SELECT " CS_SYNC_STATUS_COLUMNS " FROM sync_status s WHERE s.user_id = $1 ORDER BY s.device_id LIMIT "
	  CS_LIMIT_SQL(CS_LIMIT_DEVICES) },
};
/* clang-format on */

static const struct cs_route routes[] = {
	{ "GET", "/api/sync", sync_changes, CS_ROUTE_USER, "sync" },
	{ "PUT", "/api/sync-status/:device", sync_status_put, CS_ROUTE_USER | CS_ROUTE_BODY,
	  "sync_status_put" },
	{ "GET", "/api/sync-status", sync_status_list, CS_ROUTE_USER, "sync_status_list" },
};

int main(void)
{
	static const struct cs_service service = {
		.name = "sync",
		.routes = routes,
		.route_count = sizeof(routes) / sizeof(routes[0]),
		.statements = statements,
		.statement_count = sizeof(statements) / sizeof(statements[0]),
		.start = sync_live_start,
		.drain = sync_live_drain,
		.stop = sync_live_stop,
	};

	return cs_server_main(&service);
}

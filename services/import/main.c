/*
 * import-svc: the migration endpoints behind the service token, loopback
 * only in nginx (routes.conf). The SQL lives in migrate/importer*.c and
 * migrate/exporter.c, shared with `chatsync import` and `chatsync export`:
 * it runs on temporary tables of the request's session, so there is no
 * prepared statement to list here.
 */
#include "export.h"
#include "import.h"

static const struct cs_route routes[] = {
	{ "POST", "/api/import", import_post, CS_ROUTE_SERVICE | CS_ROUTE_BODY, "import" },
	{ "GET", "/api/export", export_get, CS_ROUTE_SERVICE, "export" },
};

int main(void)
{
	static const struct cs_service service = {
		.name = "import",
		.routes = routes,
		.route_count = sizeof(routes) / sizeof(routes[0]),
	};

	return cs_server_main(&service);
}

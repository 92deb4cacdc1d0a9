/*
 * import-svc: the migration endpoints (POST /api/import, GET /api/export)
 * behind the service token. Until they exist it serves only the health and
 * metrics routes every service has.
 */
#include "http.h"

int main(void)
{
	static const struct cs_service service = {
		.name = "import",
	};

	return cs_service_main(&service);
}

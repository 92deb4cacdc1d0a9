/* version.c - reserving per-user versions and announcing them. */
#include "version.h"
#include "server.h"
#include "wakeup.h"

#include <stdio.h>
#include <stdlib.h>

int cs_version_reserve(struct cs_db_conn *conn, const char *user_id, long long count,
		       long long *last, struct cs_error *err)
{
	char count_text[24];
	const char *params[2] = { user_id, count_text };
	PGresult *res = NULL;

	snprintf(count_text, sizeof(count_text), "%lld", count);
	if (cs_db_exec(conn, "cs_version_reserve", 2, params, NULL, &res, err) < 0)
		return -1;
	*last = strtoll(PQgetvalue(res, 0, 0), NULL, 10);
	PQclear(res);
	return 0;
}

int cs_version_begin(struct cs_db_conn *conn, const char *user_id, long long count, long long *last,
		     struct cs_error *err)
{
	char count_text[24];
	const char *params[2] = { user_id, count_text };
	const struct cs_db_step steps[2] = { { NULL, "BEGIN", 0, NULL },
					     { "cs_version_reserve", NULL, 2, params } };
	PGresult *results[2] = { NULL, NULL };

	snprintf(count_text, sizeof(count_text), "%lld", count);
	if (cs_db_pipeline(conn, steps, 2, results, err) < 0)
		return -1;
	*last = strtoll(PQgetvalue(results[1], 0, 0), NULL, 10);
	PQclear(results[0]);
	PQclear(results[1]);
	return 0;
}

void cs_version_committed(struct cs_server *server, const char *user_id, long long version)
{
	/* queued: the answer does not wait for Redis (wakeup.h) */
	cs_wakeup_post(cs_server_wakeup(server), user_id, version);
}

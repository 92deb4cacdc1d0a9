/*
 * importer_write.c - writing the rows classified as inserts, in batches that
 * take per-user versions, each in one transaction, retried after a race.
 */
#include "importer.h"
#include "importer_internal.h"
#include "events.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WRITE_ATTEMPTS 5

/* ---- writing a batch: ord in [%lld, %lld) ---- */

/*
 * The range is repeated on the staging table so that the planner reads just
 * the batch's rows of it (by its ord index), not all of it into a hash.
 *
 * The batch's new rows take consecutive versions per user, in file order;
 * user_versions rows are locked in user order, so that two imports (or an
 * import and a live writer, who locks one user) never wait on each other in
 * a cycle. The result is one row per user: the last version and the count.
 */
static const char write_chats[] =
	"WITH k AS (SELECT ord, user_id AS k_user, "
	"  row_number() OVER (PARTITION BY user_id ORDER BY ord) AS rn FROM "
	VERDICT(CS_IMPORTER_STAGED_CHATS) " WHERE status = 'i' AND ord >= %1$lld AND ord < %2$lld), "
	"n AS (SELECT k_user AS user_id, count(*) AS cnt FROM k GROUP BY k_user), "
	"uv AS (INSERT INTO user_versions AS u (user_id, version) "
	"  SELECT user_id, cnt FROM n ORDER BY user_id "
	"  ON CONFLICT (user_id) DO UPDATE SET version = u.version + EXCLUDED.version "
	"  RETURNING user_id, version), "
	"ins AS (INSERT INTO chats (" CS_LEGACY_CHAT_COLUMNS ", version) "
	"  SELECT " CS_LEGACY_CHAT_COLUMNS ", version - cnt + rn FROM " CS_IMPORTER_STAGED_CHATS " s "
	"  JOIN k USING (ord) JOIN n USING (user_id) JOIN uv USING (user_id) "
	"  WHERE s.ord >= %1$lld AND s.ord < %2$lld RETURNING user_id, version) "
	"SELECT user_id, max(version), count(*) FROM ins GROUP BY user_id";

static const char write_messages[] =
	"WITH k AS (SELECT ord, user_id AS k_user, "
	"  row_number() OVER (PARTITION BY user_id ORDER BY ord) AS rn FROM "
	VERDICT(CS_IMPORTER_STAGED_MESSAGES) " WHERE status = 'i' AND ord >= %1$lld AND ord < %2$lld), "
	"n AS (SELECT k_user AS user_id, count(*) AS cnt FROM k GROUP BY k_user), "
	"uv AS (INSERT INTO user_versions AS u (user_id, version) "
	"  SELECT user_id, cnt FROM n ORDER BY user_id "
	"  ON CONFLICT (user_id) DO UPDATE SET version = u.version + EXCLUDED.version "
	"  RETURNING user_id, version), "
	"ins AS (INSERT INTO messages (" CS_LEGACY_MESSAGE_COLUMNS ", version) "
	"  SELECT " CS_LEGACY_MESSAGE_COLUMNS ", version - cnt + rn FROM " CS_IMPORTER_STAGED_MESSAGES
	" s JOIN k USING (ord) JOIN n USING (user_id) JOIN uv USING (user_id) "
	"  WHERE s.ord >= %1$lld AND s.ord < %2$lld RETURNING user_id, version) "
	"SELECT user_id, max(version), count(*) FROM ins GROUP BY user_id";

/* Sync status has no versions and no wake-up: it is no document of the sync. */
/* clang-format off */
static const char write_sync_status[] =
	"INSERT INTO sync_status (" CS_LEGACY_SYNC_STATUS_COLUMNS ") "
	"SELECT " CS_LEGACY_SYNC_STATUS_COLUMNS " FROM " CS_IMPORTER_STAGED_SYNC_STATUS
	" WHERE ord >= %1$lld AND ord < %2$lld AND ord IN (SELECT ord FROM "
	VERDICT(CS_IMPORTER_STAGED_SYNC_STATUS) " WHERE status = 'i' AND ord >= %1$lld AND ord < %2$lld)";

/* After a batch met rows written meanwhile: classify its inserts again. */
static const char *const reclassify[CS_LEGACY_TABLES][2] = {
	{ "UPDATE " VERDICT(CS_IMPORTER_STAGED_CHATS) " v SET "
	  "status = CASE WHEN c.user_id = v.user_id THEN 'e' ELSE 'r' END, "
	  "reason = CASE WHEN c.user_id = v.user_id THEN NULL ELSE 'id: belongs to another user' END "
	  "FROM " CS_IMPORTER_STAGED_CHATS " s, chats c WHERE v.status = 'i' "
	  "AND v.ord >= %lld AND v.ord < %lld AND s.ord = v.ord AND c.id = s.id",
	  NULL },
	{ "UPDATE " VERDICT(CS_IMPORTER_STAGED_MESSAGES) " v SET "
	  "status = CASE WHEN m.user_id = v.user_id THEN 'e' ELSE 'r' END, "
	  "reason = CASE WHEN m.user_id = v.user_id THEN NULL ELSE 'id: belongs to another user' END "
	  "FROM " CS_IMPORTER_STAGED_MESSAGES " s, messages m WHERE v.status = 'i' "
	  "AND v.ord >= %lld AND v.ord < %lld AND s.ord = v.ord AND m.id = s.id",
	  "UPDATE " VERDICT(CS_IMPORTER_STAGED_MESSAGES) " v SET status = 'r', "
	  "reason = 'position: ' || v.position || ' is taken in chat \"' || v.chat_id || "
	  "'\" by message \"' || p.id || '\"' FROM messages p WHERE v.status = 'i' "
	  "AND v.ord >= %lld AND v.ord < %lld AND p.chat_id = v.chat_id AND p.position = v.position" },
	{ "UPDATE " VERDICT(CS_IMPORTER_STAGED_SYNC_STATUS) " v SET status = 'e' "
	  "FROM sync_status t WHERE v.status = 'i' AND v.ord >= %lld AND v.ord < %lld "
	  "AND t.user_id = v.user_id AND t.device_id = v.device_id",
	  NULL },
};
/* clang-format on */

static int runf(struct cs_importer *imp, const char *what, struct cs_error *err, const char *fmt,
		long long lo, long long hi)
{
	size_t size = strlen(fmt) + 64;
	char *sql = malloc(size);
	int rc;

	if (!sql)
		return cs_error_set(err, 500, "out of memory");
	snprintf(sql, size, fmt, lo, hi);
	rc = cs_importer__run(imp, sql, what, err);
	free(sql);
	return rc;
}

/* ---- writing ---- */

/* Wake-ups for the batch's users: best effort, live requests re-check Postgres anyway. */
static void publish(struct cs_importer *imp, const PGresult *res)
{
	int i;

	if (!imp->options.events)
		return;
	for (i = 0; i < PQntuples(res); i++)
		cs_events_publish(imp->options.events, PQgetvalue(res, i, 0),
				  strtoll(PQgetvalue(res, i, 1), NULL, 10));
}

/* One batch in one transaction (one round trip); *written rows went in. */
static int write_batch(struct cs_importer *imp, enum cs_legacy_table table, long long lo,
		       long long hi, long long *written, struct cs_error *err)
{
	static const char *const statements[CS_LEGACY_TABLES] = { write_chats, write_messages,
								  write_sync_status };
	size_t size = strlen(statements[table]) + 64;
	char *sql = malloc(size);
	PGresult *results[3] = { NULL, NULL, NULL };
	struct cs_db_step steps[3] = { { NULL, "BEGIN", 0, NULL },
				       { NULL, sql, 0, NULL },
				       { NULL, "COMMIT", 0, NULL } };
	int rc, i;

	if (!sql)
		return cs_error_set(err, 500, "out of memory");
	snprintf(sql, size, statements[table], lo, hi);
	rc = cs_db_pipeline(imp->conn, steps, 3, results, err);
	free(sql);
	if (rc == 0) {
		*written = 0;
		if (table == CS_LEGACY_SYNC_STATUS) {
			*written = strtoll(PQcmdTuples(results[1]), NULL, 10);
		} else {
			for (i = 0; i < PQntuples(results[1]); i++)
				*written += strtoll(PQgetvalue(results[1], i, 2), NULL, 10);
			publish(imp, results[1]);
		}
	}
	for (i = 0; i < 3; i++)
		PQclear(results[i]);
	return rc;
}

/* A batch, again after someone else wrote some of its rows meanwhile. */
static int write_batch_retrying(struct cs_importer *imp, enum cs_legacy_table table, long long lo,
				long long hi, long long *written, struct cs_error *err)
{
	int attempt, i;

	for (attempt = 1;; attempt++) {
		if (write_batch(imp, table, lo, hi, written, err) == 0)
			return 0;
		if (attempt == WRITE_ATTEMPTS || PQstatus(imp->conn->pg) != CONNECTION_OK)
			break;
		if (err->status == 409) {
			for (i = 0; i < 2; i++)
				if (reclassify[table][i] &&
				    runf(imp, "classify the rows again", err, reclassify[table][i],
					 lo, hi) < 0)
					return -1;
		} else if (!err->retry) {
			break;
		}
	}
	if (err->status < 500)
		err->status = 500; /* the document is fine: this is the store's trouble */
	return -1;
}

static int write_table(struct cs_importer *imp, enum cs_legacy_table table, struct cs_error *err)
{
	const struct cs_importer_batches *b = &imp->batches[table];
	long long total = imp->counts[table].inserted, done = 0;
	size_t i;

	cs_importer__progress(imp, CS_IMPORTER_WRITING, table, 0, total);
	for (i = 0; i < b->count && total > 0; i++) {
		long long lo = b->starts[i];
		long long hi = i + 1 < b->count ? b->starts[i + 1] : imp->counts[table].read;
		long long written = 0;

		if (write_batch_retrying(imp, table, lo, hi, &written, err) < 0)
			return -1;
		done += written;
		cs_importer__progress(imp, CS_IMPORTER_WRITING, table, done, total);
	}
	if (cs_importer__count_verdicts(imp, table, err) < 0)
		return -1;
	if (imp->counts[table].inserted != done)
		return cs_error_set(err, 500, "%s: %lld rows written but %lld counted",
				    cs_legacy_member(table), done, imp->counts[table].inserted);
	cs_importer__progress(imp, CS_IMPORTER_DONE, table, done, total);
	return 0;
}

int cs_importer_write(struct cs_importer *imp, struct cs_error *err)
{
	int t;

	/* in table order: a message's chat is in the store before the message is classified */
	for (t = 0; t < CS_LEGACY_TABLES; t++)
		if (cs_importer__classify(imp, (enum cs_legacy_table)t, err) < 0 ||
		    write_table(imp, (enum cs_legacy_table)t, err) < 0)
			return -1;
	return 0;
}

/*
 * importer_classify.c - the verdict of every staged row (insert, exists,
 * duplicate, reject: importer.h), decided in SQL against the store and the
 * rest of the file, and the counts taken from the verdicts.
 */
#include "importer.h"
#include "importer_internal.h"

#include <stdio.h>
#include <stdlib.h>

/* ---- classification (one statement per table, then its index) ---- */

static const char classify_chats[] =
	"CREATE TEMP TABLE " VERDICT(CS_IMPORTER_STAGED_CHATS) " AS "
	"SELECT s.ord, s.user_id, (CASE WHEN s.reason IS NOT NULL THEN 'r' "
	"  WHEN f.first_ord <> s.ord THEN 'd' WHEN c.id IS NULL THEN 'i' "
	"  WHEN c.user_id = s.user_id THEN 'e' ELSE 'r' END)::\"char\" AS status, "
	" CASE WHEN s.reason IS NOT NULL THEN s.reason WHEN f.first_ord <> s.ord THEN NULL "
	"  WHEN c.user_id <> s.user_id THEN 'id: belongs to another user' END AS reason "
	"FROM " CS_IMPORTER_STAGED_CHATS " s "
	"LEFT JOIN (SELECT id, min(ord) AS first_ord FROM " CS_IMPORTER_STAGED_CHATS
	"  WHERE reason IS NULL GROUP BY id) f ON f.id = s.id "
	"LEFT JOIN chats c ON c.id = s.id AND s.reason IS NULL";

/*
 * A message's chat is the store's, else the file's accepted one. A position
 * is taken by a stored message of the chat; between the file's own messages
 * the first in file order keeps it (the UPDATE after).
 */
static const char classify_messages[] =
	"CREATE TEMP TABLE " VERDICT(CS_IMPORTER_STAGED_MESSAGES) " AS "
	"SELECT s.ord, s.user_id, s.chat_id, s.position, (CASE WHEN s.reason IS NOT NULL THEN 'r' "
	"  WHEN f.first_ord <> s.ord THEN 'd' "
	"  WHEN m.id IS NOT NULL AND m.user_id = s.user_id THEN 'e' WHEN m.id IS NOT NULL THEN 'r' "
	"  WHEN coalesce(c.user_id, fc.user_id) IS DISTINCT FROM s.user_id THEN 'r' "
	"  WHEN p.id IS NOT NULL THEN 'r' ELSE 'i' END)::\"char\" AS status, "
	" CASE WHEN s.reason IS NOT NULL THEN s.reason WHEN f.first_ord <> s.ord THEN NULL "
	"  WHEN m.id IS NOT NULL AND m.user_id = s.user_id THEN NULL "
	"  WHEN m.id IS NOT NULL THEN 'id: belongs to another user' "
	"  WHEN coalesce(c.user_id, fc.user_id) IS NULL THEN 'chat_id: no chat \"' || s.chat_id || "
	"   '\" in the store or among the file''s accepted chats' "
	"  WHEN coalesce(c.user_id, fc.user_id) <> s.user_id THEN 'chat_id: chat \"' || s.chat_id || "
	"   '\" belongs to another user' "
	"  WHEN p.id IS NOT NULL THEN 'position: ' || s.position || ' is taken in chat \"' || "
	"   s.chat_id || '\" by message \"' || p.id || '\"' END AS reason "
	"FROM " CS_IMPORTER_STAGED_MESSAGES " s "
	"LEFT JOIN (SELECT id, min(ord) AS first_ord FROM " CS_IMPORTER_STAGED_MESSAGES
	"  WHERE reason IS NULL GROUP BY id) f ON f.id = s.id "
	"LEFT JOIN messages m ON m.id = s.id AND s.reason IS NULL "
	"LEFT JOIN chats c ON c.id = s.chat_id AND s.reason IS NULL "
	"LEFT JOIN (SELECT fs.id, fs.user_id FROM " CS_IMPORTER_STAGED_CHATS " fs JOIN "
	VERDICT(CS_IMPORTER_STAGED_CHATS) " fv USING (ord) WHERE fv.status = 'i') fc "
	"  ON fc.id = s.chat_id AND s.reason IS NULL "
	"LEFT JOIN messages p ON p.chat_id = s.chat_id AND p.position = s.position "
	"  AND s.reason IS NULL";

static const char classify_message_positions[] =
	"UPDATE " VERDICT(CS_IMPORTER_STAGED_MESSAGES) " v SET status = 'r', "
	"reason = 'position: ' || v.position || ' is taken in chat \"' || v.chat_id || "
	"'\" by row ' || d.first_ord || ' of the file' "
	"FROM (SELECT chat_id, position, min(ord) AS first_ord FROM "
	VERDICT(CS_IMPORTER_STAGED_MESSAGES) " WHERE status = 'i' AND position IS NOT NULL "
	"GROUP BY chat_id, position HAVING count(*) > 1) d "
	"WHERE v.status = 'i' AND v.chat_id = d.chat_id AND v.position = d.position "
	"AND v.ord <> d.first_ord";

static const char classify_sync_status[] =
	"CREATE TEMP TABLE " VERDICT(CS_IMPORTER_STAGED_SYNC_STATUS) " AS "
	"SELECT s.ord, s.user_id, s.device_id, (CASE WHEN s.reason IS NOT NULL THEN 'r' "
	"  WHEN f.first_ord <> s.ord THEN 'd' WHEN t.user_id IS NOT NULL THEN 'e' "
	"  ELSE 'i' END)::\"char\" AS status, s.reason "
	"FROM " CS_IMPORTER_STAGED_SYNC_STATUS " s "
	"LEFT JOIN (SELECT user_id, device_id, min(ord) AS first_ord FROM "
	CS_IMPORTER_STAGED_SYNC_STATUS " WHERE reason IS NULL GROUP BY user_id, device_id) f "
	"  ON f.user_id = s.user_id AND f.device_id = s.device_id "
	"LEFT JOIN sync_status t ON t.user_id = s.user_id AND t.device_id = s.device_id "
	"  AND s.reason IS NULL";

/* Counts from the verdicts; read must come out as their sum. */
int cs_importer__count_verdicts(struct cs_importer *imp, enum cs_legacy_table table,
				struct cs_error *err)
{
	struct cs_importer_counts *c = &imp->counts[table];
	char sql[192];
	PGresult *res;
	int i;

	snprintf(sql, sizeof(sql), "SELECT status, count(*) FROM %s%s GROUP BY status",
		 cs_importer__staged[table], CS_IMPORTER_VERDICT_SUFFIX);
	if (cs_db_run(imp->conn, sql, "count the rows", &res, err) < 0)
		return -1;
	c->inserted = c->skipped = c->rejected = c->duplicates = 0;
	for (i = 0; i < PQntuples(res); i++) {
		char status = PQgetvalue(res, i, 0)[0];
		long long n = strtoll(PQgetvalue(res, i, 1), NULL, 10);

		if (status == CS_IMPORTER_INSERT)
			c->inserted += n;
		else if (status == CS_IMPORTER_REJECT)
			c->rejected += n;
		else
			c->skipped += n;
		if (status == CS_IMPORTER_DUPLICATE)
			c->duplicates += n;
	}
	PQclear(res);
	if (c->inserted + c->skipped + c->rejected != c->read)
		return cs_error_set(err, 500, "%s: %lld rows read but %lld classified",
				    cs_legacy_member(table), c->read,
				    c->inserted + c->skipped + c->rejected);
	return 0;
}

int cs_importer__classify(struct cs_importer *imp, enum cs_legacy_table table, struct cs_error *err)
{
	static const char *const statements[CS_LEGACY_TABLES] = { classify_chats, classify_messages,
								  classify_sync_status };
	char sql[192];

	cs_importer__progress(imp, CS_IMPORTER_CHECKING, table, 0, imp->counts[table].read);
	if (cs_importer__run(imp, statements[table], "classify the rows", err) < 0)
		return -1;
	if (table == CS_LEGACY_MESSAGES &&
	    cs_importer__run(imp, classify_message_positions, "classify the rows", err) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "CREATE INDEX ON %s%s (ord)", cs_importer__staged[table],
		 CS_IMPORTER_VERDICT_SUFFIX);
	if (cs_importer__run(imp, sql, "index the classification", err) < 0)
		return -1;
	snprintf(sql, sizeof(sql), "ANALYZE %s%s", cs_importer__staged[table],
		 CS_IMPORTER_VERDICT_SUFFIX);
	if (cs_importer__run(imp, sql, "analyze the classification", err) < 0)
		return -1;
	return cs_importer__count_verdicts(imp, table, err);
}

int cs_importer_check(struct cs_importer *imp, struct cs_error *err)
{
	int t;

	imp->checked_only = 1;
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		if (cs_importer__classify(imp, (enum cs_legacy_table)t, err) < 0)
			return -1;
		cs_importer__progress(imp, CS_IMPORTER_DONE, (enum cs_legacy_table)t,
				      imp->counts[t].inserted, imp->counts[t].inserted);
	}
	return 0;
}

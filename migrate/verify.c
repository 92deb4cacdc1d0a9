/*
 * verify.c - a merge of two sorted row streams, the file's accepted rows and
 * the store's rows of the same users, each row as (user, table, id, hash of
 * its canonical content). Memory holds one page of each stream, one user's
 * running totals and a few rows to describe in detail.
 */
#include "verify.h"
#include "buf.h"
#include "rowstream.h"
#include "schema.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DETAILED_MAX 50 /* differing rows described field by field */
#define VALUE_SHOWN 60  /* bytes of a differing value shown */

#define CANON(TABLE) "jsonb_build_array(" CS_SCHEMA_LEGACY_COLUMNS(TABLE, "x.") ")"
#define CANON_CHAT CANON(CS_SCHEMA_CHATS)
#define CANON_MESSAGE CANON(CS_SCHEMA_MESSAGES)
#define CANON_SYNC_STATUS CANON(CS_SCHEMA_SYNC_STATUS)
#define HASH(canon) "encode(sha256(convert_to((" canon ")::text, 'UTF8')), 'hex')"
/* clang-format off */
#define ACCEPTED(staged) " x JOIN " staged CS_IMPORTER_VERDICT_SUFFIX \
	" v USING (ord) WHERE v.status IN ('i', 'e')"
/* clang-format on */
#define SORTED(rows) "SELECT * FROM (" rows ") r ORDER BY u COLLATE \"C\", t, id COLLATE \"C\""

static const char *const field_names[CS_LEGACY_TABLES][CS_LEGACY_MAX_COLUMNS] = {
	{ CS_SCHEMA_LEGACY_NAMES(CS_SCHEMA_CHATS) },
	{ CS_SCHEMA_LEGACY_NAMES(CS_SCHEMA_MESSAGES) },
	{ CS_SCHEMA_LEGACY_NAMES(CS_SCHEMA_SYNC_STATUS) },
};

static const char create_users[] =
	"CREATE TEMP TABLE cs_verify_users AS "
	"SELECT user_id FROM " CS_IMPORTER_STAGED_CHATS CS_IMPORTER_VERDICT_SUFFIX
	" WHERE status IN ('i', 'e') UNION "
	"SELECT user_id FROM " CS_IMPORTER_STAGED_MESSAGES CS_IMPORTER_VERDICT_SUFFIX
	" WHERE status IN ('i', 'e') UNION "
	"SELECT user_id FROM " CS_IMPORTER_STAGED_SYNC_STATUS CS_IMPORTER_VERDICT_SUFFIX
	" WHERE status IN ('i', 'e')";

/* clang-format off */
static const char file_rows[] = SORTED(
	"SELECT x.user_id AS u, 'c' AS t, x.id, " HASH(CANON_CHAT) " AS h FROM "
	CS_IMPORTER_STAGED_CHATS ACCEPTED(CS_IMPORTER_STAGED_CHATS)
	" UNION ALL SELECT x.user_id, 'm', x.id, " HASH(CANON_MESSAGE) " FROM "
	CS_IMPORTER_STAGED_MESSAGES ACCEPTED(CS_IMPORTER_STAGED_MESSAGES)
	" UNION ALL SELECT x.user_id, 's', x.device_id, " HASH(CANON_SYNC_STATUS) " FROM "
	CS_IMPORTER_STAGED_SYNC_STATUS ACCEPTED(CS_IMPORTER_STAGED_SYNC_STATUS));
/* clang-format on */

#define OF_USERS " WHERE x.user_id IN (SELECT user_id FROM cs_verify_users)"
/* clang-format off */
static const char store_rows[] = SORTED(
	"SELECT x.user_id AS u, 'c' AS t, x.id, " HASH(CANON_CHAT) " AS h FROM chats x" OF_USERS
	" UNION ALL SELECT x.user_id, 'm', x.id, " HASH(CANON_MESSAGE) " FROM messages x" OF_USERS
	" UNION ALL SELECT x.user_id, 's', x.device_id, " HASH(CANON_SYNC_STATUS)
	" FROM sync_status x" OF_USERS);

/* One row each, to describe a difference: $1 the id (a sync status: $1 user, $2 device). */
static const char *const file_row[CS_LEGACY_TABLES] = {
	"SELECT (" CANON_CHAT ")::text FROM " CS_IMPORTER_STAGED_CHATS
	ACCEPTED(CS_IMPORTER_STAGED_CHATS) " AND x.id = $1 AND $2::text IS NOT NULL",
	"SELECT (" CANON_MESSAGE ")::text FROM " CS_IMPORTER_STAGED_MESSAGES
	ACCEPTED(CS_IMPORTER_STAGED_MESSAGES) " AND x.id = $1 AND $2::text IS NOT NULL",
	"SELECT (" CANON_SYNC_STATUS ")::text FROM " CS_IMPORTER_STAGED_SYNC_STATUS
	ACCEPTED(CS_IMPORTER_STAGED_SYNC_STATUS) " AND x.device_id = $1 AND x.user_id = $2",
};
static const char *const store_row[CS_LEGACY_TABLES] = {
	"SELECT (" CANON_CHAT ")::text FROM chats x WHERE x.id = $1 AND $2::text IS NOT NULL",
	"SELECT (" CANON_MESSAGE ")::text FROM messages x WHERE x.id = $1 AND $2::text IS NOT NULL",
	"SELECT (" CANON_SYNC_STATUS ")::text FROM sync_status x "
	"WHERE x.device_id = $1 AND x.user_id = $2",
};
/* clang-format on */

enum side { FILE_SIDE, STORE_SIDE };

struct stream {
	struct cs_rowstream rs;
	const PGresult *res;
	int row;
	int more;
};

struct detailed {
	enum cs_legacy_table table;
	char *id, *user;
};

struct user_totals {
	struct cs_buf user;
	long long rows[2][CS_LEGACY_TABLES];
	EVP_MD_CTX *md[2];
};

struct verify {
	struct cs_importer *imp;
	cs_verify_print_fn print;
	void *arg;
	struct cs_verify_result *result;
	struct user_totals totals;
	struct detailed detailed[DETAILED_MAX];
	int detailed_count;
	struct cs_buf line;
};

static void say(struct verify *v, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void say(struct verify *v, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	cs_buf_reset(&v->line);
	cs_buf_grow(&v->line, (size_t)n + 1);
	va_start(ap, fmt);
	vsnprintf(v->line.data, (size_t)n + 1, fmt, ap);
	va_end(ap);
	v->line.len = (size_t)n;
	v->print(v->arg, v->line.data);
}

static enum cs_legacy_table table_of(const char *t)
{
	return *t == 'c' ? CS_LEGACY_CHATS : *t == 'm' ? CS_LEGACY_MESSAGES : CS_LEGACY_SYNC_STATUS;
}

static const char *value(const struct stream *s, int col)
{
	return PQgetvalue(s->res, s->row, col);
}

static int advance(struct stream *s, struct cs_error *err)
{
	int rc = cs_rowstream_next(&s->rs, &s->res, &s->row, err);

	s->more = rc == 1;
	return rc < 0 ? -1 : 0;
}

static int compare_keys(const struct stream *a, const struct stream *b)
{
	int c = strcmp(value(a, 0), value(b, 0));

	if (c == 0)
		c = strcmp(value(a, 1), value(b, 1));
	if (c == 0)
		c = strcmp(value(a, 2), value(b, 2));
	return c;
}

/* ---- per user ---- */

static void hex_digest(EVP_MD_CTX *md, char out[2 * EVP_MAX_MD_SIZE + 1])
{
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int len = 0, i;

	EVP_DigestFinal_ex(md, digest, &len);
	for (i = 0; i < len; i++)
		snprintf(out + 2 * i, 3, "%02x", digest[i]);
	out[2 * len] = '\0';
}

static void user_begin(struct verify *v, const char *user)
{
	int s;

	cs_buf_reset(&v->totals.user);
	cs_buf_puts(&v->totals.user, user);
	memset(v->totals.rows, 0, sizeof(v->totals.rows));
	for (s = 0; s < 2; s++)
		EVP_DigestInit_ex(v->totals.md[s], EVP_sha256(), NULL);
	v->result->users++;
}

static void user_add(struct verify *v, enum side side, const struct stream *s)
{
	const char *t = value(s, 1), *id = value(s, 2), *hash = value(s, 3);

	v->totals.rows[side][table_of(t)]++;
	EVP_DigestUpdate(v->totals.md[side], t, 1);
	EVP_DigestUpdate(v->totals.md[side], "\x1f", 1);
	EVP_DigestUpdate(v->totals.md[side], id, strlen(id));
	EVP_DigestUpdate(v->totals.md[side], "\x1f", 1);
	EVP_DigestUpdate(v->totals.md[side], hash, strlen(hash));
	EVP_DigestUpdate(v->totals.md[side], "\n", 1);
	if (side == FILE_SIDE)
		v->result->rows_file[table_of(t)]++;
	else
		v->result->rows_store[table_of(t)]++;
}

static void user_end(struct verify *v, int verbose)
{
	char digest[2][2 * EVP_MAX_MD_SIZE + 1];
	const char *user = v->totals.user.data;
	int t;

	if (!user)
		return;
	hex_digest(v->totals.md[FILE_SIDE], digest[FILE_SIDE]);
	hex_digest(v->totals.md[STORE_SIDE], digest[STORE_SIDE]);
	for (t = 0; t < CS_LEGACY_TABLES; t++) {
		if (v->totals.rows[FILE_SIDE][t] == v->totals.rows[STORE_SIDE][t])
			continue;
		v->result->differences++;
		say(v, "user \"%s\": %s: %lld in the file, %lld in the store", user,
		    cs_legacy_member((enum cs_legacy_table)t), v->totals.rows[FILE_SIDE][t],
		    v->totals.rows[STORE_SIDE][t]);
	}
	if (strcmp(digest[FILE_SIDE], digest[STORE_SIDE]) != 0) {
		v->result->differences++;
		say(v, "user \"%s\": checksum differs: file %s, store %s", user, digest[FILE_SIDE],
		    digest[STORE_SIDE]);
	} else if (verbose) {
		say(v,
		    "user \"%s\": chats %lld, messages %lld, syncStatus %lld, checksum %s: match",
		    user, v->totals.rows[FILE_SIDE][0], v->totals.rows[FILE_SIDE][1],
		    v->totals.rows[FILE_SIDE][2], digest[FILE_SIDE]);
	}
}

/* ---- rows ---- */

static void row_differs(struct verify *v, const struct stream *s)
{
	enum cs_legacy_table table = table_of(value(s, 1));
	struct detailed *d;

	v->result->differences++;
	if (v->detailed_count == DETAILED_MAX) {
		say(v, "differs: %s \"%s\" of user \"%s\"", cs_legacy_member(table), value(s, 2),
		    value(s, 0));
		return;
	}
	d = &v->detailed[v->detailed_count++];
	d->table = table;
	d->id = strdup(value(s, 2));
	d->user = strdup(value(s, 0));
	if (!d->id || !d->user)
		abort();
}

/* The merge: rows only in the file, only in the store, or in both. */
static int merge(struct verify *v, struct stream *file, struct stream *store, int verbose,
		 struct cs_error *err)
{
	while (file->more || store->more) {
		int c = !file->more ? 1 : !store->more ? -1 : compare_keys(file, store);
		const struct stream *s = c <= 0 ? file : store;

		if (!v->totals.user.data || strcmp(v->totals.user.data, value(s, 0)) != 0) {
			user_end(v, verbose);
			user_begin(v, value(s, 0));
		}
		if (c < 0) {
			v->result->differences++;
			say(v, "missing in the store: %s \"%s\" of user \"%s\"",
			    cs_legacy_member(table_of(value(s, 1))), value(s, 2), value(s, 0));
		} else if (c > 0) {
			v->result->differences++;
			say(v, "not in the file: %s \"%s\" of user \"%s\"",
			    cs_legacy_member(table_of(value(s, 1))), value(s, 2), value(s, 0));
		} else if (strcmp(value(file, 3), value(store, 3)) != 0) {
			row_differs(v, file);
		}
		if (c <= 0)
			user_add(v, FILE_SIDE, file);
		if (c >= 0)
			user_add(v, STORE_SIDE, store);
		if ((c <= 0 && advance(file, err) < 0) || (c >= 0 && advance(store, err) < 0))
			return -1;
	}
	user_end(v, verbose);
	return 0;
}

/* ---- describing a differing row ---- */

/* The canonical row of one side (NULL when it has none any more); -1 on a database error. */
static int canonical_row(struct verify *v, const char *sql, const struct detailed *d, json_t **row,
			 struct cs_error *err)
{
	const char *params[2] = { d->id, d->user };
	PGresult *res = NULL;

	*row = NULL;
	if (cs_db_run_params(cs_importer_conn(v->imp), sql, 2, params, "read a differing row", &res,
			     err) < 0)
		return -1;
	if (PQntuples(res) == 1)
		*row = json_loads(PQgetvalue(res, 0, 0), JSON_DECODE_INT_AS_REAL, NULL);
	PQclear(res);
	return 0;
}

static void shown(json_t *value, char out[VALUE_SHOWN + 4])
{
	char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(17));

	snprintf(out, VALUE_SHOWN + 4, "%.*s%s", VALUE_SHOWN, text ? text : "?",
		 text && strlen(text) > VALUE_SHOWN ? "..." : "");
	free(text);
}

static int describe(struct verify *v, const struct detailed *d, struct cs_error *err)
{
	json_t *file = NULL, *store = NULL;
	struct cs_buf fields = CS_BUF_INIT;
	size_t i;
	int rc = -1;

	if (canonical_row(v, file_row[d->table], d, &file, err) < 0 ||
	    canonical_row(v, store_row[d->table], d, &store, err) < 0)
		goto out;
	for (i = 0; file && store && i < json_array_size(file) && i < 11; i++) {
		char a[VALUE_SHOWN + 4], b[VALUE_SHOWN + 4];

		if (json_equal(json_array_get(file, i), json_array_get(store, i)))
			continue;
		shown(json_array_get(file, i), a);
		shown(json_array_get(store, i), b);
		cs_buf_printf(&fields, "%s%s (file %s, store %s)", fields.len ? "; " : "",
			      field_names[d->table][i], a, b);
	}
	say(v, "differs: %s \"%s\" of user \"%s\": %s", cs_legacy_member(d->table), d->id, d->user,
	    fields.data ? fields.data : "content");
	rc = 0;
out:
	cs_buf_release(&fields);
	json_decref(file);
	json_decref(store);
	return rc;
}

/* ---- the whole ---- */

static int open_streams(struct verify *v, struct stream *file, struct stream *store,
			struct cs_error *err)
{
	struct cs_db_conn *conn = cs_importer_conn(v->imp);

	if (cs_db_begin_with(conn, "ISOLATION LEVEL REPEATABLE READ", err) < 0)
		return -1;
	if (cs_db_command(conn, create_users, err) < 0 ||
	    cs_rowstream_open(&file->rs, conn, "cs_verify_file", file_rows, 0, NULL, err) < 0 ||
	    cs_rowstream_open(&store->rs, conn, "cs_verify_store", store_rows, 0, NULL, err) < 0)
		return -1;
	return advance(file, err) < 0 || advance(store, err) < 0 ? -1 : 0;
}

int cs_verify_compare(struct cs_importer *imp, int verbose, cs_verify_print_fn print, void *arg,
		      struct cs_verify_result *result, struct cs_error *err)
{
	struct verify v = {
		imp,       print, arg,        result, { CS_BUF_INIT, { { 0 } }, { NULL, NULL } },
		{ { 0 } }, 0,     CS_BUF_INIT
	};
	struct stream file = { CS_ROWSTREAM_INIT, NULL, 0, 0 };
	struct stream store = { CS_ROWSTREAM_INIT, NULL, 0, 0 };
	int rc = -1, i;

	memset(result, 0, sizeof(*result));
	v.totals.md[0] = EVP_MD_CTX_new();
	v.totals.md[1] = EVP_MD_CTX_new();
	if (!v.totals.md[0] || !v.totals.md[1]) {
		cs_error_set(err, 500, "out of memory");
		goto out;
	}
	if (open_streams(&v, &file, &store, err) < 0 || merge(&v, &file, &store, verbose, err) < 0)
		goto out;
	cs_rowstream_close(&file.rs);
	cs_rowstream_close(&store.rs);
	for (i = 0; i < v.detailed_count; i++)
		if (describe(&v, &v.detailed[i], err) < 0)
			goto out;
	rc = 0;
out:
	cs_rowstream_close(&file.rs);
	cs_rowstream_close(&store.rs);
	cs_db_rollback(cs_importer_conn(imp)); /* the users table goes with the transaction */
	for (i = 0; i < v.detailed_count; i++) {
		free(v.detailed[i].id);
		free(v.detailed[i].user);
	}
	EVP_MD_CTX_free(v.totals.md[0]);
	EVP_MD_CTX_free(v.totals.md[1]);
	cs_buf_release(&v.totals.user);
	cs_buf_release(&v.line);
	return rc;
}

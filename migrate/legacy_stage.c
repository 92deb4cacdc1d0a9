/*
 * legacy_stage.c - turning a legacy row into a staging line
 * (cs_legacy_stage_row): the generic reader of a row's members, the typed
 * reads of a column by its format, and the line of a staged or rejected row.
 * The checks of each table's own columns are in legacy_tables.c.
 *
 * A row arrives as the bytes cs_jsonstream_parse cut out, already checked
 * against the JSON grammar; what is left to check is the meaning. Members
 * are found by cs_jsonstream_next_member and strings are decoded straight
 * into COPY text (legacy_text.c). branches and attachments are copied as the
 * raw text of the file, so that jsonb receives the numbers exactly as written.
 */
#include "legacy.h"
#include "legacy_internal.h"
#include "legacy_stage_internal.h"
#include "document.h"
#include "id.h"
#include "jsonstream.h"
#include "timestamp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_SAFE_INTEGER 9007199254740992.0 /* 2^53: integers a double holds exactly */
#define MAX_LISTED_ID 4096                  /* longest id a reject line carries */

/* ---- reading one row ---- */

int cs_legacy__reject(struct cs_legacy_reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* A member's name (decoded when written with escapes): which of ours, or -1. */
static int key_of(const struct cs_legacy_reader *r, const struct cs_jsonstream_field *f)
{
	struct cs_buf decoded = CS_BUF_INIT;
	const char *name = f->name, *why;
	size_t len = f->name_len;
	struct cs_legacy_text t;
	int k, found = -1;

	/* the name's quotes are just around it */
	if (memchr(name, '\\', len) &&
	    cs_legacy__decode(name - 1, len + 2, &decoded, 0, &t, &why) == 0) {
		name = decoded.data ? decoded.data : "";
		len = t.bytes;
	}
	for (k = 0; k < r->keys && found < 0; k++)
		if (strlen(r->names[k]) == len && !memcmp(r->names[k], name, len))
			found = k;
	cs_buf_release(&decoded);
	return found;
}

/* Finds our members; the last of a repeated name wins, as in most JSON readers. */
static int read_members(struct cs_legacy_reader *r, const char *row, size_t len)
{
	struct cs_jsonstream_field f;
	size_t pos = 0;
	int rc, k;

	memset(r->field, 0, sizeof(r->field));
	while ((rc = cs_jsonstream_next_member(row, len, &pos, &f)) == 1) {
		if ((k = key_of(r, &f)) >= 0) {
			r->field[k].p = f.value;
			r->field[k].len = f.value_len;
		}
	}
	return rc < 0 ? cs_legacy__reject(r, "row: must be a JSON object") : 0;
}

/* A member that is absent or null counts as absent. */
const struct cs_legacy_span *cs_legacy__member(const struct cs_legacy_reader *r, int k)
{
	const struct cs_legacy_span *s = &r->field[k];

	return s->p && s->p[0] != 'n' ? s : NULL;
}

int cs_legacy__is_string(const struct cs_legacy_span *s)
{
	return s && s->p[0] == '"';
}

void cs_legacy__set(struct cs_legacy_reader *r, int k, enum cs_legacy_how how,
		    const struct cs_legacy_span *s, long long n)
{
	if (k < r->count) {
		r->value[k].how = how;
		r->value[k].s = s;
		r->value[k].n = n;
	}
}

/*
 * An id (document.h's rule, on the decoded string); NULL when absent and
 * optional. The rule decides; the reason only says which part it broke.
 */
int cs_legacy__read_id(struct cs_legacy_reader *r, int k, int required)
{
	const struct cs_legacy_span *s = cs_legacy__member(r, k);
	const char *name = r->names[k], *why;
	struct cs_legacy_text t;

	if (!s) {
		cs_legacy__set(r, k, V_NULL, NULL, 0);
		return required ? cs_legacy__reject(r, "%s: missing", name) : 0;
	}
	if (!cs_legacy__is_string(s))
		return cs_legacy__reject(r, "%s: must be a string", name);
	cs_buf_reset(&r->decoded);
	if (cs_legacy__decode(s->p, s->len, &r->decoded, 0, &t, &why) < 0)
		return cs_legacy__reject(r, "%s: holds %s", name, why);
	if (!cs_document_id_fits(r->decoded.data, t.bytes)) {
		if (t.bytes == 0)
			return cs_legacy__reject(r, "%s: empty", name);
		if (t.bytes > CS_ID_MAX)
			return cs_legacy__reject(r, "%s: longer than %d bytes", name, CS_ID_MAX);
		return cs_legacy__reject(r, "%s: contains control characters", name);
	}
	cs_legacy__set(r, k, V_STRING, s, 0);
	return 0;
}

/* A string that must be there; *t describes it decoded. */
int cs_legacy__read_string(struct cs_legacy_reader *r, int k, struct cs_legacy_text *t)
{
	const struct cs_legacy_span *s = cs_legacy__member(r, k);
	const char *name = r->names[k], *why;

	if (!s)
		return cs_legacy__reject(r, "%s: missing", name);
	if (!cs_legacy__is_string(s))
		return cs_legacy__reject(r, "%s: must be a string", name);
	if (cs_legacy__decode(s->p, s->len, NULL, 0, t, &why) < 0)
		return cs_legacy__reject(r, "%s: holds %s", name, why);
	cs_legacy__set(r, k, V_STRING, s, 0);
	return 0;
}

/* A string or null. */
int cs_legacy__read_text(struct cs_legacy_reader *r, int k)
{
	const struct cs_legacy_span *s = cs_legacy__member(r, k);
	const char *name = r->names[k], *why;
	struct cs_legacy_text t;

	cs_legacy__set(r, k, V_NULL, NULL, 0);
	if (!s)
		return 0;
	if (!cs_legacy__is_string(s))
		return cs_legacy__reject(r, "%s: must be a string or null", name);
	if (cs_legacy__decode(s->p, s->len, NULL, 0, &t, &why) < 0)
		return cs_legacy__reject(r, "%s: holds %s", name, why);
	cs_legacy__set(r, k, V_STRING, s, 0);
	return 0;
}

/* A short string decoded into out (SHORT_TEXT bytes with its NUL); -1 when longer or bad. */
int cs_legacy__short_string(const struct cs_legacy_span *s, char out[SHORT_TEXT])
{
	struct cs_buf buf = CS_BUF_INIT;
	const char *why;
	struct cs_legacy_text t;
	int rc = -1;

	if (s->len < SHORT_TEXT * 2 && cs_legacy__decode(s->p, s->len, &buf, 0, &t, &why) == 0 &&
	    t.bytes < SHORT_TEXT) {
		memcpy(out, buf.data ? buf.data : "", t.bytes);
		out[t.bytes] = '\0';
		rc = 0;
	}
	cs_buf_release(&buf);
	return rc;
}

/* A JSON number; -1 when s is not one (or absurdly long). */
int cs_legacy__number(const struct cs_legacy_span *s, double *value)
{
	char text[SHORT_TEXT];

	if (s->len >= sizeof(text) || (s->p[0] != '-' && (s->p[0] < '0' || s->p[0] > '9')))
		return -1;
	memcpy(text, s->p, s->len);
	text[s->len] = '\0';
	*value = strtod(text, NULL);
	return 0;
}

/* A time: ISO string or integer milliseconds. 0 absent, 1 present, -1 malformed. */
int cs_legacy__read_time(struct cs_legacy_reader *r, int k, long long *ms)
{
	const struct cs_legacy_span *s = cs_legacy__member(r, k);
	char text[SHORT_TEXT];
	double d;

	if (!s)
		return 0;
	if (cs_legacy__is_string(s)) {
		if (cs_legacy__short_string(s, text) == 0 &&
		    cs_timestamp_parse(text, strlen(text), ms) == 0)
			return 1;
	} else if (cs_legacy__number(s, &d) == 0 && d == floor(d) && fabs(d) <= MAX_SAFE_INTEGER) {
		*ms = (long long)d;
		return 1;
	}
	return cs_legacy__reject(r, "%s: must be an ISO-8601 timestamp or integer milliseconds",
				 r->names[k]);
}

/*
 * The row's own time (timestamp, else created_at) and its created_at and
 * updated_at (else the row's time), given by their columns.
 */
int cs_legacy__read_times(struct cs_legacy_reader *r, int k_time, int k_created, int k_updated)
{
	long long timestamp = 0, created = 0, updated = 0;
	int has_time, has_created, has_updated;

	if ((has_time = cs_legacy__read_time(r, k_time, &timestamp)) < 0 ||
	    (has_created = cs_legacy__read_time(r, k_created, &created)) < 0 ||
	    (has_updated = cs_legacy__read_time(r, k_updated, &updated)) < 0)
		return -1;
	if (!has_time && !has_created)
		return cs_legacy__reject(r, "timestamp: missing");
	if (!has_time)
		timestamp = created;
	if (!has_created)
		created = timestamp;
	if (!has_updated)
		updated = timestamp;
	cs_legacy__set(r, k_time, V_INT, NULL, timestamp);
	cs_legacy__set(r, k_created, V_INT, NULL, created);
	cs_legacy__set(r, k_updated, V_INT, NULL, updated);
	return 0;
}

/* A time that may be absent (NULL). */
static int read_optional_time(struct cs_legacy_reader *r, int k)
{
	long long ms = 0;
	int rc = cs_legacy__read_time(r, k, &ms);

	if (rc > 0)
		cs_legacy__set(r, k, V_INT, NULL, ms);
	else if (rc == 0)
		cs_legacy__set(r, k, V_NULL, NULL, 0);
	return rc < 0 ? -1 : 0;
}

/* true, false, or null and absent as false. */
int cs_legacy__read_bool(struct cs_legacy_reader *r, int k)
{
	const struct cs_legacy_span *s = cs_legacy__member(r, k);

	cs_legacy__set(r, k, V_BOOL, NULL, 0);
	if (!s)
		return 0;
	if (s->p[0] != 't' && s->p[0] != 'f')
		return cs_legacy__reject(r, "%s: must be true, false or null", r->names[k]);
	cs_legacy__set(r, k, V_BOOL, NULL, s->p[0] == 't');
	return 0;
}

/* Raw JSON for jsonb (NULL when absent or null), its strings checked. */
int cs_legacy__read_raw(struct cs_legacy_reader *r, int k)
{
	const struct cs_legacy_span *s = cs_legacy__member(r, k);
	const char *why;

	cs_legacy__set(r, k, V_NULL, NULL, 0);
	if (s && cs_legacy__strings_valid(s->p, s->len, &why) < 0)
		return cs_legacy__reject(r, "%s: holds %s", r->names[k], why);
	if (s)
		cs_legacy__set(r, k, V_RAW, s, 0);
	return 0;
}

/* An integer or null. */
static int read_int(struct cs_legacy_reader *r, int k)
{
	const struct cs_legacy_span *s = cs_legacy__member(r, k);
	double d;

	cs_legacy__set(r, k, V_NULL, NULL, 0);
	if (!s)
		return 0;
	if (cs_legacy__number(s, &d) < 0 || d != floor(d) || fabs(d) > MAX_SAFE_INTEGER)
		return cs_legacy__reject(r, "%s: must be null or an integer", r->names[k]);
	cs_legacy__set(r, k, V_INT, NULL, (long long)d);
	return 0;
}

/*
 * A column no table's reader below asks for, by its format alone: what a
 * column added to common/schema.h gets without a line of code here.
 */
static int read_column(struct cs_legacy_reader *r, int k)
{
	switch (r->columns[k].format) {
	case CS_LEGACY_FORMAT_ID:
		return cs_legacy__read_id(r, k, 0);
	case CS_LEGACY_FORMAT_TEXT:
		return cs_legacy__read_text(r, k);
	case CS_LEGACY_FORMAT_TIME:
		return read_optional_time(r, k);
	case CS_LEGACY_FORMAT_RAW:
		return cs_legacy__read_raw(r, k);
	case CS_LEGACY_FORMAT_INT:
		return read_int(r, k);
	case CS_LEGACY_FORMAT_BOOL:
		return cs_legacy__read_bool(r, k);
	}
	return 0;
}

/* Writes a string member (checked before) as a COPY field; \N when absent. */
static void copy_member(struct cs_buf *out, const struct cs_legacy_span *s)
{
	const char *why;
	struct cs_legacy_text t;

	cs_buf_putc(out, '\t');
	if (s)
		cs_legacy__decode(s->p, s->len, out, 1, &t, &why);
	else
		cs_buf_puts(out, "\\N");
}

static void copy_value(struct cs_buf *out, const struct cs_legacy_value *v)
{
	switch (v->how) {
	case V_UNSET:
	case V_NULL:
		cs_legacy__copy_null(out);
		break;
	case V_STRING:
		copy_member(out, v->s);
		break;
	case V_RAW:
		cs_buf_putc(out, '\t');
		cs_legacy__copy_text(out, v->s->p, v->s->len);
		break;
	case V_INT:
		cs_legacy__copy_int(out, v->n);
		break;
	case V_BOOL:
		cs_legacy__copy_bool(out, (int)v->n);
		break;
	case V_EMPTY_ARRAY:
		cs_buf_puts(out, "\t[]");
		break;
	}
}

/* ---- rejected rows ---- */

/* A string member fit to list with a rejected row, as a COPY field; \N when there is none. */
static void copy_listed(struct cs_buf *out, const struct cs_legacy_reader *r, int k)
{
	const struct cs_legacy_span *s = cs_legacy__member(r, k);
	const char *why;
	struct cs_legacy_text t;

	if (cs_legacy__is_string(s) && s->len <= MAX_LISTED_ID &&
	    cs_legacy__decode(s->p, s->len, NULL, 0, &t, &why) == 0)
		copy_member(out, s);
	else
		cs_legacy__copy_null(out);
}

/* ---- a row ---- */

static void reader_init(struct cs_legacy_reader *r, enum cs_legacy_table table)
{
	int k;

	memset(r, 0, sizeof(*r));
	r->columns = cs_legacy_columns(table, &r->count);
	for (k = 0; k < r->count; k++)
		r->names[k] = r->columns[k].name;
	r->keys = r->count;
	if (table == CS_LEGACY_SYNC_STATUS)
		r->names[r->keys++] = "created_at";
}

static int read_row(enum cs_legacy_table table, struct cs_legacy_reader *r, const char *row,
		    size_t len)
{
	int k, rc;

	if (!row)
		return cs_legacy__reject(r, "row: larger than %d bytes", CS_JSONSTREAM_MAX_ROW);
	if (read_members(r, row, len) < 0)
		return -1;
	if (table == CS_LEGACY_CHATS)
		rc = cs_legacy__read_chat(r);
	else if (table == CS_LEGACY_MESSAGES)
		rc = cs_legacy__read_message(r);
	else
		rc = cs_legacy__read_sync_status(r);
	for (k = 0; rc == 0 && k < r->count; k++)
		if (r->value[k].how == V_UNSET)
			rc = read_column(r, k);
	return rc;
}

int cs_legacy_stage_row(enum cs_legacy_table table, long long ord, const char *row, size_t len,
			struct cs_buf *out)
{
	struct cs_legacy_reader r;
	int rc, k;

	reader_init(&r, table);
	rc = read_row(table, &r, row, len);
	cs_buf_printf(out, "%lld", ord);
	if (rc < 0) {
		/* only what identifies the row: its id, or a sync status's user and device */
		cs_legacy__copy_cstring(out, r.reason);
		for (k = 0; k < r.count; k++)
			if (r.columns[k].key)
				copy_listed(out, &r, k);
			else
				cs_legacy__copy_null(out);
	} else {
		cs_legacy__copy_null(out);
		for (k = 0; k < r.count; k++)
			copy_value(out, &r.value[k]);
	}
	cs_buf_putc(out, '\n');
	cs_buf_release(&r.decoded);
	return rc < 0 ? 1 : 0;
}

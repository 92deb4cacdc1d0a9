/*
 * legacy_stage.c - checking a legacy row and turning it into a staging line
 * (cs_legacy_stage_row).
 *
 * A row arrives as the bytes cs_jsonstream_parse cut out, already checked
 * against the JSON grammar; what is left to check is the meaning. Members
 * are found by cs_jsonstream_next_member and strings are decoded straight
 * into COPY text (legacy_text.c). branches and attachments are copied as the
 * raw text of the file, so that jsonb receives the numbers exactly as written.
 */
#include "legacy.h"
#include "legacy_internal.h"
#include "document.h"
#include "id.h"
#include "jsonstream.h"
#include "timestamp.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define REASON_MAX 256
#define MAX_SAFE_INTEGER 9007199254740992.0 /* 2^53: integers a double holds exactly */
#define MAX_LISTED_ID 4096                  /* longest id a reject line carries */
#define SHORT_TEXT 64                       /* times, roles, numbers: longer is wrong */

/* ---- reading one row ---- */

enum key {
	K_ID,
	K_USER_ID,
	K_TITLE,
	K_TIMESTAMP,
	K_PARENT_CHAT_ID,
	K_BRANCH_FROM_MESSAGE_ID,
	K_BRANCHES,
	K_CREATED_AT,
	K_UPDATED_AT,
	K_IS_DELETED,
	K_CHAT_ID,
	K_CONTENT,
	K_ROLE,
	K_POSITION,
	K_ATTACHMENTS,
	K_DEVICE_ID,
	K_LAST_SYNC_TIMESTAMP,
	K_CURSOR,
	KEY_COUNT
};

static const char *const key_names[KEY_COUNT] = {
	"id",
	"user_id",
	"title",
	"timestamp",
	"parent_chat_id",
	"branch_from_message_id",
	"branches",
	"created_at",
	"updated_at",
	"is_deleted",
	"chat_id",
	"content",
	"role",
	"position",
	"attachments",
	"device_id",
	"last_sync_timestamp",
	"cursor",
};

struct span {
	const char *p; /* NULL: the member is absent */
	size_t len;
};

struct reader {
	struct span field[KEY_COUNT];
	char reason[REASON_MAX];
};

static int reject(struct reader *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int reject(struct reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->reason, sizeof(r->reason), fmt, ap);
	va_end(ap);
	return -1;
}

/* A member's name (decoded when written with escapes): which of ours, or -1. */
static int key_of(const struct cs_jsonstream_field *f)
{
	struct cs_buf decoded = CS_BUF_INIT;
	const char *name = f->name, *why;
	size_t len = f->name_len;
	struct text t;
	int k, found = -1;

	/* the name's quotes are just around it */
	if (memchr(name, '\\', len) &&
	    cs_legacy__decode(name - 1, len + 2, &decoded, 0, &t, &why) == 0) {
		name = decoded.data ? decoded.data : "";
		len = t.bytes;
	}
	for (k = 0; k < KEY_COUNT && found < 0; k++)
		if (strlen(key_names[k]) == len && !memcmp(key_names[k], name, len))
			found = k;
	cs_buf_release(&decoded);
	return found;
}

/* Finds our members; the last of a repeated name wins, as in most JSON readers. */
static int read_members(struct reader *r, const char *row, size_t len)
{
	struct cs_jsonstream_field f;
	size_t pos = 0;
	int rc, k;

	memset(r->field, 0, sizeof(r->field));
	while ((rc = cs_jsonstream_next_member(row, len, &pos, &f)) == 1) {
		if ((k = key_of(&f)) >= 0) {
			r->field[k].p = f.value;
			r->field[k].len = f.value_len;
		}
	}
	return rc < 0 ? reject(r, "row: must be a JSON object") : 0;
}

/* A member that is absent or null counts as absent. */
static const struct span *member(const struct reader *r, enum key k)
{
	const struct span *s = &r->field[k];

	return s->p && s->p[0] != 'n' ? s : NULL;
}

static int is_string(const struct span *s)
{
	return s && s->p[0] == '"';
}

/* An id-like string (1-255 bytes, no control characters); *s NULL when absent and optional. */
static int read_id(struct reader *r, enum key k, int required, const struct span **s)
{
	const char *name = key_names[k], *why;
	struct text t;

	*s = member(r, k);
	if (!*s)
		return required ? reject(r, "%s: missing", name) : 0;
	if (!is_string(*s))
		return reject(r, "%s: must be a string", name);
	if (cs_legacy__decode((*s)->p, (*s)->len, NULL, 0, &t, &why) < 0)
		return reject(r, "%s: holds %s", name, why);
	if (t.bytes == 0)
		return reject(r, "%s: empty", name);
	if (t.bytes > CS_ID_MAX)
		return reject(r, "%s: longer than %d bytes", name, CS_ID_MAX);
	if (t.control)
		return reject(r, "%s: contains control characters", name);
	return 0;
}

/* A short string decoded into out (SHORT_TEXT bytes with its NUL); -1 when longer or bad. */
static int short_string(const struct span *s, char out[SHORT_TEXT])
{
	struct cs_buf buf = CS_BUF_INIT;
	const char *why;
	struct text t;
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
static int number(const struct span *s, double *value)
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
static int read_time(struct reader *r, enum key k, long long *ms)
{
	const struct span *s = member(r, k);
	char text[SHORT_TEXT];
	double d;

	if (!s)
		return 0;
	if (is_string(s)) {
		if (short_string(s, text) == 0 && cs_timestamp_parse(text, strlen(text), ms) == 0)
			return 1;
	} else if (number(s, &d) == 0 && d == floor(d) && fabs(d) <= MAX_SAFE_INTEGER) {
		*ms = (long long)d;
		return 1;
	}
	return reject(r, "%s: must be an ISO-8601 timestamp or integer milliseconds", key_names[k]);
}

/* The row's own time (timestamp, else created_at) and its created_at/updated_at. */
static int read_times(struct reader *r, long long *timestamp, long long *created,
		      long long *updated)
{
	int has_time, has_created, has_updated;

	if ((has_time = read_time(r, K_TIMESTAMP, timestamp)) < 0 ||
	    (has_created = read_time(r, K_CREATED_AT, created)) < 0 ||
	    (has_updated = read_time(r, K_UPDATED_AT, updated)) < 0)
		return -1;
	if (!has_time && !has_created)
		return reject(r, "timestamp: missing");
	if (!has_time)
		*timestamp = *created;
	if (!has_created)
		*created = *timestamp;
	if (!has_updated)
		*updated = *timestamp;
	return 0;
}

static int read_bool(struct reader *r, enum key k, int *value)
{
	const struct span *s = member(r, k);

	*value = 0;
	if (!s)
		return 0;
	if (s->p[0] != 't' && s->p[0] != 'f')
		return reject(r, "%s: must be true, false or null", key_names[k]);
	*value = s->p[0] == 't';
	return 0;
}

/* Raw JSON for jsonb (NULL when absent or null), its strings checked. */
static int read_raw(struct reader *r, enum key k, const struct span **s)
{
	const char *why;

	*s = member(r, k);
	if (*s && cs_legacy__strings_valid((*s)->p, (*s)->len, &why) < 0)
		return reject(r, "%s: holds %s", key_names[k], why);
	return 0;
}

/* Writes a string member (checked before) as a COPY field; \N when absent. */
static void copy_member(struct cs_buf *out, const struct span *s)
{
	const char *why;
	struct text t;

	cs_buf_putc(out, '\t');
	if (s)
		cs_legacy__decode(s->p, s->len, out, 1, &t, &why);
	else
		cs_buf_puts(out, "\\N");
}

/* ---- the three tables ---- */

struct chat {
	const struct span *id, *user_id, *title, *parent, *branch_from, *branches;
	long long timestamp, created, updated;
	int deleted;
};

static int read_chat(struct reader *r, struct chat *c)
{
	const char *why;
	struct text t;

	if (read_id(r, K_ID, 1, &c->id) < 0 || read_id(r, K_USER_ID, 1, &c->user_id) < 0)
		return -1;
	c->title = member(r, K_TITLE);
	if (!c->title)
		return reject(r, "title: missing");
	if (!is_string(c->title))
		return reject(r, "title: must be a string");
	if (cs_legacy__decode(c->title->p, c->title->len, NULL, 0, &t, &why) < 0)
		return reject(r, "title: holds %s", why);
	if (!cs_document_title_fits(t.chars))
		return reject(r, "title: must be 1 to %d characters", CS_LEGACY_MAX_TITLE);
	if (read_times(r, &c->timestamp, &c->created, &c->updated) < 0 ||
	    read_id(r, K_PARENT_CHAT_ID, 0, &c->parent) < 0 ||
	    read_id(r, K_BRANCH_FROM_MESSAGE_ID, 0, &c->branch_from) < 0 ||
	    read_bool(r, K_IS_DELETED, &c->deleted) < 0 ||
	    read_raw(r, K_BRANCHES, &c->branches) < 0)
		return -1;
	if (c->branches && c->branches->p[0] != '[')
		return reject(r, "branches: must be an array or null");
	return 0;
}

static void write_chat(const struct chat *c, struct cs_buf *out)
{
	copy_member(out, c->id);
	copy_member(out, c->user_id);
	copy_member(out, c->title);
	cs_legacy__copy_int(out, c->timestamp);
	copy_member(out, c->parent);
	copy_member(out, c->branch_from);
	cs_buf_putc(out, '\t');
	if (c->branches)
		cs_legacy__copy_text(out, c->branches->p, c->branches->len);
	else
		cs_buf_puts(out, "[]");
	cs_legacy__copy_bool(out, c->deleted);
	cs_legacy__copy_int(out, c->created);
	cs_legacy__copy_int(out, c->updated);
}

struct message {
	const struct span *id, *chat_id, *user_id, *content, *attachments;
	char role[SHORT_TEXT];
	long long timestamp, created, updated, position;
	int has_position, deleted;
};

static int read_position(struct reader *r, struct message *m)
{
	const struct span *s = member(r, K_POSITION);
	double d;

	m->has_position = 0;
	if (!s)
		return 0;
	if (number(s, &d) < 0 || d != floor(d) || d < 0 || d > CS_DOCUMENT_POSITION_MAX)
		return reject(r, "position: must be null or an integer from 0 to %d",
			      CS_DOCUMENT_POSITION_MAX);
	m->position = (long long)d;
	m->has_position = 1;
	return 0;
}

static int read_content(struct reader *r, struct message *m)
{
	const char *why;
	struct text t;

	m->content = member(r, K_CONTENT);
	if (!m->content)
		return reject(r, "content: missing");
	if (!is_string(m->content))
		return reject(r, "content: must be a string");
	if (cs_legacy__decode(m->content->p, m->content->len, NULL, 0, &t, &why) < 0)
		return reject(r, "content: holds %s", why);
	if (t.bytes > CS_LEGACY_MAX_CONTENT)
		return reject(r, "content: longer than %d bytes", CS_LEGACY_MAX_CONTENT);
	return 0;
}

static int read_role(struct reader *r, struct message *m)
{
	const struct span *role = member(r, K_ROLE);

	if (!role)
		return reject(r, "role: missing");
	if (!is_string(role))
		return reject(r, "role: must be a string");
	/* the reason goes into a COPY line: it may quote the role only once decoded (UTF-8) */
	if (short_string(role, m->role) < 0)
		return reject(r, "role: must be \"user\" or \"assistant\"");
	if (!cs_document_role_valid(m->role))
		return reject(r, "role: must be \"user\" or \"assistant\", not \"%s\"", m->role);
	return 0;
}

static int read_message(struct reader *r, struct message *m)
{
	if (read_id(r, K_ID, 1, &m->id) < 0 || read_id(r, K_CHAT_ID, 1, &m->chat_id) < 0 ||
	    read_id(r, K_USER_ID, 1, &m->user_id) < 0 || read_content(r, m) < 0 ||
	    read_role(r, m) < 0 || read_times(r, &m->timestamp, &m->created, &m->updated) < 0 ||
	    read_position(r, m) < 0 || read_bool(r, K_IS_DELETED, &m->deleted) < 0 ||
	    read_raw(r, K_ATTACHMENTS, &m->attachments) < 0)
		return -1;
	if (m->attachments && m->attachments->len > CS_LEGACY_MAX_ATTACHMENTS)
		return reject(r, "attachments: larger than %d bytes", CS_LEGACY_MAX_ATTACHMENTS);
	return 0;
}

static void write_message(const struct message *m, struct cs_buf *out)
{
	copy_member(out, m->id);
	copy_member(out, m->chat_id);
	copy_member(out, m->user_id);
	copy_member(out, m->content);
	cs_legacy__copy_cstring(out, m->role);
	cs_legacy__copy_int(out, m->timestamp);
	if (m->has_position)
		cs_legacy__copy_int(out, m->position);
	else
		cs_legacy__copy_null(out);
	cs_buf_putc(out, '\t');
	if (m->attachments)
		cs_legacy__copy_text(out, m->attachments->p, m->attachments->len);
	else
		cs_buf_puts(out, "\\N");
	cs_legacy__copy_bool(out, m->deleted);
	cs_legacy__copy_int(out, m->created);
	cs_legacy__copy_int(out, m->updated);
}

struct sync_status {
	const struct span *user_id, *device_id, *cursor;
	long long last_sync, updated;
	int has_last_sync;
};

static int read_sync_status(struct reader *r, struct sync_status *s)
{
	long long created = 0;
	int has_updated, has_created;
	const char *why;
	struct text t;

	if (read_id(r, K_USER_ID, 1, &s->user_id) < 0 ||
	    read_id(r, K_DEVICE_ID, 1, &s->device_id) < 0)
		return -1;
	if ((s->has_last_sync = read_time(r, K_LAST_SYNC_TIMESTAMP, &s->last_sync)) < 0 ||
	    (has_updated = read_time(r, K_UPDATED_AT, &s->updated)) < 0 ||
	    (has_created = read_time(r, K_CREATED_AT, &created)) < 0)
		return -1;
	if (!has_updated && !s->has_last_sync && !has_created)
		return reject(r, "updated_at: missing");
	if (!has_updated)
		s->updated = s->has_last_sync ? s->last_sync : created;
	s->cursor = member(r, K_CURSOR);
	if (s->cursor && !is_string(s->cursor))
		return reject(r, "cursor: must be a string or null");
	if (s->cursor && cs_legacy__decode(s->cursor->p, s->cursor->len, NULL, 0, &t, &why) < 0)
		return reject(r, "cursor: holds %s", why);
	return 0;
}

static void write_sync_status(const struct sync_status *s, struct cs_buf *out)
{
	copy_member(out, s->user_id);
	copy_member(out, s->device_id);
	if (s->has_last_sync)
		cs_legacy__copy_int(out, s->last_sync);
	else
		cs_legacy__copy_null(out);
	copy_member(out, s->cursor);
	cs_legacy__copy_int(out, s->updated);
}

/* ---- rejected rows ---- */

/* A string member fit to list with a rejected row, as a COPY field; \N when there is none. */
static void copy_listed(struct cs_buf *out, const struct reader *r, enum key k)
{
	const struct span *s = member(r, k);
	const char *why;
	struct text t;

	if (is_string(s) && s->len <= MAX_LISTED_ID &&
	    cs_legacy__decode(s->p, s->len, NULL, 0, &t, &why) == 0)
		copy_member(out, s);
	else
		cs_legacy__copy_null(out);
}

static void write_reject(enum cs_legacy_table table, const struct reader *r, struct cs_buf *out)
{
	static const int columns[CS_LEGACY_TABLES] = CS_LEGACY_COLUMN_COUNTS;
	int i, listed = 1;

	/* what identifies the row: its id, or a sync status's user and device */
	if (table == CS_LEGACY_SYNC_STATUS) {
		copy_listed(out, r, K_USER_ID);
		copy_listed(out, r, K_DEVICE_ID);
		listed = 2;
	} else {
		copy_listed(out, r, K_ID);
	}
	for (i = listed; i < columns[table]; i++)
		cs_legacy__copy_null(out);
}

static int read_row(enum cs_legacy_table table, struct reader *r, const char *row, size_t len,
		    struct chat *chat, struct message *message, struct sync_status *status)
{
	if (!row)
		return reject(r, "row: larger than %d bytes", CS_JSONSTREAM_MAX_ROW);
	if (read_members(r, row, len) < 0)
		return -1;
	if (table == CS_LEGACY_CHATS)
		return read_chat(r, chat);
	if (table == CS_LEGACY_MESSAGES)
		return read_message(r, message);
	return read_sync_status(r, status);
}

int cs_legacy_stage_row(enum cs_legacy_table table, long long ord, const char *row, size_t len,
			struct cs_buf *out)
{
	struct reader r;
	struct chat chat;
	struct message message;
	struct sync_status status;
	int rc;

	memset(&r, 0, sizeof(r));
	rc = read_row(table, &r, row, len, &chat, &message, &status);
	cs_buf_printf(out, "%lld", ord);
	if (rc < 0) {
		cs_legacy__copy_cstring(out, r.reason);
		write_reject(table, &r, out);
	} else {
		cs_legacy__copy_null(out);
		if (table == CS_LEGACY_CHATS)
			write_chat(&chat, out);
		else if (table == CS_LEGACY_MESSAGES)
			write_message(&message, out);
		else
			write_sync_status(&status, out);
	}
	cs_buf_putc(out, '\n');
	return rc < 0 ? 1 : 0;
}

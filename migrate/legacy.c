/*
 * legacy.c - checking legacy rows into staging lines, and writing store rows
 * back as legacy rows.
 *
 * A row arrives as the bytes cs_jsonstream_parse cut out, already checked
 * against the JSON grammar; what is left to check is the meaning. Members
 * are found by cs_jsonstream_next_member and strings are decoded here
 * straight into COPY text (a general JSON parser spent most of an import's
 * time building trees that were thrown away at once). Decoding still refuses
 * what Postgres text cannot hold: invalid UTF-8, \u0000, lone surrogates.
 * branches and attachments are copied as the raw text of the file, so that
 * jsonb receives the numbers exactly as written.
 */
#include "legacy.h"
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

static const char *const members[] = { "chats", "messages", "syncStatus", NULL };

const char *cs_legacy_member(enum cs_legacy_table table)
{
	return members[table];
}

const char *const *cs_legacy_members(void)
{
	return members;
}

int cs_legacy_table_of(const char *member)
{
	int i;

	for (i = 0; i < CS_LEGACY_TABLES; i++)
		if (!strcmp(members[i], member))
			return i;
	return -1;
}

/* ---- COPY text ---- */

static void copy_byte(struct cs_buf *out, unsigned char c)
{
	switch (c) {
	case '\\': cs_buf_append(out, "\\\\", 2); break;
	case '\t': cs_buf_append(out, "\\t", 2); break;
	case '\n': cs_buf_append(out, "\\n", 2); break;
	case '\r': cs_buf_append(out, "\\r", 2); break;
	default: cs_buf_putc(out, (char)c);
	}
}

static void cs_legacy__copy_text(struct cs_buf *out, const char *s, size_t len)
{
	size_t i, start = 0;

	cs_buf_grow(out, len + 1);
	for (i = 0; i < len; i++) {
		char c = s[i];

		if (c != '\\' && c != '\t' && c != '\n' && c != '\r')
			continue;
		cs_buf_append(out, s + start, i - start);
		copy_byte(out, (unsigned char)c);
		start = i + 1;
	}
	cs_buf_append(out, s + start, len - start);
}

static void cs_legacy__copy_null(struct cs_buf *out)
{
	cs_buf_puts(out, "\t\\N");
}

static void cs_legacy__copy_cstring(struct cs_buf *out, const char *s)
{
	cs_buf_putc(out, '\t');
	cs_legacy__copy_text(out, s, strlen(s));
}

static void cs_legacy__copy_int(struct cs_buf *out, long long v)
{
	cs_buf_printf(out, "\t%lld", v);
}

static void cs_legacy__copy_bool(struct cs_buf *out, int v)
{
	cs_buf_puts(out, v ? "\tt" : "\tf");
}

/* ---- JSON strings ---- */

struct text {
	size_t bytes;  /* of the decoded string */
	size_t chars;  /* code points */
	int control;   /* holds C0, DEL or C1 control characters */
};

/* Length of the valid UTF-8 sequence at p (2-4), or 0. Sets *control for C1. */
static size_t utf8_sequence(const unsigned char *p, const unsigned char *end, int *control)
{
	unsigned cp;
	size_t n, i;

	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2, cp = p[0] & 0x1Fu;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3, cp = p[0] & 0x0Fu;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4, cp = p[0] & 0x07u;
	else
		return 0;
	if ((size_t)(end - p) < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xC0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3Fu);
	}
	if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
	    (cp >= 0xD800 && cp <= 0xDFFF))
		return 0;
	if (cp >= 0x80 && cp <= 0x9F)
		*control = 1;
	return n;
}

static int hex4(const unsigned char *p, const unsigned char *end, unsigned *out)
{
	unsigned v = 0;
	int i;

	if (end - p < 4)
		return -1;
	for (i = 0; i < 4; i++) {
		unsigned char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= c - '0';
		else if ((c | 0x20) >= 'a' && (c | 0x20) <= 'f')
			v |= (c | 0x20) - 'a' + 10;
		else
			return -1;
	}
	*out = v;
	return 0;
}

/* Appends code point cp as UTF-8 (COPY-escaped when copy is set). */
static void put_code_point(unsigned cp, struct cs_buf *out, int copy, struct text *t)
{
	unsigned char buf[4];
	size_t n;

	if (cp < 0x20 || cp == 0x7F || (cp >= 0x80 && cp <= 0x9F))
		t->control = 1;
	if (cp < 0x80) {
		buf[0] = (unsigned char)cp;
		n = 1;
	} else if (cp < 0x800) {
		buf[0] = (unsigned char)(0xC0 | (cp >> 6));
		buf[1] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 2;
	} else if (cp < 0x10000) {
		buf[0] = (unsigned char)(0xE0 | (cp >> 12));
		buf[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		buf[2] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 3;
	} else {
		buf[0] = (unsigned char)(0xF0 | (cp >> 18));
		buf[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
		buf[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		buf[3] = (unsigned char)(0x80 | (cp & 0x3F));
		n = 4;
	}
	t->bytes += n;
	t->chars++;
	if (!out)
		return;
	if (copy && n == 1)
		copy_byte(out, buf[0]);
	else
		cs_buf_append(out, buf, n);
}

/* One escape at *pp (the backslash); advances past it. */
static int put_escape(const unsigned char **pp, const unsigned char *end, struct cs_buf *out,
		      int copy, struct text *t, const char **why)
{
	static const char simple_in[] = "\"\\/bfnrt", simple_out[] = "\"\\/\b\f\n\r\t";
	const unsigned char *p = *pp + 1;
	const char *simple;
	unsigned cp, low;

	if (p >= end)
		return -1;
	if (*p != 'u') {
		simple = strchr(simple_in, *p);
		if (!simple || !*p)
			return -1;
		put_code_point((unsigned char)simple_out[simple - simple_in], out, copy, t);
		*pp = p + 1;
		return 0;
	}
	if (hex4(p + 1, end, &cp) < 0)
		return -1;
	p += 5;
	if (cp >= 0xD800 && cp <= 0xDBFF) {
		if (end - p < 6 || p[0] != '\\' || p[1] != 'u' || hex4(p + 2, end, &low) < 0 ||
		    low < 0xDC00 || low > 0xDFFF) {
			*why = "a lone UTF-16 surrogate";
			return -1;
		}
		cp = 0x10000 + ((cp - 0xD800) << 10) + (low - 0xDC00);
		p += 6;
	} else if (cp >= 0xDC00 && cp <= 0xDFFF) {
		*why = "a lone UTF-16 surrogate";
		return -1;
	} else if (cp == 0) {
		*why = "\\u0000, which the store cannot keep";
		return -1;
	}
	put_code_point(cp, out, copy, t);
	*pp = p;
	return 0;
}

/*
 * Decodes the JSON string literal raw (quotes included) into out (NULL: only
 * check), as COPY text when copy is set; *t describes the decoded string.
 */
static int cs_legacy__decode(const char *raw, size_t len, struct cs_buf *out, int copy,
			     struct text *t, const char **why)
{
	const unsigned char *p = (const unsigned char *)raw + 1;
	const unsigned char *end = (const unsigned char *)raw + len - 1;

	memset(t, 0, sizeof(*t));
	*why = "invalid UTF-8";
	if (len < 2 || raw[0] != '"' || raw[len - 1] != '"')
		return -1;
	if (out)
		cs_buf_grow(out, len);
	while (p < end) {
		const unsigned char *run = p;
		size_t n;

		while (p < end && *p >= 0x20 && *p < 0x7F && *p != '\\')
			p++;
		t->bytes += (size_t)(p - run);
		t->chars += (size_t)(p - run);
		if (out)
			cs_buf_append(out, run, (size_t)(p - run));
		if (p == end)
			break;
		if (*p == '\\') {
			if (put_escape(&p, end, out, copy, t, why) < 0)
				return -1;
			continue;
		}
		if (*p < 0x80) { /* DEL; raw C0 cannot pass the grammar check, but be sure */
			if (*p < 0x20)
				return -1;
			put_code_point(*p++, out, copy, t);
			continue;
		}
		n = utf8_sequence(p, end, &t->control);
		if (n == 0)
			return -1;
		t->bytes += n;
		t->chars++;
		if (out)
			cs_buf_append(out, p, n);
		p += n;
	}
	return 0;
}

/* Every string inside the raw JSON value s decodes (for jsonb: no \u0000, valid UTF-8). */
static int cs_legacy__strings_valid(const char *s, size_t len, const char **why)
{
	size_t i = 0;
	struct text t;

	while (i < len) {
		size_t j;

		if (s[i] != '"') {
			i++;
			continue;
		}
		for (j = i + 1; j < len && s[j] != '"'; j += s[j] == '\\' ? 2 : 1)
			;
		if (j >= len || cs_legacy__decode(s + i, j - i + 1, NULL, 0, &t, why) < 0)
			return -1;
		i = j + 1;
	}
	return 0;
}

/* ---- reading one row ---- */

enum key {
	K_ID, K_USER_ID, K_TITLE, K_TIMESTAMP, K_PARENT_CHAT_ID, K_BRANCH_FROM_MESSAGE_ID,
	K_BRANCHES, K_CREATED_AT, K_UPDATED_AT, K_IS_DELETED, K_CHAT_ID, K_CONTENT, K_ROLE,
	K_POSITION, K_ATTACHMENTS, K_DEVICE_ID, K_LAST_SYNC_TIMESTAMP, K_CURSOR, KEY_COUNT
};

static const char *const key_names[KEY_COUNT] = {
	"id", "user_id", "title", "timestamp", "parent_chat_id", "branch_from_message_id",
	"branches", "created_at", "updated_at", "is_deleted", "chat_id", "content", "role",
	"position", "attachments", "device_id", "last_sync_timestamp", "cursor",
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
	if (memchr(name, '\\', len) && cs_legacy__decode(name - 1, len + 2, &decoded, 0, &t, &why) == 0) {
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
	if (t.chars == 0 || t.chars > CS_LEGACY_MAX_TITLE)
		return reject(r, "title: must be 1 to %d characters", CS_LEGACY_MAX_TITLE);
	if (read_times(r, &c->timestamp, &c->created, &c->updated) < 0 ||
	    read_id(r, K_PARENT_CHAT_ID, 0, &c->parent) < 0 ||
	    read_id(r, K_BRANCH_FROM_MESSAGE_ID, 0, &c->branch_from) < 0 ||
	    read_bool(r, K_IS_DELETED, &c->deleted) < 0 || read_raw(r, K_BRANCHES, &c->branches) < 0)
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
	if (number(s, &d) < 0 || d != floor(d) || d < 0 || d > 2147483647.0)
		return reject(r, "position: must be null or an integer from 0 to 2147483647");
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
	if (strcmp(m->role, "user") != 0 && strcmp(m->role, "assistant") != 0)
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

	if (read_id(r, K_USER_ID, 1, &s->user_id) < 0 || read_id(r, K_DEVICE_ID, 1, &s->device_id) < 0)
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
	static const int columns[CS_LEGACY_TABLES] = { 10, 11, 5 };
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

/* ---- store rows back to legacy rows ---- */

/* "key": with the comma that separates it from the member before. */
static void json_key(struct cs_buf *out, const char *key)
{
	if (out->len > 0 && out->data[out->len - 1] != '{')
		cs_buf_putc(out, ',');
	cs_buf_printf(out, "\"%s\":", key);
}

static void json_text(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	json_key(out, key);
	if (PQgetisnull(res, row, col))
		cs_buf_puts(out, "null");
	else
		cs_buf_json_string(out, PQgetvalue(res, row, col),
				   (size_t)PQgetlength(res, row, col));
}

/* A column as it is: a number or JSON text (null when NULL). */
static void json_raw(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	json_key(out, key);
	if (PQgetisnull(res, row, col))
		cs_buf_puts(out, "null");
	else
		cs_buf_append(out, PQgetvalue(res, row, col), (size_t)PQgetlength(res, row, col));
}

static void json_time(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	char iso[CS_TIMESTAMP_MAX];

	json_key(out, key);
	if (PQgetisnull(res, row, col)) {
		cs_buf_puts(out, "null");
		return;
	}
	cs_timestamp_format(strtoll(PQgetvalue(res, row, col), NULL, 10), iso);
	cs_buf_printf(out, "\"%s\"", iso);
}

static void json_bool(struct cs_buf *out, const char *key, const PGresult *res, int row, int col)
{
	json_key(out, key);
	cs_buf_puts(out, PQgetvalue(res, row, col)[0] == 't' ? "true" : "false");
}

/* Columns of CS_LEGACY_CHAT_SELECT. */
static void write_legacy_chat(const PGresult *res, int row, struct cs_buf *out)
{
	json_text(out, "id", res, row, 0);
	json_text(out, "user_id", res, row, 1);
	json_text(out, "title", res, row, 2);
	json_time(out, "timestamp", res, row, 3);
	json_text(out, "parent_chat_id", res, row, 4);
	json_text(out, "branch_from_message_id", res, row, 5);
	json_raw(out, "branches", res, row, 6);
	json_time(out, "created_at", res, row, 8);
	json_time(out, "updated_at", res, row, 9);
	json_bool(out, "is_deleted", res, row, 7);
}

/* Columns of CS_LEGACY_MESSAGE_SELECT. */
static void write_legacy_message(const PGresult *res, int row, struct cs_buf *out)
{
	json_text(out, "id", res, row, 0);
	json_text(out, "chat_id", res, row, 1);
	json_text(out, "user_id", res, row, 2);
	json_text(out, "content", res, row, 3);
	json_text(out, "role", res, row, 4);
	json_time(out, "timestamp", res, row, 5);
	json_raw(out, "position", res, row, 6);
	json_raw(out, "attachments", res, row, 7);
	json_time(out, "created_at", res, row, 9);
	json_time(out, "updated_at", res, row, 10);
	json_bool(out, "is_deleted", res, row, 8);
}

/* Columns of CS_LEGACY_SYNC_STATUS_SELECT. */
static void write_legacy_sync_status(const PGresult *res, int row, struct cs_buf *out)
{
	json_text(out, "user_id", res, row, 0);
	json_text(out, "device_id", res, row, 1);
	json_time(out, "last_sync_timestamp", res, row, 2);
	json_text(out, "cursor", res, row, 3);
	json_time(out, "updated_at", res, row, 4);
}

void cs_legacy_write_row(enum cs_legacy_table table, const PGresult *res, int row,
			 struct cs_buf *out)
{
	cs_buf_putc(out, '{');
	if (table == CS_LEGACY_CHATS)
		write_legacy_chat(res, row, out);
	else if (table == CS_LEGACY_MESSAGES)
		write_legacy_message(res, row, out);
	else
		write_legacy_sync_status(res, row, out);
	cs_buf_putc(out, '}');
}

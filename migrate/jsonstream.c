/*
 * jsonstream.c - a byte-at-a-time JSON checker for one top-level object that
 * cuts out the elements of chosen array members.
 *
 * The checker is a state machine over the bytes of each chunk, with the
 * nesting kept in a stack of '{' / '['. An element being cut out is kept as
 * a start position in the current chunk; only an element that crosses a
 * chunk boundary is copied, into one buffer reused for every element.
 */
#include "jsonstream.h"
#include "buf.h"
#include "hex.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum state {
	ST_VALUE,        /* a value must start */
	ST_ARRAY_FIRST,  /* after '[': a value or ']' */
	ST_OBJECT_FIRST, /* after '{': a member name or '}' */
	ST_KEY,          /* after ',' in an object: a member name */
	ST_COLON,
	ST_AFTER, /* after a value in a container: ',' or the closing bracket */
	ST_STRING,
	ST_ESCAPE,
	ST_UNICODE,
	ST_NUMBER,
	ST_LITERAL,
	ST_DONE, /* after the top-level object: whitespace only */
};

/* Where a number is in -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
enum number_state { N_MINUS, N_ZERO, N_INT, N_DOT, N_FRAC, N_EXP, N_EXP_SIGN, N_EXP_DIGITS };

#define KEY_MAX 64

struct parser {
	cs_jsonstream_read_fn read;
	void *ctx;
	const char *const *keys;
	cs_jsonstream_row_fn on_row;
	void *arg;
	struct cs_jsonstream_error *err;

	const char *chunk;
	size_t chunk_len;
	long long chunk_offset; /* input offset of chunk[0] */

	enum state state;
	enum number_state number;
	const char *literal;
	int literal_pos;
	int hex_left;
	int string_is_key;
	int depth;
	unsigned char stack[CS_JSONSTREAM_MAX_DEPTH];

	/* the current member of the top-level object */
	char key[KEY_MAX + 1];
	size_t key_len;
	const char *member; /* the entry of keys it matched, or NULL */
	int collecting;     /* inside that member's array */

	/* the element being cut out */
	int in_element;
	int spilled; /* part of it is in row already */
	int oversize;
	size_t element_start;
	size_t element_size;
	long long element_index;
	struct cs_buf row;
};

static int fail(struct parser *p, size_t pos, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(struct parser *p, size_t pos, const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	p->err->offset = p->chunk_offset + (long long)pos;
	if (p->collecting)
		snprintf(p->err->message, sizeof(p->err->message), "%s at byte %lld (in %s[%lld])",
			 what, p->err->offset, p->member, p->element_index);
	else
		snprintf(p->err->message, sizeof(p->err->message), "%s at byte %lld", what,
			 p->err->offset);
	return -1;
}

static const char *describe(char c)
{
	switch (c) {
	case '[':
		return "an array";
	case '"':
		return "a string";
	case 't':
	case 'f':
		return "a boolean";
	case 'n':
		return "null";
	default:
		return c == '-' || (c >= '0' && c <= '9') ? "a number" : NULL;
	}
}

static int unexpected(struct parser *p, size_t pos)
{
	unsigned char c = (unsigned char)p->chunk[pos];

	if (c >= 0x20 && c < 0x7F)
		return fail(p, pos, "unexpected '%c'", c);
	return fail(p, pos, "unexpected byte 0x%02X", c);
}

static int is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

/* ---- elements ---- */

static void element_spill(struct parser *p, size_t end)
{
	size_t n = end - p->element_start;

	p->element_size += n;
	if (!p->oversize && p->element_size > CS_JSONSTREAM_MAX_ROW) {
		p->oversize = 1;
		cs_buf_release(&p->row);
	}
	if (!p->oversize)
		cs_buf_append(&p->row, p->chunk + p->element_start, n);
	p->spilled = 1;
	p->element_start = 0;
}

static int element_deliver(struct parser *p, size_t end)
{
	const char *row = p->chunk + p->element_start;
	size_t len = end - p->element_start;
	int rc;

	if (p->spilled) {
		element_spill(p, end);
		row = p->oversize ? NULL : p->row.data;
		len = p->element_size;
	}
	rc = p->on_row(p->arg, p->member, row, len);
	p->in_element = 0;
	p->element_index++;
	cs_buf_reset(&p->row);
	return rc;
}

/* ---- values ---- */

/* A value starts at pos with byte c, at the current depth. */
static int value_begin(struct parser *p, size_t pos, char c)
{
	if (p->depth == 0 && c != '{') {
		const char *what = describe(c);

		if (what)
			return fail(p, pos, "expected a JSON object at the top level, found %s",
				    what);
		if (c >= 0x20 && c < 0x7F)
			return fail(p, pos, "not a JSON document: unexpected '%c'", c);
		return fail(p, pos, "not a JSON document: unexpected byte 0x%02X",
			    (unsigned char)c);
	}
	if (p->depth == 1 && p->member) {
		if (c == 'n') {
			p->member = NULL; /* null: no rows */
		} else if (c != '[') {
			const char *what = describe(c);

			return fail(p, pos, "%s: expected an array, found %s", p->member,
				    what ? what : "an object");
		}
	}
	if (p->depth == 2 && p->collecting) {
		p->in_element = 1;
		p->spilled = 0;
		p->oversize = 0;
		p->element_start = pos;
		p->element_size = 0;
	}
	return 0;
}

/* A value ended just before end; p->depth is already the depth around it. */
static int value_end(struct parser *p, size_t end)
{
	p->state = p->depth == 0 ? ST_DONE : ST_AFTER;
	if (p->depth == 2 && p->in_element)
		return element_deliver(p, end) < 0 ? -2 : 0;
	if (p->depth == 1) {
		p->collecting = 0;
		p->member = NULL;
	}
	return 0;
}

static int push(struct parser *p, size_t pos, unsigned char bracket)
{
	if (p->depth == CS_JSONSTREAM_MAX_DEPTH)
		return fail(p, pos, "nesting deeper than %d levels", CS_JSONSTREAM_MAX_DEPTH);
	p->stack[p->depth++] = bracket;
	if (bracket == '[' && p->depth == 2 && p->member) {
		p->collecting = 1;
		p->element_index = 0;
	}
	return 0;
}

static int begin_key(struct parser *p)
{
	p->string_is_key = 1;
	p->key_len = 0;
	p->state = ST_STRING;
	return 0;
}

/* The member name just read (at depth 1): which of keys it is. */
static void end_key(struct parser *p)
{
	size_t i;

	p->member = NULL;
	if (p->key_len > KEY_MAX)
		return;
	p->key[p->key_len] = '\0';
	for (i = 0; p->keys && p->keys[i]; i++) {
		if (!strcmp(p->keys[i], p->key)) {
			p->member = p->keys[i];
			return;
		}
	}
}

static void key_append(struct parser *p, const char *s, size_t n)
{
	if (p->depth != 1 || !p->string_is_key)
		return;
	if (p->key_len + n <= KEY_MAX)
		memcpy(p->key + p->key_len, s, n);
	p->key_len += n;
}

/* Byte c at pos starts a value (state VALUE or ARRAY_FIRST). */
static int start_value(struct parser *p, size_t pos, char c)
{
	if (value_begin(p, pos, c) < 0)
		return -1;
	switch (c) {
	case '{':
		p->state = ST_OBJECT_FIRST;
		return push(p, pos, '{');
	case '[':
		p->state = ST_ARRAY_FIRST;
		return push(p, pos, '[');
	case '"':
		p->string_is_key = 0;
		p->state = ST_STRING;
		return 0;
	case 't':
	case 'f':
	case 'n':
		p->literal = c == 't' ? "true" : c == 'f' ? "false" : "null";
		p->literal_pos = 1;
		p->state = ST_LITERAL;
		return 0;
	case '-':
		p->number = N_MINUS;
		p->state = ST_NUMBER;
		return 0;
	default:
		if (c >= '0' && c <= '9') {
			p->number = c == '0' ? N_ZERO : N_INT;
			p->state = ST_NUMBER;
			return 0;
		}
		return unexpected(p, pos);
	}
}

static int close_container(struct parser *p, size_t pos, char c)
{
	unsigned char open = p->depth > 0 ? p->stack[p->depth - 1] : 0;

	if ((c == '}' && open != '{') || (c == ']' && open != '['))
		return unexpected(p, pos);
	p->depth--;
	return value_end(p, pos + 1);
}

/* 1: the number goes on with c; 0: c ends it; -1: c cannot follow. */
static int number_step(struct parser *p, char c)
{
	int digit = c >= '0' && c <= '9';
	int exp = c == 'e' || c == 'E';

	switch (p->number) {
	case N_MINUS:
		if (!digit)
			return -1;
		p->number = c == '0' ? N_ZERO : N_INT;
		return 1;
	case N_ZERO:
	case N_INT:
		if (digit && p->number == N_INT)
			return 1;
		if (digit)
			return -1; /* no leading zeros */
		if (c == '.')
			p->number = N_DOT;
		else if (exp)
			p->number = N_EXP;
		else
			return 0;
		return 1;
	case N_DOT:
		if (!digit)
			return -1;
		p->number = N_FRAC;
		return 1;
	case N_FRAC:
		if (digit)
			return 1;
		if (!exp)
			return 0;
		p->number = N_EXP;
		return 1;
	case N_EXP:
		if (c == '+' || c == '-') {
			p->number = N_EXP_SIGN;
			return 1;
		}
		/* fall through */
	case N_EXP_SIGN:
		if (!digit)
			return -1;
		p->number = N_EXP_DIGITS;
		return 1;
	case N_EXP_DIGITS:
		return digit ? 1 : 0;
	}
	return -1;
}

/* Runs the string state from *i; stops after the closing quote or at the chunk's end. */
static int string_bytes(struct parser *p, size_t *i)
{
	const char *s = p->chunk;
	size_t n = p->chunk_len, start = *i, j = *i;

	while (j < n) {
		unsigned char c = (unsigned char)s[j];

		if (c == '"' || c == '\\' || c < 0x20)
			break;
		j++;
	}
	key_append(p, s + start, j - start);
	*i = j;
	if (j == n)
		return 0;
	if ((unsigned char)s[j] < 0x20)
		return fail(p, j, "control character in a string");
	if (s[j] == '\\') {
		key_append(p, s + j, 1);
		p->state = ST_ESCAPE;
		*i = j + 1;
		return 0;
	}
	*i = j + 1;
	if (p->string_is_key) {
		if (p->depth == 1)
			end_key(p);
		p->state = ST_COLON;
		return 0;
	}
	return value_end(p, j + 1);
}

/* One step from byte i; advances *i past what it consumed. */
static int step(struct parser *p, size_t *i)
{
	size_t pos = *i;
	char c = p->chunk[pos];
	int rc;

	if (p->state == ST_STRING)
		return string_bytes(p, i);
	if (is_space(c) && p->state != ST_NUMBER && p->state != ST_LITERAL &&
	    p->state != ST_ESCAPE && p->state != ST_UNICODE) {
		*i = pos + 1;
		return 0;
	}
	*i = pos + 1;
	switch (p->state) {
	case ST_ARRAY_FIRST:
		if (c == ']')
			return close_container(p, pos, c);
		/* fall through */
	case ST_VALUE:
		return start_value(p, pos, c);
	case ST_OBJECT_FIRST:
		if (c == '}')
			return close_container(p, pos, c);
		/* fall through */
	case ST_KEY:
		if (c != '"')
			return fail(p, pos, "expected a member name");
		return begin_key(p);
	case ST_COLON:
		if (c != ':')
			return fail(p, pos, "expected ':'");
		p->state = ST_VALUE;
		return 0;
	case ST_AFTER:
		if (c == ',') {
			p->state = p->stack[p->depth - 1] == '{' ? ST_KEY : ST_VALUE;
			return 0;
		}
		if (c == '}' || c == ']')
			return close_container(p, pos, c);
		return unexpected(p, pos);
	case ST_ESCAPE:
		key_append(p, &c, 1);
		if (c == 'u') {
			p->hex_left = 4;
			p->state = ST_UNICODE;
			return 0;
		}
		if (!strchr("\"\\/bfnrt", c) || c == '\0')
			return fail(p, pos, "invalid escape in a string");
		p->state = ST_STRING;
		return 0;
	case ST_UNICODE:
		key_append(p, &c, 1);
		if (cs_hex_digit(c) < 0)
			return fail(p, pos, "invalid \\u escape in a string");
		if (--p->hex_left == 0)
			p->state = ST_STRING;
		return 0;
	case ST_NUMBER:
		rc = number_step(p, c);
		if (rc < 0)
			return fail(p, pos, "malformed number");
		if (rc == 0) {
			*i = pos; /* c belongs to what follows the number */
			return value_end(p, pos);
		}
		return 0;
	case ST_LITERAL:
		if (c != p->literal[p->literal_pos])
			return unexpected(p, pos);
		if (p->literal[++p->literal_pos] == '\0')
			return value_end(p, pos + 1);
		return 0;
	case ST_DONE:
		return fail(p, pos, "unexpected data after the top-level object");
	case ST_STRING:
		break;
	}
	return unexpected(p, pos);
}

static int run_chunk(struct parser *p)
{
	size_t i = 0;

	while (i < p->chunk_len) {
		int rc = step(p, &i);

		if (rc < 0)
			return rc;
	}
	if (p->in_element)
		element_spill(p, p->chunk_len);
	return 0;
}

static int finish(struct parser *p, long long total)
{
	p->chunk_offset = total;
	p->chunk_len = 0;
	if (p->state == ST_DONE)
		return 0;
	if (total == 0)
		return fail(p, 0, "empty document");
	return fail(p, 0, "unexpected end of input (the document is truncated)");
}

int cs_jsonstream_parse(cs_jsonstream_read_fn read, void *ctx, const char *const *keys,
			cs_jsonstream_row_fn on_row, void *arg, struct cs_jsonstream_error *err)
{
	struct parser *p = calloc(1, sizeof(*p));
	char *chunk = malloc(CS_JSONSTREAM_CHUNK);
	long long total = 0;
	int rc = -1;

	err->offset = 0;
	err->message[0] = '\0';
	if (!p || !chunk) {
		snprintf(err->message, sizeof(err->message), "out of memory");
		goto out;
	}
	p->read = read;
	p->ctx = ctx;
	p->keys = keys;
	p->on_row = on_row;
	p->arg = arg;
	p->err = err;
	p->chunk = chunk;
	p->state = ST_VALUE;
	for (;;) {
		long n = read(ctx, chunk, CS_JSONSTREAM_CHUNK);

		if (n < 0) {
			snprintf(err->message, sizeof(err->message), "could not read input: %s",
				 strerror(errno));
			err->offset = total;
			goto out;
		}
		if (n == 0)
			break;
		p->chunk_offset = total;
		p->chunk_len = (size_t)n;
		rc = run_chunk(p);
		if (rc < 0)
			goto out;
		total += n;
	}
	rc = finish(p, total);
out:
	if (p)
		cs_buf_release(&p->row);
	free(p);
	free(chunk);
	return rc;
}

long cs_jsonstream_read_memory(void *ctx, char *buf, size_t cap)
{
	struct cs_jsonstream_memory *m = ctx;
	size_t n = m->len - m->pos;

	if (n > cap)
		n = cap;
	memcpy(buf, m->data + m->pos, n);
	m->pos += n;
	return (long)n;
}

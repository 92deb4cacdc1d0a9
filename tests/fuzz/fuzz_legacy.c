/*
 * fuzz_legacy.c - staging the rows of a legacy export (cs_legacy_stage_row,
 * migrate/legacy_stage.c), fed as the importer feeds it: the input's first byte
 * picks the table, the rest is the inside of that member's array, cut into
 * rows by the streaming reader (so that every row is well-formed JSON, as in
 * an import).
 *
 * Promises, for every line: it is valid UTF-8 and valid text for COPY into
 * the staging table (migrate/importer_stage.c): one '\n', at the end; tab-separated
 * fields, as many as the table has columns; \N alone or backslash escapes of
 * \\ \t \n \r only; and each field, unescaped, fits its column's type: text
 * is UTF-8 without NUL, bigint and integer in range, boolean t or f, jsonb
 * JSON that jansson reads. The line's ord is the row's index, its reason \N
 * exactly when the row is accepted.
 */
#include "fuzz.h"

#include <errno.h>
#include <jansson.h>
#include <limits.h>

#include "jsonstream.h"
#include "legacy.h"

/* Column types of the staging tables: ord, reason, then CS_LEGACY_*_COLUMNS. */
static const char *const column_types[CS_LEGACY_TABLES] = {
	"bttttbttjBbb", /* t text, b bigint, i integer, j jsonb, B boolean */
	"bttttttbijBbb",
	"btttbtb",
};

struct staging {
	enum cs_legacy_table table;
	long long ord;
};

static int valid_utf8(const char *s, size_t len)
{
	json_t *copy = json_stringn(s, len);

	json_decref(copy);
	return copy != NULL;
}

/* Unescapes one COPY field into out (len + 1 bytes); -1 on an escape we never write. */
static long unescape(const char *f, size_t len, char *out)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++) {
		if (f[i] != '\\') {
			out[n++] = f[i];
			continue;
		}
		if (++i == len)
			return -1;
		switch (f[i]) {
		case '\\':
			out[n++] = '\\';
			break;
		case 't':
			out[n++] = '\t';
			break;
		case 'n':
			out[n++] = '\n';
			break;
		case 'r':
			out[n++] = '\r';
			break;
		default:
			return -1;
		}
	}
	out[n] = '\0';
	return (long)n;
}

static int integer_in(const char *s, long long min, long long max, long long *value)
{
	char *end;

	if (!*s || (*s != '-' && (*s < '0' || *s > '9')))
		return 0;
	errno = 0;
	*value = strtoll(s, &end, 10);
	return !errno && !*end && *value >= min && *value <= max;
}

static void check_field(char type, const char *f, size_t len, int col, const struct staging *st,
			int accepted)
{
	char *text = malloc(len + 1);
	long n;
	long long v;

	if (!text)
		abort();
	FUZZ_CHECK(memchr(f, '\r', len) == NULL && memchr(f, '\n', len) == NULL);
	if (len == 2 && !memcmp(f, "\\N", 2)) {
		FUZZ_CHECK(col != 0 && (col != 1 || accepted));
		free(text);
		return;
	}
	FUZZ_CHECK(col != 1 || !accepted);
	n = unescape(f, len, text);
	FUZZ_CHECK(n >= 0);
	FUZZ_CHECK(memchr(text, '\0', (size_t)n) == NULL && valid_utf8(text, (size_t)n));
	switch (type) {
	case 'b':
		FUZZ_CHECK(integer_in(text, LLONG_MIN, LLONG_MAX, &v));
		if (col == 0)
			FUZZ_CHECK(v == st->ord);
		break;
	case 'i':
		FUZZ_CHECK(integer_in(text, INT_MIN, INT_MAX, &v));
		break;
	case 'B':
		FUZZ_CHECK(!strcmp(text, "t") || !strcmp(text, "f"));
		break;
	case 'j': {
		json_error_t jerr;
		json_t *doc = json_loadb(text, (size_t)n, JSON_DECODE_ANY, &jerr);

		/* jansson's numbers stop at double and int64; jsonb's do not */
		FUZZ_CHECK(doc || strstr(jerr.text, "too big") || strstr(jerr.text, "overflow"));
		json_decref(doc);
		break;
	}
	}
	free(text);
}

static int stage(void *arg, const char *key, const char *row, size_t len)
{
	struct staging *st = arg;
	struct cs_buf line = CS_BUF_INIT;
	const char *types = column_types[st->table], *f, *end;
	int accepted, col = 0;

	(void)key;
	accepted = cs_legacy_stage_row(st->table, st->ord, row, len, &line) == 0;
	FUZZ_CHECK(line.len > 0 && line.data[line.len - 1] == '\n');
	FUZZ_CHECK(memchr(line.data, '\n', line.len) == line.data + line.len - 1);
	FUZZ_CHECK(valid_utf8(line.data, line.len));
	for (f = line.data;; f = end + 1, col++) {
		end = memchr(f, '\t', (size_t)(line.data + line.len - 1 - f));
		if (!end)
			end = line.data + line.len - 1;
		FUZZ_CHECK(types[col] != '\0');
		check_field(types[col], f, (size_t)(end - f), col, st, accepted);
		if (*end == '\n')
			break;
	}
	FUZZ_CHECK(types[col + 1] == '\0');
	cs_buf_release(&line);
	st->ord++;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct staging st = { CS_LEGACY_CHATS, 0 };
	struct cs_buf doc = CS_BUF_INIT;
	struct cs_jsonstream_memory mem;
	struct cs_jsonstream_error err;
	const char *keys[2] = { NULL, NULL };

	if (size == 0)
		return 0;
	st.table = (enum cs_legacy_table)(data[0] % CS_LEGACY_TABLES);
	keys[0] = cs_legacy_member(st.table);
	cs_buf_printf(&doc, "{\"%s\":[", keys[0]);
	cs_buf_append(&doc, data + 1, size - 1);
	cs_buf_puts(&doc, "]}");
	mem = (struct cs_jsonstream_memory){ doc.data, doc.len, 0 };
	cs_jsonstream_parse(cs_jsonstream_read_memory, &mem, keys, stage, &st, &err);
	cs_buf_release(&doc);
	return 0;
}

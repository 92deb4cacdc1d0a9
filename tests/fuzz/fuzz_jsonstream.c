/*
 * fuzz_jsonstream.c - the streaming JSON reader of imports
 * (migrate/jsonstream.c), with jansson's json_loadb on the same bytes as the
 * oracle.
 *
 * The input's first byte sets how many bytes each read hands over (1 to
 * 256), so that values cross chunk boundaries; the rest is the document, with
 * "chats" and "messages" as the members whose elements are cut out.
 *
 * Promises, where jansson (with duplicate names refused) reads an object:
 * the reader accepts it exactly when every "chats" and "messages" member is
 * an array or null, and hands over each element, in order, as bytes that
 * parse to the very element jansson saw; each member cs_jsonstream_next_member
 * finds in such an object row is jansson's. Where the reader accepts and
 * jansson refuses, jansson's reason must be one the reader leaves to the
 * caller's json_loadb (UTF-8, \u0000, unpaired surrogates, number range,
 * duplicate names, NUL in names).
 */
#include "fuzz.h"

#include <jansson.h>

#include "jsonstream.h"

static const char *const keys[] = { "chats", "messages", NULL };

struct source {
	const uint8_t *data;
	size_t len, pos, step;
};

struct rows {
	json_t *doc;    /* jansson's object, or NULL */
	size_t seen[2]; /* elements handed over per key */
};

static long read_steps(void *ctx, char *buf, size_t cap)
{
	struct source *s = ctx;
	size_t n = s->len - s->pos;

	if (n > s->step)
		n = s->step;
	if (n > cap)
		n = cap;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	return (long)n;
}

static void check_members(const char *row, size_t len, json_t *element)
{
	struct cs_jsonstream_field field;
	size_t pos = 0;
	int rc;

	while ((rc = cs_jsonstream_next_member(row, len, &pos, &field)) == 1) {
		json_t *value = json_loadb(field.value, field.value_len, JSON_DECODE_ANY, NULL);

		FUZZ_CHECK(value != NULL);
		if (!memchr(field.name, '\\', field.name_len))
			FUZZ_CHECK(json_equal(
				value, json_object_getn(element, field.name, field.name_len)));
		json_decref(value);
	}
	FUZZ_CHECK(rc == 0);
}

static int on_row(void *arg, const char *key, const char *row, size_t len)
{
	struct rows *rows = arg;
	int k = strcmp(key, "chats") == 0 ? 0 : 1;
	json_t *element, *parsed;

	FUZZ_CHECK(row != NULL); /* no element here is near CS_JSONSTREAM_MAX_ROW */
	if (!rows->doc)
		return 0;
	element = json_array_get(json_object_get(rows->doc, key), rows->seen[k]++);
	FUZZ_CHECK(element != NULL);
	parsed = json_loadb(row, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, NULL);
	FUZZ_CHECK(parsed && json_equal(parsed, element));
	if (json_is_object(element))
		check_members(row, len, element);
	json_decref(parsed);
	return 0;
}

static int members_are_arrays(json_t *doc)
{
	int i;

	for (i = 0; keys[i]; i++) {
		json_t *v = json_object_get(doc, keys[i]);

		if (v && !json_is_array(v) && !json_is_null(v))
			return 0;
	}
	return 1;
}

/* The reasons jansson refuses what is well-formed JSON to the reader. */
static int left_to_caller(const char *why)
{
	static const char *const reasons[] = {
		"unable to decode byte",
		"\\u0000 is not allowed",
		"invalid Unicode",
		"too big",
		"overflow",
		"duplicate object key",
		"maximum parsing depth",
		"NUL byte in object key",
	};
	size_t i;

	for (i = 0; i < sizeof reasons / sizeof reasons[0]; i++)
		if (strstr(why, reasons[i]))
			return 1;
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct source src = { data + 1, size ? size - 1 : 0, 0, 0 };
	struct rows rows = { NULL, { 0, 0 } };
	struct cs_jsonstream_error err;
	json_error_t jerr;
	int rc, i;

	if (size == 0)
		return 0;
	src.step = (size_t)data[0] + 1;
	rows.doc = json_loadb((const char *)src.data, src.len, JSON_REJECT_DUPLICATES, &jerr);
	if (rows.doc && !json_is_object(rows.doc)) {
		json_decref(rows.doc);
		rows.doc = NULL;
		snprintf(jerr.text, sizeof jerr.text, "not an object");
	}
	/*
	 * jansson 2.14 takes a NUL byte between tokens for blank ({"s":[2<NUL>]}
	 * loads), which JSON does not allow and the reader refuses: no oracle there.
	 */
	if (rows.doc && memchr(src.data, '\0', src.len)) {
		json_decref(rows.doc);
		rows.doc = NULL;
	}
	rc = cs_jsonstream_parse(read_steps, &src, keys, on_row, &rows, &err);
	FUZZ_CHECK(rc == 0 || rc == -1);
	if (rows.doc) {
		FUZZ_CHECK(rc == (members_are_arrays(rows.doc) ? 0 : -1));
		for (i = 0; rc == 0 && keys[i]; i++)
			FUZZ_CHECK(rows.seen[i] ==
				   json_array_size(json_object_get(rows.doc, keys[i])));
	} else if (rc == 0) {
		if (!left_to_caller(jerr.text))
			fprintf(stderr, "jansson refused what the reader accepted: %s\n",
				jerr.text);
		FUZZ_CHECK(left_to_caller(jerr.text));
	}
	if (rc < 0)
		FUZZ_CHECK(err.message[0] != '\0');
	json_decref(rows.doc);
	return 0;
}

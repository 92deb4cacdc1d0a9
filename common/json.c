/*
 * json.c - parsing outside JSON within a nesting bound, and typed,
 * validating readers over jansson objects.
 */
#include "json.h"
#include "bounds.h"

#include <stdio.h>
#include <string.h>

void cs_json_measure(const char *text, size_t len, struct cs_json_shape *out)
{
	size_t i, depth = 0;
	int in_string = 0;

	out->depth = 0;
	out->values = len > 0; /* the first element of each container and a lone scalar */
	/* Brackets inside strings do not nest; a backslash hides the next byte. */
	for (i = 0; i < len; i++) {
		char c = text[i];

		if (in_string) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '[' || c == '{') {
			out->values++;
			if (++depth > out->depth)
				out->depth = depth;
		} else if (c == ',') {
			out->values++;
		} else if ((c == ']' || c == '}') && depth > 0) {
			depth--;
		}
	}
}

json_t *cs_json_load(const char *text, size_t len, size_t max_depth, json_error_t *jerr)
{
	struct cs_json_shape shape;

	cs_json_measure(text, len, &shape);
	if (shape.depth > max_depth || shape.values > CS_LIMIT_JSON_VALUES) {
		memset(jerr, 0, sizeof(*jerr));
		if (shape.depth > max_depth)
			snprintf(jerr->text, sizeof(jerr->text), "nested deeper than %zu levels",
				 max_depth);
		else
			snprintf(jerr->text, sizeof(jerr->text), "more than %d values",
				 CS_LIMIT_JSON_VALUES);
		return NULL;
	}
	/* Duplicate names are refused: {"a":1,"a":2} means different things to different parsers. */
	return json_loadb(text, len, JSON_REJECT_DUPLICATES, jerr);
}

int cs_json_parse_object(const char *body, size_t len, json_t **out, struct cs_error *err)
{
	json_error_t jerr;
	json_t *root;

	root = cs_json_load(body ? body : "", len, CS_LIMIT_BODY_DEPTH, &jerr);
	if (!root && jerr.line == 0)
		return cs_error_set(err, 400, "body: %s", jerr.text);
	if (!root)
		return cs_error_set(err, 400, "body: malformed JSON at line %d column %d: %s",
				    jerr.line, jerr.column, jerr.text);
	if (!json_is_object(root)) {
		json_decref(root);
		return cs_error_set(err, 400, "body: must be a JSON object");
	}
	*out = root;
	return 0;
}

int cs_json_only_keys(json_t *obj, const char *const *allowed, struct cs_error *err)
{
	const char *key;
	json_t *value;

	json_object_foreach(obj, key, value) {
		const char *const *a;

		for (a = allowed; *a; a++)
			if (!strcmp(*a, key))
				break;
		if (!*a)
			return cs_error_set(err, 400, "%.100s: unknown field", key);
	}
	return 0;
}

/* Looks the key up; handles absent, null and required the same way for every type. */
static int lookup(json_t *obj, const char *key, int flags, json_t **value, struct cs_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (!v || (json_is_null(v) && (flags & CS_JSON_NULLABLE) && !(flags & CS_JSON_REQUIRED))) {
		if (flags & CS_JSON_REQUIRED)
			return cs_error_set(err, 400, "%s: is required", key);
		return v ? CS_JSON_NULL : CS_JSON_ABSENT;
	}
	if (json_is_null(v) && (flags & CS_JSON_NULLABLE))
		return CS_JSON_NULL;
	*value = v;
	return CS_JSON_PRESENT;
}

int cs_json_string(json_t *obj, const char *key, int flags, const char **value, size_t *len,
		   struct cs_error *err)
{
	json_t *v = NULL;
	int rc = lookup(obj, key, flags, &v, err);

	if (rc != CS_JSON_PRESENT)
		return rc;
	if (!json_is_string(v))
		return cs_error_set(err, 400, "%s: must be a string", key);
	*value = json_string_value(v);
	*len = json_string_length(v);
	return CS_JSON_PRESENT;
}

int cs_json_int64(json_t *obj, const char *key, int flags, long long *value,
		  struct cs_error *err)
{
	json_t *v = NULL;
	int rc = lookup(obj, key, flags, &v, err);

	if (rc != CS_JSON_PRESENT)
		return rc;
	if (!json_is_integer(v))
		return cs_error_set(err, 400, "%s: must be an integer", key);
	*value = (long long)json_integer_value(v);
	return CS_JSON_PRESENT;
}

int cs_json_value(json_t *obj, const char *key, int flags, json_t **value, struct cs_error *err)
{
	json_t *v = NULL;
	int rc = lookup(obj, key, flags, &v, err);

	if (rc == CS_JSON_PRESENT)
		*value = v;
	return rc;
}

size_t cs_utf8_length(const char *s, size_t len)
{
	size_t i, n = 0;

	for (i = 0; i < len; i++)
		if (((unsigned char)s[i] & 0xC0) != 0x80)
			n++;
	return n;
}

int cs_utf8_valid_text(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0;

	while (i < len) {
		unsigned char c = p[i];
		size_t n, k;
		unsigned cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7F)
				return 0;
			i++;
			continue;
		}
		if ((c & 0xE0) == 0xC0) {
			n = 1;
			cp = c & 0x1F;
		} else if ((c & 0xF0) == 0xE0) {
			n = 2;
			cp = c & 0x0F;
		} else if ((c & 0xF8) == 0xF0) {
			n = 3;
			cp = c & 0x07;
		} else {
			return 0;
		}
		if (i + n >= len)
			return 0;
		for (k = 1; k <= n; k++) {
			if ((p[i + k] & 0xC0) != 0x80)
				return 0;
			cp = (cp << 6) | (p[i + k] & 0x3F);
		}
		/* overlong forms, surrogates and values past U+10FFFF are not UTF-8 */
		if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000) ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF || (cp >= 0x80 && cp <= 0x9F))
			return 0;
		i += n + 1;
	}
	return 1;
}

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

int cs_json_int64(json_t *obj, const char *key, int flags, long long *value, struct cs_error *err)
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

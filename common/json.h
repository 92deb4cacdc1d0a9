/*
 * json.h - reading request bodies with jansson, with errors that name the field.
 *
 * cs_json_parse_object returns a new reference (json_decref it). The typed
 * readers borrow from the object: a string they return lives as long as the
 * object. Each reader returns CS_JSON_PRESENT, CS_JSON_ABSENT (the key is
 * missing), CS_JSON_NULL (the value is null and CS_JSON_NULLABLE was given) or
 * -1 with a 400 "<field>: must be ..." in err.
 */
#ifndef CS_JSON_H
#define CS_JSON_H

#include <jansson.h>
#include <stddef.h>

#include "error.h"

#define CS_JSON_REQUIRED 1
#define CS_JSON_NULLABLE 2

enum { CS_JSON_ABSENT = 0, CS_JSON_PRESENT = 1, CS_JSON_NULL = 2 };

/*
 * The shape of JSON text, by a scan that neither recurses nor validates (the
 * parser does that after): the deepest nesting of arrays and objects, and
 * about how many values (one per opening bracket and per comma, at least).
 */
struct cs_json_shape {
	size_t depth;
	size_t values;
};
void cs_json_measure(const char *text, size_t len, struct cs_json_shape *out);
/*
 * Every parse of outside JSON goes through here: the shape check (at most
 * max_depth levels and CS_LIMIT_JSON_VALUES values, bounds.h), then jansson
 * with duplicate names refused. A new reference, or NULL with jerr filled
 * (line 0 and "nested deeper than N levels" or "more than N values" when the
 * shape is refused).
 */
json_t *cs_json_load(const char *text, size_t len, size_t max_depth, json_error_t *jerr);
/* A request body that must be a JSON object of at most CS_LIMIT_BODY_DEPTH levels. */
int cs_json_parse_object(const char *body, size_t len, json_t **out, struct cs_error *err);
/* 400 naming the first key of obj that is not in allowed (NULL-terminated). */
int cs_json_only_keys(json_t *obj, const char *const *allowed, struct cs_error *err);
int cs_json_string(json_t *obj, const char *key, int flags, const char **value, size_t *len,
		   struct cs_error *err);
int cs_json_int64(json_t *obj, const char *key, int flags, long long *value, struct cs_error *err);
/* Any JSON value; *value is borrowed. */
int cs_json_value(json_t *obj, const char *key, int flags, json_t **value, struct cs_error *err);

#endif

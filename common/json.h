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
 * 1 when text nests arrays and objects deeper than max_depth (a scan that
 * does not recurse and does not validate: the parser does that after).
 */
int cs_json_too_deep(const char *text, size_t len, int max_depth);
/*
 * Every parse of outside JSON goes through here: the depth check, then
 * jansson with duplicate names refused. A new reference, or NULL with jerr
 * filled (line 0 and "nested deeper than N levels" for the depth check).
 */
json_t *cs_json_load(const char *text, size_t len, int max_depth, json_error_t *jerr);
/* A request body that must be a JSON object of at most CS_LIMIT_BODY_DEPTH levels. */
int cs_json_parse_object(const char *body, size_t len, json_t **out, struct cs_error *err);
/* 400 naming the first key of obj that is not in allowed (NULL-terminated). */
int cs_json_only_keys(json_t *obj, const char *const *allowed, struct cs_error *err);
int cs_json_string(json_t *obj, const char *key, int flags, const char **value, size_t *len,
		   struct cs_error *err);
int cs_json_int64(json_t *obj, const char *key, int flags, long long *value,
		  struct cs_error *err);
/* Any JSON value; *value is borrowed. */
int cs_json_value(json_t *obj, const char *key, int flags, json_t **value, struct cs_error *err);

/* Number of code points in valid UTF-8. */
size_t cs_utf8_length(const char *s, size_t len);
/* 1 when s is valid UTF-8 with no control characters (C0, DEL, C1). */
int cs_utf8_valid_text(const char *s, size_t len);

#endif

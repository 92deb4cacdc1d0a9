/*
 * jsonstream_member.c - cs_jsonstream_next_member: the members of one small
 * object that cs_jsonstream_parse has already checked, found by skipping
 * strings and nesting without checking them again (jsonstream.h).
 */
#include "jsonstream.h"

#include <stddef.h>

static int is_space(char c)
{
	return c == ' ' || c == '\n' || c == '\r' || c == '\t';
}

static const char *skip_space(const char *s, const char *end)
{
	while (s < end && is_space(*s))
		s++;
	return s;
}

/* s at an opening quote: returns the position after the closing quote, or NULL. */
static const char *skip_string(const char *s, const char *end)
{
	for (s++; s < end; s++) {
		if (*s == '\\')
			s++;
		else if (*s == '"')
			return s + 1;
	}
	return NULL;
}

/* s at the first byte of a valid value: the position after it, or NULL. */
static const char *skip_value(const char *s, const char *end)
{
	int depth = 0;

	do {
		if (s >= end)
			return NULL;
		if (*s == '"') {
			s = skip_string(s, end);
			if (!s)
				return NULL;
			continue;
		}
		if (*s == '{' || *s == '[') {
			depth++;
		} else if (*s == '}' || *s == ']') {
			depth--;
		} else if (depth == 0) {
			while (s < end && !is_space(*s) && *s != ',' && *s != '}' && *s != ']')
				s++;
			return s;
		}
		s++;
	} while (depth > 0);
	return s;
}

int cs_jsonstream_next_member(const char *obj, size_t len, size_t *pos,
			      struct cs_jsonstream_field *field)
{
	const char *s = obj + *pos, *end = obj + len, *name_end;

	s = skip_space(s, end);
	if (*pos == 0) {
		if (s == end || *s != '{')
			return -1;
		s = skip_space(s + 1, end);
	} else if (s < end && *s == ',') {
		s = skip_space(s + 1, end);
	}
	if (s < end && *s == '}') {
		*pos = (size_t)(s - obj);
		return 0;
	}
	if (s == end || *s != '"' || !(name_end = skip_string(s, end)))
		return -1;
	field->name = s + 1;
	field->name_len = (size_t)(name_end - 1 - field->name);
	s = skip_space(name_end, end);
	if (s == end || *s != ':')
		return -1;
	field->value = skip_space(s + 1, end);
	s = skip_value(field->value, end);
	if (!s || s == field->value)
		return -1;
	field->value_len = (size_t)(s - field->value);
	*pos = (size_t)(s - obj);
	return 1;
}

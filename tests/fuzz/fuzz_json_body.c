/*
 * fuzz_json_body.c - the request body readers (common/json.c): the object
 * parse, the allow-list of keys and the typed readers, called as the services
 * call them, and the UTF-8 checks the handlers apply to the strings.
 *
 * Promises: every refusal is a 400 with a message; a string reader's length
 * is the string's; a valid text passes jansson's own UTF-8 check and holds no
 * control character; attachments serialize (as messages-svc stores them).
 */
#include "fuzz.h"
#include "utf8.h"

#include "json.h"

static const char *const allowed[] = { "id",        "title",       "content",  "role", "position",
				       "timestamp", "attachments", "branches", NULL };

static void check_error(const struct cs_error *err)
{
	FUZZ_CHECK(err->status == 400);
	FUZZ_CHECK(memchr(err->message, '\0', sizeof err->message) && err->message[0]);
}

static void check_text(const char *s, size_t len)
{
	size_t i;

	FUZZ_CHECK(cs_utf8_length(s, len) <= len);
	if (!cs_utf8_valid_text(s, len))
		return;
	for (i = 0; i < len; i++)
		FUZZ_CHECK((unsigned char)s[i] >= 0x20 && s[i] != 0x7f);
	json_t *copy = json_stringn(s, len);
	FUZZ_CHECK(copy != NULL);
	json_decref(copy);
}

static void read_string(json_t *body, const char *key, int flags)
{
	struct cs_error err = CS_ERROR_INIT;
	const char *value = NULL;
	size_t len = 0;
	int rc = cs_json_string(body, key, flags, &value, &len, &err);

	if (rc < 0) {
		check_error(&err);
	} else if (rc == CS_JSON_PRESENT) {
		FUZZ_CHECK(value && len == json_string_length(json_object_get(body, key)));
		check_text(value, len);
	}
}

static void read_int(json_t *body, const char *key, int flags)
{
	struct cs_error err = CS_ERROR_INIT;
	long long value = 0;
	int rc = cs_json_int64(body, key, flags, &value, &err);

	if (rc < 0)
		check_error(&err);
	else if (rc == CS_JSON_PRESENT)
		FUZZ_CHECK(value == json_integer_value(json_object_get(body, key)));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cs_error err = CS_ERROR_INIT;
	json_t *body = NULL, *value = NULL;
	int rc;

	check_text((const char *)data, size);
	if (cs_json_parse_object((const char *)data, size, &body, &err) < 0) {
		check_error(&err);
		return 0;
	}
	FUZZ_CHECK(json_is_object(body));
	err = (struct cs_error)CS_ERROR_INIT;
	if (cs_json_only_keys(body, allowed, &err) < 0)
		check_error(&err);
	read_string(body, "id", CS_JSON_NULLABLE);
	read_string(body, "title", CS_JSON_REQUIRED);
	read_string(body, "content", 0);
	read_string(body, "role", CS_JSON_REQUIRED | CS_JSON_NULLABLE);
	read_int(body, "position", CS_JSON_NULLABLE);
	read_int(body, "timestamp", CS_JSON_REQUIRED);
	err = (struct cs_error)CS_ERROR_INIT;
	rc = cs_json_value(body, "attachments", CS_JSON_NULLABLE, &value, &err);
	if (rc < 0)
		check_error(&err);
	if (rc == CS_JSON_PRESENT) {
		char *text = json_dumps(value, JSON_COMPACT | JSON_ENCODE_ANY);

		FUZZ_CHECK(text != NULL);
		free(text);
	}
	json_decref(body);
	return 0;
}

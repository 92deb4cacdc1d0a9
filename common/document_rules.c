/*
 * document_rules.c - the rules of a document's fields, with the API's words
 * for a value that breaks one. Each rule is decided by its yes-or-no form
 * (cs_document_*_fits, *_valid), which the check uses and which the import
 * and auth ask directly, wording their own reasons.
 */
#include "document.h"
#include "utf8.h"
#include "id.h"
#include "json.h"

#include <string.h>

int cs_document_id_fits(const char *id, size_t len)
{
	return cs_id_valid(id, len);
}

int cs_document_check_id(const char *field, const char *id, size_t len, struct cs_error *err)
{
	if (!cs_document_id_fits(id, len))
		return cs_error_set(err, 400, "%s: must be 1 to %d bytes of text", field,
				    CS_ID_MAX);
	return 0;
}

int cs_document_title_fits(size_t chars)
{
	return chars >= 1 && chars <= CS_LIMIT_TITLE_CHARS;
}

int cs_document_check_title(const char *title, size_t len, struct cs_error *err)
{
	if (!cs_document_title_fits(cs_utf8_length(title, len)))
		return cs_error_set(err, 400, "title: must be 1 to %d characters",
				    CS_LIMIT_TITLE_CHARS);
	return 0;
}

int cs_document_content_fits(size_t bytes)
{
	return bytes <= CS_LIMIT_CONTENT_BYTES;
}

int cs_document_check_content(size_t len, struct cs_error *err)
{
	if (!cs_document_content_fits(len))
		return cs_error_set(err, 400, "content: must be at most %d MiB",
				    CS_LIMIT_CONTENT_BYTES >> 20);
	return 0;
}

int cs_document_role_valid(const char *role)
{
	return strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0;
}

int cs_document_check_role(const char *role, struct cs_error *err)
{
	if (!cs_document_role_valid(role))
		return cs_error_set(err, 400, "role: must be \"user\" or \"assistant\"");
	return 0;
}

int cs_document_attachments_fits(size_t bytes)
{
	return bytes <= CS_LIMIT_ATTACHMENTS_BYTES;
}

int cs_document_check_attachments(size_t len, struct cs_error *err)
{
	if (!cs_document_attachments_fits(len))
		return cs_error_set(err, 400, "attachments: must be at most %d KiB of JSON",
				    CS_LIMIT_ATTACHMENTS_BYTES >> 10);
	return 0;
}

int cs_document_check_position(long long position, struct cs_error *err)
{
	if (position < 0 || position > CS_DOCUMENT_POSITION_MAX)
		return cs_error_set(err, 400, "position: must be an integer from 0 to %d",
				    CS_DOCUMENT_POSITION_MAX);
	return 0;
}

int cs_document_check_timestamp(long long timestamp, struct cs_error *err)
{
	if (timestamp < 0)
		return cs_error_set(err, 400, "timestamp: must not be negative");
	return 0;
}

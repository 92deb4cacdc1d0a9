/*
 * legacy_tables.c - the checks of each legacy table's own columns: ids that
 * must be there, the document rules (title, content, role, position,
 * attachments) and the fallbacks of times. legacy_stage.c reads the members
 * and the columns these leave alone; cs_legacy__read_chat, _message and
 * _sync_status are its entry points here.
 */
#include "legacy_stage_internal.h"
#include "document.h"

#include <math.h>

int cs_legacy__read_chat(struct cs_legacy_reader *r)
{
	struct cs_legacy_text t;

	if (cs_legacy__read_id(r, CS_LEGACY_CHAT_COL_ID, 1) < 0 ||
	    cs_legacy__read_id(r, CS_LEGACY_CHAT_COL_USER_ID, 1) < 0 ||
	    cs_legacy__read_string(r, CS_LEGACY_CHAT_COL_TITLE, &t) < 0)
		return -1;
	if (!cs_document_title_fits(t.chars))
		return cs_legacy__reject(r, "title: must be 1 to %d characters",
					 CS_LIMIT_TITLE_CHARS);
	if (cs_legacy__read_times(r, CS_LEGACY_CHAT_COL_TIMESTAMP, CS_LEGACY_CHAT_COL_CREATED_AT,
				  CS_LEGACY_CHAT_COL_UPDATED_AT) < 0 ||
	    cs_legacy__read_id(r, CS_LEGACY_CHAT_COL_PARENT_CHAT_ID, 0) < 0 ||
	    cs_legacy__read_id(r, CS_LEGACY_CHAT_COL_BRANCH_FROM_MESSAGE_ID, 0) < 0 ||
	    cs_legacy__read_bool(r, CS_LEGACY_CHAT_COL_IS_DELETED) < 0 ||
	    cs_legacy__read_raw(r, CS_LEGACY_CHAT_COL_BRANCHES) < 0)
		return -1;
	if (r->value[CS_LEGACY_CHAT_COL_BRANCHES].how == V_NULL)
		cs_legacy__set(r, CS_LEGACY_CHAT_COL_BRANCHES, V_EMPTY_ARRAY, NULL, 0);
	else if (r->value[CS_LEGACY_CHAT_COL_BRANCHES].s->p[0] != '[')
		return cs_legacy__reject(r, "branches: must be an array or null");
	return 0;
}

static int read_position(struct cs_legacy_reader *r)
{
	const struct cs_legacy_span *s = cs_legacy__member(r, CS_LEGACY_MESSAGE_COL_POSITION);
	double d;

	cs_legacy__set(r, CS_LEGACY_MESSAGE_COL_POSITION, V_NULL, NULL, 0);
	if (!s)
		return 0;
	if (cs_legacy__number(s, &d) < 0 || d != floor(d) || d < 0 || d > CS_DOCUMENT_POSITION_MAX)
		return cs_legacy__reject(r, "position: must be null or an integer from 0 to %d",
					 CS_DOCUMENT_POSITION_MAX);
	cs_legacy__set(r, CS_LEGACY_MESSAGE_COL_POSITION, V_INT, NULL, (long long)d);
	return 0;
}

static int read_content(struct cs_legacy_reader *r)
{
	struct cs_legacy_text t;

	if (cs_legacy__read_string(r, CS_LEGACY_MESSAGE_COL_CONTENT, &t) < 0)
		return -1;
	if (!cs_document_content_fits(t.bytes))
		return cs_legacy__reject(r, "content: longer than %d bytes",
					 CS_LIMIT_CONTENT_BYTES);
	return 0;
}

static int read_role(struct cs_legacy_reader *r)
{
	const struct cs_legacy_span *role = cs_legacy__member(r, CS_LEGACY_MESSAGE_COL_ROLE);
	char text[SHORT_TEXT];

	if (!role)
		return cs_legacy__reject(r, "role: missing");
	if (!cs_legacy__is_string(role))
		return cs_legacy__reject(r, "role: must be a string");
	/* the reason goes into a COPY line: it may quote the role only once decoded (UTF-8) */
	if (cs_legacy__short_string(role, text) < 0)
		return cs_legacy__reject(r, "role: must be \"user\" or \"assistant\"");
	if (!cs_document_role_valid(text))
		return cs_legacy__reject(r, "role: must be \"user\" or \"assistant\", not \"%s\"",
					 text);
	cs_legacy__set(r, CS_LEGACY_MESSAGE_COL_ROLE, V_STRING, role, 0);
	return 0;
}

/*
 * Attachments are measured as written in the file, where the API measures
 * their compact JSON (docs/import.md, Limits, says where the two differ).
 */
static int read_attachments(struct cs_legacy_reader *r)
{
	const struct cs_legacy_value *v = &r->value[CS_LEGACY_MESSAGE_COL_ATTACHMENTS];

	if (cs_legacy__read_raw(r, CS_LEGACY_MESSAGE_COL_ATTACHMENTS) < 0)
		return -1;
	if (v->how == V_RAW && !cs_document_attachments_fits(v->s->len))
		return cs_legacy__reject(r, "attachments: larger than %d bytes",
					 CS_LIMIT_ATTACHMENTS_BYTES);
	return 0;
}

int cs_legacy__read_message(struct cs_legacy_reader *r)
{
	if (cs_legacy__read_id(r, CS_LEGACY_MESSAGE_COL_ID, 1) < 0 ||
	    cs_legacy__read_id(r, CS_LEGACY_MESSAGE_COL_CHAT_ID, 1) < 0 ||
	    cs_legacy__read_id(r, CS_LEGACY_MESSAGE_COL_USER_ID, 1) < 0 || read_content(r) < 0 ||
	    read_role(r) < 0 ||
	    cs_legacy__read_times(r, CS_LEGACY_MESSAGE_COL_TIMESTAMP,
				  CS_LEGACY_MESSAGE_COL_CREATED_AT,
				  CS_LEGACY_MESSAGE_COL_UPDATED_AT) < 0 ||
	    read_position(r) < 0 || cs_legacy__read_bool(r, CS_LEGACY_MESSAGE_COL_IS_DELETED) < 0 ||
	    read_attachments(r) < 0)
		return -1;
	return 0;
}

/* updated_at falls back on last_sync_timestamp, then on created_at (not a column). */
int cs_legacy__read_sync_status(struct cs_legacy_reader *r)
{
	long long last_sync = 0, updated = 0, created = 0;
	int has_last_sync, has_updated, has_created;

	if (cs_legacy__read_id(r, CS_LEGACY_SYNC_STATUS_COL_USER_ID, 1) < 0 ||
	    cs_legacy__read_id(r, CS_LEGACY_SYNC_STATUS_COL_DEVICE_ID, 1) < 0)
		return -1;
	if ((has_last_sync = cs_legacy__read_time(r, CS_LEGACY_SYNC_STATUS_COL_LAST_SYNC_TIMESTAMP,
						  &last_sync)) < 0 ||
	    (has_updated =
		     cs_legacy__read_time(r, CS_LEGACY_SYNC_STATUS_COL_UPDATED_AT, &updated)) < 0 ||
	    (has_created = cs_legacy__read_time(r, K_SYNC_STATUS_CREATED_AT, &created)) < 0)
		return -1;
	if (!has_updated && !has_last_sync && !has_created)
		return cs_legacy__reject(r, "updated_at: missing");
	if (!has_updated)
		updated = has_last_sync ? last_sync : created;
	if (has_last_sync)
		cs_legacy__set(r, CS_LEGACY_SYNC_STATUS_COL_LAST_SYNC_TIMESTAMP, V_INT, NULL,
			       last_sync);
	else
		cs_legacy__set(r, CS_LEGACY_SYNC_STATUS_COL_LAST_SYNC_TIMESTAMP, V_NULL, NULL, 0);
	cs_legacy__set(r, CS_LEGACY_SYNC_STATUS_COL_UPDATED_AT, V_INT, NULL, updated);
	return cs_legacy__read_text(r, CS_LEGACY_SYNC_STATUS_COL_CURSOR);
}

/*
 * legacy.c - the members of a legacy export and their tables. Checking a row
 * into a staging line is legacy_stage.c (its text: legacy_text.c), writing a
 * store row back as a legacy row legacy_write.c; both go by the columns
 * described here, from common/schema.h.
 */
#include "legacy.h"

#include <string.h>

static const char *const members[] = { "chats", "messages", "syncStatus", NULL };

/* clang-format off */
static const struct cs_legacy_column chat_columns[CS_LEGACY_CHAT_COLUMN_COUNT] = {
	CS_SCHEMA_LEGACY_INFOS(CS_SCHEMA_CHATS, CS_LEGACY_FORMAT_)
};
static const struct cs_legacy_column message_columns[CS_LEGACY_MESSAGE_COLUMN_COUNT] = {
	CS_SCHEMA_LEGACY_INFOS(CS_SCHEMA_MESSAGES, CS_LEGACY_FORMAT_)
};
static const struct cs_legacy_column sync_status_columns[CS_LEGACY_SYNC_STATUS_COLUMN_COUNT] = {
	CS_SCHEMA_LEGACY_INFOS(CS_SCHEMA_SYNC_STATUS, CS_LEGACY_FORMAT_)
};
/* clang-format on */

const char *cs_legacy_member(enum cs_legacy_table table)
{
	return members[table];
}

const char *const *cs_legacy_members(void)
{
	return members;
}

int cs_legacy_table_of(const char *member)
{
	int i;

	for (i = 0; i < CS_LEGACY_TABLES; i++)
		if (!strcmp(members[i], member))
			return i;
	return -1;
}

const struct cs_legacy_column *cs_legacy_columns(enum cs_legacy_table table, int *count)
{
	static const int counts[CS_LEGACY_TABLES] = CS_LEGACY_COLUMN_COUNTS;
	static const struct cs_legacy_column *const columns[CS_LEGACY_TABLES] = {
		chat_columns, message_columns, sync_status_columns
	};

	*count = counts[table];
	return columns[table];
}

/*
 * legacy.c - the members of a legacy export and their tables. Checking a row
 * into a staging line is legacy_stage.c (its text: legacy_text.c), writing a
 * store row back as a legacy row legacy_write.c.
 */
#include "legacy.h"

#include <string.h>

static const char *const members[] = { "chats", "messages", "syncStatus", NULL };

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

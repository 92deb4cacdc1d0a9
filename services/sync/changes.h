/* changes.h - GET /api/sync, the change feed's handler (API.md, Sync). */
#ifndef SYNC_CHANGES_H
#define SYNC_CHANGES_H

#include "server.h"

void sync_changes(struct cs_request *req);

#endif

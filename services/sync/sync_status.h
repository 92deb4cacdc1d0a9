/*
 * sync_status.h - PUT /api/sync-status/{deviceId} and GET /api/sync-status, the
 * sync status handlers (API.md, Sync).
 */
#ifndef SYNC_STATUS_H
#define SYNC_STATUS_H

#include "server.h"

void sync_status_put(struct cs_request *req);
void sync_status_list(struct cs_request *req);

#endif

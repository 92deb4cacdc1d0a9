/* sync.h - the handlers of sync-svc (API.md, Sync). */
#ifndef SYNC_H
#define SYNC_H

#include "buf.h"
#include "server.h"

void sync_changes(struct cs_request *req);
void sync_status_put(struct cs_request *req);
void sync_status_list(struct cs_request *req);

#endif

/* chats.h - the handlers of chats-svc (API.md, Chats). */
#ifndef CHATS_H
#define CHATS_H

#include "http.h"

void chats_list(struct cs_request *req);
void chats_get(struct cs_request *req);
void chats_create(struct cs_request *req);
void chats_update(struct cs_request *req);
void chats_delete(struct cs_request *req);
void chats_branch(struct cs_request *req);

#endif

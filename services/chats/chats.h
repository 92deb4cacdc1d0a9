/* chats.h - the handlers of chats-svc (API.md, Chats). */
#ifndef CHATS_H
#define CHATS_H

#include <libpq-fe.h>

#include "http.h"

void chats_list(struct cs_request *req);
void chats_get(struct cs_request *req);
void chats_create(struct cs_request *req);
void chats_update(struct cs_request *req);
void chats_delete(struct cs_request *req);
void chats_branch(struct cs_request *req);

/*
 * Answers {"chat": …, "messages": […]} from a result whose rows are the chat's
 * columns followed by one message's (a LEFT JOIN: nulls when it has none).
 */
void chats_respond_with_messages(struct cs_request *req, int status, const PGresult *res);

#endif

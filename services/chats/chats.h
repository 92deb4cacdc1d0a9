/* chats.h - the handlers of chats-svc (API.md, Chats). */
#ifndef CHATS_H
#define CHATS_H

#include <libpq-fe.h>

#include "server.h"

void chats_list(struct cs_request *req);
void chats_get(struct cs_request *req);
void chats_create(struct cs_request *req);
void chats_update(struct cs_request *req);
void chats_delete(struct cs_request *req);
void chats_branch(struct cs_request *req);

struct cs_db_conn;
/*
 * Answers {"chat": …, "messages": […]} for the chat in row 0 of chat (its
 * columns in CS_CHAT_COLUMNS order), reading its messages on conn; 0, or -1
 * with err filled (422 when they are more than one answer holds).
 */
int chats_respond_with_messages(struct cs_request *req, int status, struct cs_db_conn *conn,
				const PGresult *chat, struct cs_error *err);

#endif

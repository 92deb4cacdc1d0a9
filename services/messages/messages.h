/* messages.h - the handlers of messages-svc (API.md, Messages). */
#ifndef MESSAGES_H
#define MESSAGES_H

#include "server.h"

void messages_page(struct cs_request *req);
void messages_append(struct cs_request *req);
void messages_update(struct cs_request *req);
void messages_delete(struct cs_request *req);

#endif

/* messages.h - the handlers of messages-svc (API.md, Messages and Streamed assistant replies). */
#ifndef MESSAGES_H
#define MESSAGES_H

#include <libpq-fe.h>

#include "server.h"

void messages_page(struct cs_request *req);
void messages_append(struct cs_request *req);
void messages_update(struct cs_request *req);
void messages_delete(struct cs_request *req);

/* stream.c: POST /api/messages/{id}/chunks and /end */
void messages_stream_append(struct cs_request *req);
void messages_stream_end(struct cs_request *req);
/*
 * Writes a streamed message's text after from_seq (pending: the chunks up to
 * to_seq) to its row with the state ("streaming" for a window, "complete" or
 * "error" for its end), under a new version of the user, and publishes the
 * wake-up. A window is recorded in Redis. 1: written (*res the row's columns,
 * the caller's); 0: the row no longer streams; -1 with err.
 */
int messages_stream_persist(struct cs_server *server, const char *user_id, const char *message_id,
			    long long from_seq, long long to_seq, const char *pending,
			    const char *state, PGresult **res, struct cs_error *err);

/*
 * The Redis side of a streaming message that was deleted: ended as "error"
 * whatever came last, its unwritten chunks dropped with the row (best effort:
 * nothing to do when it was not streaming or Redis is away).
 */
void messages_stream_abandon(struct cs_server *server, const char *user_id, const char *message_id);
/* sweeper.c: the thread that ends abandoned streams (the service's start and stop). */
int messages_sweeper_start(struct cs_server *server, char *err, size_t errlen);
void messages_sweeper_stop(struct cs_server *server);

#endif

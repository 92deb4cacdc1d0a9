/*
 * live.h - live delivery (live.c): long-poll and Server-Sent Events, and the
 * hub they wait on, started and stopped with the service.
 */
#ifndef SYNC_LIVE_H
#define SYNC_LIVE_H

#include "server.h"

/*
 * after: the cursor's version; streamed (len bytes): its map of streamed
 * replies (streams.h), already checked.
 */
void sync_live_long_poll(struct cs_request *req, long long after, const char *streamed,
			 size_t streamed_len, long long limit);
void sync_live_event_stream(struct cs_request *req, long long after, const char *streamed,
			    size_t streamed_len, long long limit);
int sync_live_start(struct cs_server *server, char *err, size_t errlen);
void sync_live_stop(struct cs_server *server);
void sync_live_drain(struct cs_server *server);

#endif

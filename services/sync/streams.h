/*
 * streams.h - what a live request has sent of the user's streamed replies,
 * and the chunks it sends next (docs/API.md, "Live delivery and resume").
 *
 * A live request keeps, per message, the last chunk the client has (from the
 * documents it was sent, whose streamSeq counts, and the chunks since). A
 * chunk is sent only when it is the next one; anything else is caught up from
 * Redis's chunk log (common/stream.h), and a message the client has no
 * document of waits for a page first. The cursor of every event carries the
 * map, so that a reconnect with Last-Event-ID resumes exactly.
 */
#ifndef SYNC_STREAMS_H
#define SYNC_STREAMS_H

#include "bounds.h"
#include "buf.h"
#include "http.h"
#include "hub.h"

/* Messages remembered: the streaming ones (at most the per-user cap) and some that ended. */
#define SYNC_STREAMS_MAX (2 * CS_LIMIT_STREAMS_PER_USER)

struct sync_stream_have {
	char *message_id; /* malloc'd; NULL: a free entry */
	long long seq;    /* the last chunk the client has */
	int final;        /* the client has its final document: no more chunks */
};

struct sync_streams {
	struct sync_stream_have have[SYNC_STREAMS_MAX];
	int need_catchup; /* read Redis: what streams, and the chunks the client lacks */
	int need_page;    /* a chunk of a message the client has no document of */
};

void sync_streams_init(struct sync_streams *s);
void sync_streams_release(struct sync_streams *s);

/* The map from a cursor's text (cursor.h; "" for none); -1 when malformed. */
int sync_streams_from_cursor(struct sync_streams *s, const char *text, size_t len);
/* The cursor of version `after` and the map, in the request's arena. */
const char *sync_streams_cursor(struct cs_request *req, const struct sync_streams *s,
				long long after);
/* The same, appended to out (a cursor per chunk event: not in the long request's arena). */
void sync_streams_append_cursor(struct cs_buf *out, const struct sync_streams *s, long long after);
/* {"messageId", "chatId", "seq", "text"}: a chunk as SSE and long-poll send it. */
void sync_streams_chunk_json(struct cs_buf *out, const struct sync_chunk *chunk);
/* A message document the client is sent (page.c): its stream state and seq. */
void sync_streams_saw(struct sync_streams *s, const char *message_id, const char *state,
		      long long seq, int deleted);

/* One chunk to send; the map already counts it (the cursor of its event includes it). */
typedef int (*sync_streams_emit)(struct cs_request *req, const struct sync_chunk *chunk, void *arg);
/*
 * Sends, through emit, the chunks due after the page of version `after`:
 * those the hub queued for w, and, when needed, those the client lacks from
 * Redis. -1 when emit failed (the client went away); sets need_page when a
 * page must go first, need_catchup again when Redis could not be read.
 */
int sync_streams_deliver(struct sync_streams *s, struct cs_request *req, struct sync_hub *hub,
			 struct sync_waiter *w, long long after, sync_streams_emit emit, void *arg);

#endif

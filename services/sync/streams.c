/*
 * streams.c - a live request's map of what its client has of each streamed
 * reply, carried in its cursors, and the delivery of the chunks after it:
 * from the hub's queue while they come in order, from Redis's chunk log when
 * the client lacks some (a join or reconnect mid-stream, a queue that
 * overflowed, Redis reconnected).
 */
#include "streams.h"
#include "cursor.h"
#include "log.h"
#include "server.h"
#include "stream.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void sync_streams_init(struct sync_streams *s)
{
	memset(s, 0, sizeof(*s));
	s->need_catchup = 1;
}

void sync_streams_release(struct sync_streams *s)
{
	int i;

	for (i = 0; i < SYNC_STREAMS_MAX; i++)
		free(s->have[i].message_id);
	memset(s, 0, sizeof(*s));
}

static struct sync_stream_have *find(struct sync_streams *s, const char *message_id)
{
	int i;

	for (i = 0; i < SYNC_STREAMS_MAX; i++)
		if (s->have[i].message_id && !strcmp(s->have[i].message_id, message_id))
			return &s->have[i];
	return NULL;
}

/*
 * A new entry: a free one, else one that ended (the client has its final
 * document), else the first. NULL when out of memory.
 */
static struct sync_stream_have *add(struct sync_streams *s, const char *message_id, long long seq,
				    int final)
{
	struct sync_stream_have *h = NULL;
	char *id = strdup(message_id);
	int i;

	if (!id)
		return NULL;
	for (i = 0; i < SYNC_STREAMS_MAX && !h; i++)
		if (!s->have[i].message_id)
			h = &s->have[i];
	for (i = 0; i < SYNC_STREAMS_MAX && !h; i++)
		if (s->have[i].final)
			h = &s->have[i];
	if (!h)
		h = &s->have[0];
	free(h->message_id);
	h->message_id = id;
	h->seq = seq;
	h->final = final;
	return h;
}

/* "<seq>\t<message id>\n" per message still streaming: ids hold no control characters. */
int sync_streams_from_cursor(struct sync_streams *s, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *tab = memchr(p, '\t', (size_t)(end - p)), *nl;
		char *seq_end, id[256];
		long long seq;

		if (!tab || !(nl = memchr(tab, '\n', (size_t)(end - tab))) ||
		    (size_t)(nl - tab - 1) >= sizeof(id) || nl == tab + 1)
			return -1;
		seq = strtoll(p, &seq_end, 10);
		if (seq_end != tab || seq < 0)
			return -1;
		memcpy(id, tab + 1, (size_t)(nl - tab - 1));
		id[nl - tab - 1] = '\0';
		if (!find(s, id) && !add(s, id, seq, 0))
			return -1;
		p = nl + 1;
	}
	return 0;
}

void sync_streams_append_cursor(struct cs_buf *out, const struct sync_streams *s, long long after)
{
	struct cs_buf text = CS_BUF_INIT;
	int i;

	for (i = 0; i < SYNC_STREAMS_MAX; i++)
		if (s->have[i].message_id && !s->have[i].final)
			cs_buf_printf(&text, "%lld\t%s\n", s->have[i].seq, s->have[i].message_id);
	cs_cursor_append(out, after, text.data ? text.data : "", text.len);
	cs_buf_release(&text);
}

const char *sync_streams_cursor(struct cs_request *req, const struct sync_streams *s,
				long long after)
{
	struct cs_buf out = CS_BUF_INIT;
	char *cursor;

	sync_streams_append_cursor(&out, s, after);
	cursor = cs_arena_strndup(&req->arena, out.data, out.len);
	cs_buf_release(&out);
	return cursor;
}

void sync_streams_saw(struct sync_streams *s, const char *message_id, const char *state,
		      long long seq, int deleted)
{
	struct sync_stream_have *h = find(s, message_id);
	int final = deleted || strcmp(state, "streaming") != 0;

	if (!h) {
		/* a final one is remembered too: its late chunks must not be sent */
		if (add(s, message_id, seq, final) && !final)
			s->need_catchup = 1; /* the chunks after its window */
		return;
	}
	if (final)
		h->final = 1;
	else if (seq > h->seq)
		h->seq = seq;
}

struct catchup {
	struct cs_request *req;
	struct sync_stream_have *have;
	sync_streams_emit emit;
	void *arg;
	int failed;
	const char *chat_id;
};

static void send_read_chunk(long long seq, const char *text, size_t len, void *arg)
{
	struct catchup *c = arg;
	struct sync_chunk chunk;

	if (c->failed || seq != c->have->seq + 1)
		return;
	chunk.next = NULL;
	chunk.seq = seq;
	chunk.message_id = c->have->message_id;
	chunk.chat_id = c->chat_id;
	chunk.text = text;
	chunk.text_len = len;
	c->have->seq = seq;
	if (c->emit(c->req, &chunk, c->arg) < 0)
		c->failed = 1;
}

#define CATCHUP_PAGE 512 /* chunks per Redis read */

/* The chunks of h after what the client has, up to `upto`, from Redis. -1: emit failed. */
static int catch_up_one(struct sync_streams *s, struct cs_request *req, struct sync_stream_have *h,
			const char *chat_id, long long upto, sync_streams_emit emit, void *arg)
{
	struct catchup c = { req, h, emit, arg, 0, chat_id };

	while (h->seq < upto && !c.failed) {
		long long before = h->seq;
		long long want = upto - h->seq;
		/* pages, so that one Redis reply stays well within REDIS_COMMAND_TIMEOUT_MS */
		int n = cs_stream_read(cs_server_events(req->server), req->user_id, h->message_id,
				       h->seq, (long)(want < CATCHUP_PAGE ? want : CATCHUP_PAGE),
				       send_read_chunk, &c);

		if (n == -1)
			s->need_catchup = 1; /* Redis away: later */
		if (n <= 0 || h->seq == before)
			break;
	}
	return c.failed ? -1 : 0;
}

struct listed {
	char message_id[256];
	char chat_id[256];
	int streaming;
	long long seq, flushed, flushed_version;
};

struct listing {
	struct listed items[SYNC_STREAMS_MAX];
	int count;
};

static void collect(const struct cs_stream_info *info, void *arg)
{
	struct listing *l = arg;
	struct listed *item;

	if (l->count >= SYNC_STREAMS_MAX)
		return;
	item = &l->items[l->count++];
	snprintf(item->message_id, sizeof(item->message_id), "%s", info->message_id);
	snprintf(item->chat_id, sizeof(item->chat_id), "%s", info->chat_id);
	item->streaming = !strcmp(info->state, "streaming") || !strcmp(info->state, "closing");
	item->seq = info->seq;
	item->flushed = info->flushed;
	item->flushed_version = info->flushed_version;
}

/* Every streaming message of the user: the chunks the client lacks. -1: emit failed. */
static int catch_up(struct sync_streams *s, struct cs_request *req, long long after,
		    sync_streams_emit emit, void *arg)
{
	struct listing listing;
	int i;

	listing.count = 0;
	if (cs_stream_list(cs_server_events(req->server), req->user_id, collect, &listing) < 0)
		return 0; /* need_catchup stays: the next wake-up or re-check tries again */
	s->need_catchup = 0;
	for (i = 0; i < listing.count; i++) {
		struct listed *item = &listing.items[i];
		struct sync_stream_have *h = find(s, item->message_id);

		if (h && h->final)
			continue;
		if (!h) {
			if (!item->streaming)
				continue; /* its final document is on its way */
			/*
			 * The client has the newest document up to `after`: the last
			 * window's, unless a newer window is not in its pages yet.
			 */
			if (item->flushed_version > after) {
				s->need_page = 1;
				continue;
			}
			if (!(h = add(s, item->message_id, item->flushed, 0)))
				continue;
		}
		if (catch_up_one(s, req, h, item->chat_id, item->seq, emit, arg) < 0)
			return -1;
	}
	return 0;
}

int sync_streams_deliver(struct sync_streams *s, struct cs_request *req, struct sync_hub *hub,
			 struct sync_waiter *w, long long after, sync_streams_emit emit, void *arg)
{
	struct sync_chunk *list, *c;
	int lost = 0, rc = 0;

	list = sync_hub_take_chunks(hub, w, &lost);
	if (lost)
		s->need_catchup = 1;
	for (c = list; c && rc == 0; c = c->next) {
		struct sync_stream_have *h = find(s, c->message_id);

		if (!h) {
			/* the catch-up decides: from the client's document, or a page first */
			s->need_catchup = 1;
			continue;
		}
		if (h->final || c->seq <= h->seq)
			continue;
		if (c->seq > h->seq + 1 &&
		    catch_up_one(s, req, h, c->chat_id, c->seq - 1, emit, arg) < 0) {
			rc = -1;
			break;
		}
		if (c->seq != h->seq + 1) {
			s->need_catchup = 1;
			continue;
		}
		h->seq = c->seq;
		if (emit(req, c, arg) < 0)
			rc = -1;
	}
	sync_hub_chunks_free(list);
	if (rc == 0 && s->need_catchup && !s->need_page && catch_up(s, req, after, emit, arg) < 0)
		rc = -1;
	return rc;
}

void sync_streams_chunk_json(struct cs_buf *out, const struct sync_chunk *chunk)
{
	cs_buf_puts(out, "{\"messageId\":");
	cs_buf_json_string(out, chunk->message_id, strlen(chunk->message_id));
	cs_buf_puts(out, ",\"chatId\":");
	cs_buf_json_string(out, chunk->chat_id, strlen(chunk->chat_id));
	cs_buf_printf(out, ",\"seq\":%lld,\"text\":", chunk->seq);
	cs_buf_json_string(out, chunk->text, chunk->text_len);
	cs_buf_putc(out, '}');
}

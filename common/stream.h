/*
 * stream.h - the live state of streamed assistant replies, in Redis
 * (docs/API.md, "Streamed assistant replies"; docs/decisions/streaming.md).
 *
 * Postgres holds a streaming message's text up to its last window
 * (stream_seq); Redis holds the rest: per message, a small hash (owner,
 * state, last seq, bytes, the last persisted seq and its version, times) and
 * the chunk log (a list, chunk n at index n - 1 - base), and per user the set
 * of its streaming messages. Each change is one Lua script, so that it is
 * atomic: an append checks seq against the last one (equal or below: a
 * replay; above the next: a gap), bounds the total, appends, and XADDs the
 * chunk into the user's wake-up stream (events.h), which every sync-svc's hub
 * reads and hands to that user's live requests, with no Postgres read.
 *
 * Every key of a user carries the user's shard as a hash tag
 * ("cs:stream:{<shard>}:<message id>"), so that a script's keys share one
 * Redis Cluster slot; stream.c's key functions are the one place that names
 * them.
 *
 * Calls run on a struct cs_events (its connection, lock and timeouts) and
 * return -1 when Redis is unreachable or slow. Results with text hold malloc'd
 * memory: cs_stream_result_release frees it; callbacks borrow their strings
 * for the call only.
 */
#ifndef CS_STREAM_H
#define CS_STREAM_H

#include <stddef.h>

#include "events.h"

enum cs_stream_outcome {
	CS_STREAM_OK,        /* appended (claimed, for cs_stream_claim) */
	CS_STREAM_FLUSH,     /* appended, and a window is due: write pending to the row */
	CS_STREAM_REPLAY,    /* seq already appended: nothing done */
	CS_STREAM_GAP,       /* seq past the next one (claim: not the last one) */
	CS_STREAM_ENDED,     /* the stream is not streaming (state says what it is) */
	CS_STREAM_MISSING,   /* no state in Redis for this user's message */
	CS_STREAM_TOO_LARGE, /* the chunk would take the content past its bound */
	CS_STREAM_BUSY       /* claim: another closer holds it, or (idle) it is not idle */
};

struct cs_stream_result {
	enum cs_stream_outcome outcome;
	long long seq;      /* the last chunk appended */
	long long bytes;    /* the content's length so far, in bytes */
	long long from_seq; /* FLUSH and claim: pending is the chunks after this one */
	char *pending;      /* malloc'd (NUL-terminated), or NULL */
	size_t pending_len;
	char state[16]; /* ENDED: "complete", "error" */
};

#define CS_STREAM_RESULT_INIT                      \
	{                                          \
		CS_STREAM_OK, 0, 0, 0, NULL, 0, "" \
	}

void cs_stream_result_release(struct cs_stream_result *result);

/*
 * The state of a new streaming message (or of one whose state Redis lost,
 * rebuilt from its row): its persisted seq, bytes and version. Nothing is
 * changed when the state exists. now_ms: the time it counts as last active.
 */
int cs_stream_open(struct cs_events *ev, const char *user_id, const char *message_id,
		   const char *chat_id, long long seq, long long bytes, long long version,
		   long long now_ms);

struct cs_stream_append {
	long long seq;
	const char *text;
	size_t len;
	long long now_ms;
	long long flush_ms;  /* a window is due when the last began this long ago */
	long long max_bytes; /* the content's bound, chunks included */
	long stream_maxlen;  /* the wake-up stream's MAXLEN ~ */
};

int cs_stream_append(struct cs_events *ev, const char *user_id, const char *message_id,
		     const struct cs_stream_append *chunk, struct cs_stream_result *out);
/* A window (the chunks up to seq) committed as version: recorded if it is newer. */
int cs_stream_flushed(struct cs_events *ev, const char *user_id, const char *message_id,
		      long long seq, long long version);

/*
 * Takes the stream for closing, so that exactly one closer writes its end:
 * final_seq ≥ 0 is an end by its writer (GAP unless it is the last seq);
 * final_seq < 0 the idle sweeper (BUSY unless no chunk came for idle_ms).
 * OK: out->pending holds the chunks after out->from_seq (the row's seq).
 * A claim older than 10 s (its closer died) can be taken again.
 */
int cs_stream_claim(struct cs_events *ev, const char *user_id, const char *message_id,
		    long long final_seq, long long now_ms, long long idle_ms,
		    struct cs_stream_result *out);
/* The claimed stream's end is written: state "complete" or "error"; the state expires. */
int cs_stream_finish(struct cs_events *ev, const char *user_id, const char *message_id,
		     const char *state);
/* The claimed stream's end could not be written: streaming again. */
int cs_stream_release(struct cs_events *ev, const char *user_id, const char *message_id);

struct cs_stream_info {
	const char *message_id;
	const char *chat_id;
	const char *state;         /* "streaming", "closing", "complete", "error" */
	long long seq;             /* the last chunk appended */
	long long flushed;         /* the last chunk persisted ... */
	long long flushed_version; /* ... by the row's version */
};

/* Calls each for every message of the user in the set of streaming ones; -1: Redis failed. */
int cs_stream_list(struct cs_events *ev, const char *user_id,
		   void (*each)(const struct cs_stream_info *info, void *arg), void *arg);
/*
 * Calls each for the chunks after after_seq (at most max), in order; the
 * number of chunks, or -1 (Redis failed), -2 (no such stream of the user).
 */
int cs_stream_read(struct cs_events *ev, const char *user_id, const char *message_id,
		   long long after_seq, long max,
		   void (*each)(long long seq, const char *text, size_t len, void *arg), void *arg);

#endif

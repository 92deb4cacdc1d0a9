/*
 * stream.c - the Redis side of streamed replies: key names and one Lua
 * script per change (EVALSHA, EVAL when Redis does not have it cached yet).
 */
#include "stream.h"

#include <hiredis/hiredis.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A closed stream's state stays this long, for a retried end and late resumes. */
#define FINISHED_TTL_S "300"

/* clang-format off */
/* KEYS meta, log, user set; ARGV user, message, chat, seq, bytes, version, now */
static const char open_script[] =
	"if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end "
	"redis.call('HSET', KEYS[1], 'user', ARGV[1], 'chat', ARGV[3], 'state', 'streaming', "
	"'seq', ARGV[4], 'base', ARGV[4], 'bytes', ARGV[5], 'flushed', ARGV[4], 'fver', ARGV[6], "
	"'flush_at', ARGV[7], 'at', ARGV[7]) "
	"redis.call('DEL', KEYS[2]) "
	"redis.call('SADD', KEYS[3], ARGV[2]) "
	"return 1";

/* KEYS meta, log, wake stream; ARGV user, seq, text, max bytes, now, flush ms, maxlen, message */
static const char append_script[] =
	"local m = redis.call('HMGET', KEYS[1], 'user', 'state', 'seq', 'bytes', 'base', "
	"'flushed', 'flush_at', 'chat') "
	"if not m[1] or m[1] ~= ARGV[1] then return {'missing'} end "
	"local seq, last, bytes = tonumber(ARGV[2]), tonumber(m[3]), tonumber(m[4]) "
	"if m[2] ~= 'streaming' then return {'ended', last, bytes, m[2]} end "
	"if seq <= last then return {'replay', last, bytes} end "
	"if seq > last + 1 then return {'gap', last, bytes} end "
	"if bytes + string.len(ARGV[3]) > tonumber(ARGV[4]) then return {'too_large', last, bytes} end "
	"bytes = bytes + string.len(ARGV[3]) "
	"redis.call('RPUSH', KEYS[2], ARGV[3]) "
	"local now = tonumber(ARGV[5]) "
	"redis.call('HSET', KEYS[1], 'seq', seq, 'bytes', bytes, 'at', now) "
	"redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[7], '*', 'u', ARGV[1], 'm', ARGV[8], "
	"'c', m[8], 'q', seq, 't', ARGV[3]) "
	"if now - tonumber(m[7]) < tonumber(ARGV[6]) then return {'ok', seq, bytes} end "
	"redis.call('HSET', KEYS[1], 'flush_at', now) "
	"local base, flushed = tonumber(m[5]), tonumber(m[6]) "
	"local from = math.max(flushed - base, 0) "
	"return {'flush', seq, bytes, flushed, "
	"table.concat(redis.call('LRANGE', KEYS[2], from, seq - 1 - base))}";

/* KEYS meta; ARGV seq, version */
static const char flushed_script[] =
	"local f = tonumber(redis.call('HGET', KEYS[1], 'flushed') or -1) "
	"if f >= 0 and tonumber(ARGV[1]) > f then "
	"redis.call('HSET', KEYS[1], 'flushed', ARGV[1], 'fver', ARGV[2]) end "
	"return 1";

/* KEYS meta, log; ARGV user, final seq (-1: idle), now, idle ms */
static const char claim_script[] =
	"local m = redis.call('HMGET', KEYS[1], 'user', 'state', 'seq', 'base', 'flushed', 'at', "
	"'claimed_at', 'bytes') "
	"if not m[1] or m[1] ~= ARGV[1] then return {'missing'} end "
	"local now, seq, final = tonumber(ARGV[3]), tonumber(m[3]), tonumber(ARGV[2]) "
	"if m[2] == 'closing' and now - tonumber(m[7]) < 10000 then return {'busy', seq} end "
	"if m[2] ~= 'streaming' and m[2] ~= 'closing' then return {'ended', seq, 0, m[2]} end "
	"if final >= 0 and final ~= seq then return {'gap', seq} end "
	"if final < 0 and now - tonumber(m[6]) < tonumber(ARGV[4]) then return {'busy', seq} end "
	"redis.call('HSET', KEYS[1], 'state', 'closing', 'claimed_at', now) "
	"local base, flushed = tonumber(m[4]), tonumber(m[5]) "
	"local from = math.max(flushed - base, 0) "
	"return {'ok', seq, tonumber(m[8]), flushed, "
	"table.concat(redis.call('LRANGE', KEYS[2], from, seq - 1 - base))}";

/* KEYS meta, log, user set; ARGV state, message */
static const char finish_script[] =
	"if redis.call('EXISTS', KEYS[1]) == 1 then "
	"redis.call('HSET', KEYS[1], 'state', ARGV[1]) "
	"redis.call('EXPIRE', KEYS[1], " FINISHED_TTL_S ") "
	"redis.call('EXPIRE', KEYS[2], " FINISHED_TTL_S ") end "
	"redis.call('SREM', KEYS[3], ARGV[2]) "
	"return 1";

/* KEYS meta */
static const char release_script[] =
	"if redis.call('HGET', KEYS[1], 'state') == 'closing' then "
	"redis.call('HSET', KEYS[1], 'state', 'streaming') end "
	"return 1";

/* KEYS user set; ARGV the prefix of the user's meta keys */
static const char list_script[] =
	"local out = {} "
	"for _, id in ipairs(redis.call('SMEMBERS', KEYS[1])) do "
	"local m = redis.call('HMGET', ARGV[1] .. id, 'chat', 'state', 'seq', 'flushed', 'fver') "
	"if m[2] then out[#out + 1] = {id, m[1], m[2], m[3], m[4], m[5]} "
	"else redis.call('SREM', KEYS[1], id) end end "
	"return out";

/* KEYS meta, log; ARGV user, after seq, max */
static const char read_script[] =
	"local m = redis.call('HMGET', KEYS[1], 'user', 'base', 'seq') "
	"if not m[1] or m[1] ~= ARGV[1] then return {-1} end "
	"local base, after, last = tonumber(m[2]), tonumber(ARGV[2]), tonumber(m[3]) "
	"if after < base then after = base end "
	"local stop = math.min(last, after + tonumber(ARGV[3])) "
	"local out = {after} "
	"for _, text in ipairs(redis.call('LRANGE', KEYS[2], after - base, stop - 1 - base)) do "
	"out[#out + 1] = text end "
	"return out";
/* clang-format on */

enum { KEY_META, KEY_LOG, KEY_USER_SET, KEY_WAKE, KEY_COUNT };

/* The keys of a user's message (message_id NULL: only the user's). */
struct stream_keys {
	char *names[KEY_COUNT];
};

static void keys_release(struct stream_keys *keys)
{
	int i;

	for (i = 0; i < KEY_COUNT; i++)
		free(keys->names[i]);
}

static char *key_printf(const char *kind, unsigned shard, const char *id)
{
	size_t len = strlen(kind) + strlen(id) + 32;
	char *key = malloc(len);

	if (key)
		snprintf(key, len, "cs:%s:{%u}:%s", kind, shard, id);
	return key;
}

static int keys_make(struct stream_keys *keys, const char *user_id, const char *message_id)
{
	unsigned shard = cs_events_shard(user_id);
	char wake[32];

	memset(keys, 0, sizeof(*keys));
	cs_events_wake_key(shard, wake, sizeof(wake));
	keys->names[KEY_USER_SET] = key_printf("streams", shard, user_id);
	keys->names[KEY_WAKE] = strdup(wake);
	if (message_id) {
		keys->names[KEY_META] = key_printf("stream", shard, message_id);
		keys->names[KEY_LOG] = key_printf("chunks", shard, message_id);
	}
	if (!keys->names[KEY_USER_SET] || !keys->names[KEY_WAKE] ||
	    (message_id && (!keys->names[KEY_META] || !keys->names[KEY_LOG]))) {
		keys_release(keys);
		return -1;
	}
	return 0;
}

#define ARGS_MAX 16

/*
 * EVALSHA of script with keys and args (args_lens NULL: NUL-terminated);
 * EVAL when Redis has not cached it (NOSCRIPT). The reply is the caller's.
 */
static redisReply *run_script(struct cs_events *ev, const char *script, int nkeys,
			      const char *const *keys, int nargs, const char *const *args,
			      const size_t *args_lens)
{
	const char *argv[3 + ARGS_MAX];
	size_t lens[3 + ARGS_MAX];
	unsigned char digest[EVP_MAX_MD_SIZE];
	unsigned int digest_len = 0;
	char sha[2 * EVP_MAX_MD_SIZE + 1], numkeys[12];
	redisReply *reply;
	int argc = 0, i;

	if (nkeys + nargs > ARGS_MAX ||
	    !EVP_Digest(script, strlen(script), digest, &digest_len, EVP_sha1(), NULL))
		return NULL;
	for (i = 0; i < (int)digest_len; i++)
		snprintf(sha + 2 * i, 3, "%02x", digest[i]);
	snprintf(numkeys, sizeof(numkeys), "%d", nkeys);
	argv[argc] = "EVALSHA";
	lens[argc++] = 7;
	argv[argc] = sha;
	lens[argc++] = strlen(sha);
	argv[argc] = numkeys;
	lens[argc++] = strlen(numkeys);
	for (i = 0; i < nkeys; i++, argc++) {
		argv[argc] = keys[i];
		lens[argc] = strlen(keys[i]);
	}
	for (i = 0; i < nargs; i++, argc++) {
		argv[argc] = args[i];
		lens[argc] = args_lens ? args_lens[i] : strlen(args[i]);
	}
	reply = cs_events_command(ev, argc, argv, lens);
	if (reply && reply->type == REDIS_REPLY_ERROR && !strncmp(reply->str, "NOSCRIPT", 8)) {
		freeReplyObject(reply);
		argv[0] = "EVAL";
		lens[0] = 4;
		argv[1] = script;
		lens[1] = strlen(script);
		reply = cs_events_command(ev, argc, argv, lens);
	}
	if (reply && reply->type == REDIS_REPLY_ERROR) {
		freeReplyObject(reply);
		return NULL;
	}
	return reply;
}

static long long element_number(const redisReply *reply, size_t i)
{
	const redisReply *e;

	if (reply->type != REDIS_REPLY_ARRAY || i >= reply->elements)
		return 0;
	e = reply->element[i];
	if (e->type == REDIS_REPLY_INTEGER)
		return e->integer;
	if (e->type == REDIS_REPLY_STRING)
		return strtoll(e->str, NULL, 10);
	return 0;
}

static const redisReply *element_string(const redisReply *reply, size_t i)
{
	if (reply->type != REDIS_REPLY_ARRAY || i >= reply->elements ||
	    reply->element[i]->type != REDIS_REPLY_STRING)
		return NULL;
	return reply->element[i];
}

void cs_stream_result_release(struct cs_stream_result *result)
{
	free(result->pending);
	result->pending = NULL;
	result->pending_len = 0;
}

static const struct {
	const char *word;
	enum cs_stream_outcome outcome;
} outcomes[] = {
	{ "ok", CS_STREAM_OK },
	{ "flush", CS_STREAM_FLUSH },
	{ "replay", CS_STREAM_REPLAY },
	{ "gap", CS_STREAM_GAP },
	{ "ended", CS_STREAM_ENDED },
	{ "missing", CS_STREAM_MISSING },
	{ "too_large", CS_STREAM_TOO_LARGE },
	{ "busy", CS_STREAM_BUSY },
};

/*
 * {outcome, seq, bytes, state or from seq, pending}: append's and claim's
 * replies. pending_at: the index of the from seq (pending follows it).
 */
static int read_result(const redisReply *reply, size_t pending_at, struct cs_stream_result *out)
{
	const redisReply *word = element_string(reply, 0), *text;
	size_t i;

	if (!word)
		return -1;
	for (i = 0; i < sizeof(outcomes) / sizeof(outcomes[0]); i++)
		if (!strcmp(word->str, outcomes[i].word))
			break;
	if (i == sizeof(outcomes) / sizeof(outcomes[0]))
		return -1;
	out->outcome = outcomes[i].outcome;
	out->seq = element_number(reply, 1);
	out->bytes = element_number(reply, 2);
	out->state[0] = '\0';
	if (out->outcome == CS_STREAM_ENDED && (text = element_string(reply, 3)))
		snprintf(out->state, sizeof(out->state), "%s", text->str);
	if ((out->outcome == CS_STREAM_FLUSH || out->outcome == CS_STREAM_OK) &&
	    (text = element_string(reply, pending_at + 1))) {
		out->from_seq = element_number(reply, pending_at);
		out->pending = malloc(text->len + 1);
		if (!out->pending)
			return -1;
		memcpy(out->pending, text->str, text->len);
		out->pending[text->len] = '\0';
		out->pending_len = text->len;
	}
	return 0;
}

/* n as text in buf. */
static const char *number(char buf[24], long long n)
{
	snprintf(buf, 24, "%lld", n);
	return buf;
}

/* Runs script with the keys of kinds (user_id's, message_id's) and args; the reply or NULL. */
static redisReply *call(struct cs_events *ev, const char *script, const char *user_id,
			const char *message_id, const int *kinds, int nkeys,
			const char *const *args, const size_t *lens, int nargs)
{
	struct stream_keys k;
	const char *keys[KEY_COUNT];
	redisReply *reply;
	int i;

	if (nkeys > KEY_COUNT || keys_make(&k, user_id, message_id) < 0)
		return NULL;
	for (i = 0; i < nkeys; i++)
		keys[i] = k.names[kinds[i]];
	reply = run_script(ev, script, nkeys, keys, nargs, args, lens);
	keys_release(&k);
	return reply;
}

/* The same for a script whose reply says nothing: 0, or -1. */
static int call_simple(struct cs_events *ev, const char *script, const char *user_id,
		       const char *message_id, const int *kinds, int nkeys, const char *const *args,
		       int nargs)
{
	redisReply *reply = call(ev, script, user_id, message_id, kinds, nkeys, args, NULL, nargs);

	if (!reply)
		return -1;
	freeReplyObject(reply);
	return 0;
}

/* The same for a script that answers a result (pending_at: read_result's). */
static int call_result(struct cs_events *ev, const char *script, const char *user_id,
		       const char *message_id, const int *kinds, int nkeys, const char *const *args,
		       const size_t *lens, int nargs, struct cs_stream_result *out)
{
	redisReply *reply = call(ev, script, user_id, message_id, kinds, nkeys, args, lens, nargs);
	int rc;

	if (!reply)
		return -1;
	rc = read_result(reply, 3, out);
	freeReplyObject(reply);
	return rc;
}

static const int meta_log_set[] = { KEY_META, KEY_LOG, KEY_USER_SET };
static const int meta_log_wake[] = { KEY_META, KEY_LOG, KEY_WAKE };

int cs_stream_open(struct cs_events *ev, const char *user_id, const char *message_id,
		   const char *chat_id, long long seq, long long bytes, long long version,
		   long long now_ms)
{
	char a[24], b[24], c[24], d[24];
	const char *args[7] = { user_id,          message_id,       chat_id,
				number(a, seq),   number(b, bytes), number(c, version),
				number(d, now_ms) };

	return call_simple(ev, open_script, user_id, message_id, meta_log_set, 3, args, 7);
}

int cs_stream_append(struct cs_events *ev, const char *user_id, const char *message_id,
		     const struct cs_stream_append *chunk, struct cs_stream_result *out)
{
	char a[24], b[24], c[24], d[24], e[24];
	const char *args[8] = { user_id,
				number(a, chunk->seq),
				chunk->text,
				number(b, chunk->max_bytes),
				number(c, chunk->now_ms),
				number(d, chunk->flush_ms),
				number(e, chunk->stream_maxlen),
				message_id };
	size_t lens[8];
	int i;

	for (i = 0; i < 8; i++)
		lens[i] = i == 2 ? chunk->len : strlen(args[i]);
	return call_result(ev, append_script, user_id, message_id, meta_log_wake, 3, args, lens, 8,
			   out);
}

int cs_stream_flushed(struct cs_events *ev, const char *user_id, const char *message_id,
		      long long seq, long long version)
{
	char a[24], b[24];
	const char *args[2] = { number(a, seq), number(b, version) };

	return call_simple(ev, flushed_script, user_id, message_id, meta_log_set, 1, args, 2);
}

int cs_stream_claim(struct cs_events *ev, const char *user_id, const char *message_id,
		    long long final_seq, long long now_ms, long long idle_ms,
		    struct cs_stream_result *out)
{
	char a[24], b[24], c[24];
	const char *args[4] = { user_id, number(a, final_seq < 0 ? -1 : final_seq),
				number(b, now_ms), number(c, idle_ms) };

	return call_result(ev, claim_script, user_id, message_id, meta_log_set, 2, args, NULL, 4,
			   out);
}

int cs_stream_finish(struct cs_events *ev, const char *user_id, const char *message_id,
		     const char *state)
{
	const char *args[2] = { state, message_id };

	return call_simple(ev, finish_script, user_id, message_id, meta_log_set, 3, args, 2);
}

int cs_stream_release(struct cs_events *ev, const char *user_id, const char *message_id)
{
	return call_simple(ev, release_script, user_id, message_id, meta_log_set, 1, NULL, 0);
}

int cs_stream_list(struct cs_events *ev, const char *user_id,
		   void (*each)(const struct cs_stream_info *info, void *arg), void *arg)
{
	static const int user_set[] = { KEY_USER_SET };
	char prefix[48];
	const char *args[1] = { prefix };
	redisReply *reply;
	size_t i;

	snprintf(prefix, sizeof(prefix), "cs:stream:{%u}:", cs_events_shard(user_id));
	reply = call(ev, list_script, user_id, NULL, user_set, 1, args, NULL, 1);
	if (!reply)
		return -1;
	for (i = 0; reply->type == REDIS_REPLY_ARRAY && i < reply->elements; i++) {
		const redisReply *row = reply->element[i];
		const redisReply *id = element_string(row, 0), *chat = element_string(row, 1);
		const redisReply *state = element_string(row, 2);
		struct cs_stream_info info;

		if (!id || !state)
			continue;
		info.message_id = id->str;
		info.chat_id = chat ? chat->str : "";
		info.state = state->str;
		info.seq = element_number(row, 3);
		info.flushed = element_number(row, 4);
		info.flushed_version = element_number(row, 5);
		each(&info, arg);
	}
	freeReplyObject(reply);
	return 0;
}

int cs_stream_read(struct cs_events *ev, const char *user_id, const char *message_id,
		   long long after_seq, long max,
		   void (*each)(long long seq, const char *text, size_t len, void *arg), void *arg)
{
	char a[24], b[24];
	const char *args[3] = { user_id, number(a, after_seq), number(b, max) };
	redisReply *reply =
		call(ev, read_script, user_id, message_id, meta_log_set, 2, args, NULL, 3);
	long long first;
	size_t i;
	int count;

	if (!reply)
		return -1;
	first = element_number(reply, 0);
	if (first < 0) {
		freeReplyObject(reply);
		return -2;
	}
	count = reply->type == REDIS_REPLY_ARRAY ? (int)reply->elements - 1 : 0;
	for (i = 1; i <= (size_t)count; i++) {
		const redisReply *text = element_string(reply, i);

		if (text)
			each(first + (long long)i, text->str, text->len, arg);
	}
	freeReplyObject(reply);
	return count;
}

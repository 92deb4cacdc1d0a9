#!/usr/bin/env python3
"""The benchmark's deterministic data set, as COPY files (text format).

    seed.py OUT_DIR

Writes OUT_DIR/{chats,messages,user_versions}.copy and OUT_DIR/meta.json.
Same code and same constants: byte-for-byte the same files (random.Random
with a fixed seed; nothing reads the clock).

The set (docs/BENCHMARKS.md, "Data"):
- 1,000 data users bench_u0000..bench_u0999, 50 chats each, 1,000 messages
  each (1,000,000 in all, 20 per chat on average): the first chat of every
  user holds 50 messages (the "get a chat with 50 messages" target), the
  other 49 hold 19 or 20.
- Messages alternate user/assistant from position 0. Content lengths are
  log-normal like an assistant chat's: user turns median 60 characters,
  assistant turns median 500, clipped to 1..16,000; some text has line
  breaks and non-ASCII letters. 1 % of assistant turns carry attachments.
- 5,000 live users bench_l0000..bench_l4999 with one empty chat each: the
  subscribers of the live-path benchmark.
- Versions per user: every row its own number, 1..N in time order (a chat,
  then its messages), and user_versions holds N, as a real write path would
  have left them (db/migrations/001_init.sql).
"""
import hashlib
import json
import os
import random
import sys

SEED = 20261124
DATA_USERS = 1000
CHATS_PER_USER = 50
MESSAGES_PER_USER = 1000
LONG_CHAT_MESSAGES = 50
LIVE_USERS = 5000
T0 = 1_700_000_000_000  # ms; the data spans the 180 days after it
SPAN_MS = 180 * 86_400_000

WORDS = (
    "the of and to a in is you that it for on with as are this be at have or "
    "from by not but what all were when we there can an your which their said if "
    "do will each about how up out them then she many some so these would other "
    "into has more her two like him see time could no make than first been its "
    "who now people my made over did down only way find use may water long little "
    "very after words called just where most know get through back much before go "
    "good new write our used me man too any day same right look think also around "
    "another came come work three must because does part even place well such here "
    "take why help put different away again off went old number great tell men say "
    "small every found still between name should home big give air line set own "
    "under read last never us left end along while might next sound below saw "
    "something thought both few those always show large often together asked house "
    "function return value query index table server client request response error "
    "sync cursor version message chat branch token user deploy config database "
    "café naïve résumé über straße déjà größe año niño 🙂 👍 — “quoted” "
).split()


def chat_id(user, k):
    return "c_%016x%016x" % (user, k)


def live_chat_id(user):
    return "c_live%012x" % user


def message_id(user, k, j):
    return "m_%012x%08x%012x" % (user, k, j)


def copy_escape(text):
    return text.replace("\\", "\\\\").replace("\t", "\\t").replace("\n", "\\n").replace("\r", "\\r")


def build_corpus(rng, size):
    """A long text of sentences and paragraphs, sliced for message content."""
    parts = []
    total = 0
    while total < size:
        n = rng.randint(4, 24)
        sentence = " ".join(rng.choice(WORDS) for _ in range(n))
        sentence = sentence[0].upper() + sentence[1:] + rng.choice(".....?!:")
        sep = "\n\n" if rng.random() < 0.08 else ("\n- " if rng.random() < 0.03 else " ")
        parts.append(sentence + sep)
        total += len(sentence) + len(sep)
    return "".join(parts)


def clipped_lognormal(rng, median, sigma, low, high):
    import math

    return max(low, min(high, int(rng.lognormvariate(math.log(median), sigma))))


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    rng = random.Random(SEED)
    corpus = build_corpus(rng, 4_000_000)
    corpus_escaped_ok = len(corpus) - 20_000
    stats = {"messages": 0, "content_bytes": 0, "max_content": 0}
    versions = {}
    long_chats = []
    append_chats = []

    with open(os.path.join(out, "chats.copy"), "w", encoding="utf-8") as chats_f, open(
        os.path.join(out, "messages.copy"), "w", encoding="utf-8"
    ) as msgs_f:
        chat_rows = []
        for u in range(DATA_USERS):
            user = "bench_u%04d" % u
            version = 0
            # 950 messages over chats 1..49: 19 chats of 20, 30 of 19
            counts = [LONG_CHAT_MESSAGES] + [20] * 19 + [19] * 30
            assert sum(counts) == MESSAGES_PER_USER and len(counts) == CHATS_PER_USER
            starts = sorted(rng.randrange(SPAN_MS) for _ in range(CHATS_PER_USER))
            rows = []
            for k in range(CHATS_PER_USER):
                cid = chat_id(u, k)
                ts = T0 + starts[k]
                version += 1
                n_words = rng.randint(2, 8)
                title = " ".join(rng.choice(WORDS) for _ in range(n_words)).capitalize()
                chat_rows.append(
                    "%s\t%s\t%s\t%d\t\\N\t\\N\t[]\tf\t%d\t%d\t%d\n"
                    % (cid, user, copy_escape(title), ts, version, ts, ts)
                )
                t = ts
                for j in range(counts[k]):
                    role = "user" if j % 2 == 0 else "assistant"
                    if role == "user":
                        length = clipped_lognormal(rng, 60, 1.0, 1, 16000)
                    else:
                        length = clipped_lognormal(rng, 500, 0.9, 1, 16000)
                    off = rng.randrange(corpus_escaped_ok - length)
                    space = corpus.find(" ", off, off + 40)
                    if space >= 0:
                        off = space + 1
                    content = corpus[off : off + length].strip() or "ok"
                    attachments = "\\N"
                    if role == "assistant" and rng.random() < 0.01:
                        attachments = copy_escape(
                            json.dumps(
                                [{"type": "image", "url": "https://files.example/%d/%d.png" % (u, j)}]
                            )
                        )
                    t += rng.randint(2_000, 120_000)
                    version += 1
                    stats["messages"] += 1
                    nbytes = len(content.encode("utf-8"))
                    stats["content_bytes"] += nbytes
                    stats["max_content"] = max(stats["max_content"], nbytes)
                    rows.append(
                        "%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\tf\t%d\t%d\t%d\n"
                        % (message_id(u, k, j), cid, user, copy_escape(content), role, t, j,
                           attachments, version, t, t)
                    )
            msgs_f.write("".join(rows))
            versions[user] = version
            long_chats.append(chat_id(u, 0))
            append_chats.append(chat_id(u, 1 + u % (CHATS_PER_USER - 1)))
        for u in range(LIVE_USERS):
            user = "bench_l%04d" % u
            ts = T0 + SPAN_MS
            chat_rows.append(
                "%s\t%s\tLive bench\t%d\t\\N\t\\N\t[]\tf\t1\t%d\t%d\n" % (live_chat_id(u), user, ts, ts, ts)
            )
            versions[user] = 1
        chats_f.write("".join(chat_rows))

    with open(os.path.join(out, "user_versions.copy"), "w") as f:
        for user, v in versions.items():
            f.write("%s\t%d\n" % (user, v))

    digest = hashlib.sha256()
    for name in ("chats.copy", "messages.copy", "user_versions.copy"):
        with open(os.path.join(out, name), "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
    meta = {
        "seed": SEED,
        "sha256": digest.hexdigest(),
        "data_users": DATA_USERS,
        "chats_per_user": CHATS_PER_USER,
        "messages": stats["messages"],
        "chats": DATA_USERS * CHATS_PER_USER + LIVE_USERS,
        "live_users": LIVE_USERS,
        "avg_content_bytes": round(stats["content_bytes"] / stats["messages"], 1),
        "max_content_bytes": stats["max_content"],
        "data_user_version": versions["bench_u0000"],
        "long_chats": long_chats,
        "append_chats": append_chats,
        "live_chats": [live_chat_id(u) for u in range(LIVE_USERS)],
    }
    with open(os.path.join(out, "meta.json"), "w") as f:
        json.dump(meta, f)
    print(json.dumps({k: v for k, v in meta.items() if not isinstance(v, list)}))


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Makes a realistic legacy export (the format of the old system's
scripts/export-data.ts) of any size, deterministically from a seed.

    python3 tests/gen_export.py --chats 1000 --messages-per-chat 20 --output export.json \
        [--users 50] [--seed 1] [--prefix run1_] [--chats-first] [--clean] \
        [--big-every 500] [--summary summary.json]

The rows look like node-postgres printed them: snake_case columns, ISO-8601
timestamps (with Z, with offsets, without a zone, with microseconds),
branches as an array or null, attachments of every JSON type or null,
positions sometimes null, deleted rows, unicode and emoji, a 100 KB message
every --big-every messages. Messages come before their chats unless
--chats-first.

Unless --clean, the file also holds rows an import must refuse or skip:
orphan messages, a "system" role, an id too long, malformed fields, a chat
with an empty title (its messages are then orphans too), a sync status
without a device, and duplicate ids (a later copy, sometimes different). The
--summary file says what an import should report: per table the rows read,
how many are rejected and duplicated, the rejected ids, and the users.

The output is written as it is made: memory stays small for any size.
Standard library only.
"""
import argparse
import datetime
import json
import random
import sys

WORDS = ("the a of to and in is it you that he was for on are with as I his they be at one "
         "have this from or had by word but what some we can out other were all there when up "
         "use your how said an each she which do their time if will way about many then them "
         "write would like so these her long make thing see him two has look more day could go "
         "come did number sound no most people my over know water than call first who may down "
         "side been now find any new work part take get place made live where after back little "
         "only round man year came show every good me give our under name very through just form "
         "café naïve résumé Grüße żółw ΑΒΓ привет 你好 こんにちは 안녕 مرحبا שלום 🙂 👋 🚀 🎉 👩‍💻 🏳️‍🌈 "
         "\"quoted\" back\\slash tab\there new\nline {braces} [brackets] <tag> &amp; 100% $5").split(" ")
ROLES = ("user", "assistant")
BASE = datetime.datetime(2023, 1, 1, tzinfo=datetime.timezone.utc)
BIG_SIZE = 100 * 1024


def iso(ms, style):
    """A timestamp as node-postgres/JSON.stringify would print it, in one of a few spellings
    that all mean the same millisecond."""
    t = BASE + datetime.timedelta(milliseconds=ms)
    if style == 0:
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03dZ" % (t.microsecond // 1000)
    if style == 1:  # an offset
        local = t.astimezone(datetime.timezone(datetime.timedelta(hours=2)))
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d+02:00" % (t.microsecond // 1000)
    if style == 2:  # no zone: UTC
        return t.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d" % (t.microsecond // 1000)
    if style == 3:  # microseconds (truncated to ms by the import) and -05:30
        local = t.astimezone(datetime.timezone(-datetime.timedelta(hours=5, minutes=30)))
        return local.strftime("%Y-%m-%dT%H:%M:%S.") + "%03d999-05:30" % (t.microsecond // 1000)
    return t.strftime("%Y-%m-%d %H:%M:%S.") + "%03d+00" % (t.microsecond // 1000)


def text(rng, low, high):
    return " ".join(rng.choice(WORDS) for _ in range(rng.randint(low, high)))


def attachment(rng, n):
    kinds = (
        None,
        [{"name": "photo.png", "type": "image/png", "url": "https://example.com/p/%d.png" % n}],
        {"name": "notes – ü 📎", "size": n, "tags": ["a", "b"], "meta": {"ok": True, "r": 0.5}},
        [],
        {},
        "just a string \"with quotes\"",
        n,
        -12.75,
        True,
        False,
        {"big": 12345678901234567890, "exp": 1e2, "tenth": 0.1, "neg": -0.0, "nested": [[[{}]]]},
        [1, "two", None, {"three": [3]}],
    )
    return kinds[n % len(kinds)]


class Writer:
    """Writes one top-level array member row by row."""

    def __init__(self, out):
        self.out, self.first_member = out, True
        out.write("{")

    def begin(self, name):
        self.out.write(("" if self.first_member else ",\n") + json.dumps(name) + ":[")
        self.first_member, self.first_row = False, True

    def row(self, obj):
        self.out.write(("\n" if self.first_row else ",\n") + json.dumps(obj, ensure_ascii=False))
        self.first_row = False

    def end(self):
        self.out.write("\n]")

    def close(self, exported_at):
        self.out.write(",\n\"exportedAt\":" + json.dumps(exported_at) + "}\n")


class Export:
    def __init__(self, args):
        self.a = args
        self.p = args.prefix
        self.users = ["%suser_%d" % (self.p, u) for u in range(args.users)]
        self.summary = {t: {"read": 0, "rejected": 0, "duplicates": 0, "rejected_ids": []}
                        for t in ("chats", "messages", "syncStatus")}
        self.big_every = args.big_every

    # ---- ids and relations, computable from indexes alone ----
    def chat_id(self, i):
        return "%sc_%d" % (self.p, i)

    def message_id(self, i, j):
        return "%sm_%d_%d" % (self.p, i, j)

    def user_of(self, i):
        return self.users[i % len(self.users)]

    def parent_of(self, i):
        """Every seventh chat is a branch of an earlier chat of the same user."""
        step = len(self.users)
        return i - step if i % 7 == 3 and i >= step else None

    def children_of(self, i):
        child = i + len(self.users)
        return [self.chat_id(child)] if child < self.a.chats and self.parent_of(child) == i else []

    # ---- rows ----
    def chat(self, i):
        rng = random.Random("%s-chat-%d" % (self.a.seed, i))
        ms = i * 60000 + rng.randint(0, 999)
        parent = self.parent_of(i)
        row = {
            "id": self.chat_id(i),
            "user_id": self.user_of(i),
            "title": text(rng, 1, 8)[:500] or "untitled",
            "timestamp": iso(ms, i % 5),
            "parent_chat_id": self.chat_id(parent) if parent is not None else None,
            "branch_from_message_id": (self.message_id(parent, 0)
                                       if parent is not None and self.a.messages_per_chat else None),
            "branches": self.children_of(i) or (None if i % 4 == 0 else []),
            "created_at": iso(ms, 0),
            "updated_at": iso(ms + 5000, 1),
            "is_deleted": i % 11 == 5,
        }
        if i % 9 == 4:  # an old row without created_at/updated_at: the timestamp stands in
            del row["created_at"], row["updated_at"]
        return row

    def message(self, i, j):
        n = i * max(self.a.messages_per_chat, 1) + j
        rng = random.Random("%s-message-%d-%d" % (self.a.seed, i, j))
        ms = i * 60000 + j * 1000 + rng.randint(0, 999)
        if self.big_every and n % self.big_every == self.big_every - 1:
            content = ("🚀 big message " + text(rng, 50, 50) + " ") * 1
            content = (content * (BIG_SIZE // len(content.encode()) + 1)).encode()[:BIG_SIZE]
            content = content.decode("utf-8", "ignore")
        else:
            content = text(rng, 3, 120)
        return {
            "id": self.message_id(i, j),
            "chat_id": self.chat_id(i),
            "user_id": self.user_of(i),
            "content": content,
            "role": ROLES[j % 2],
            "timestamp": iso(ms, n % 5),
            "position": None if n % 17 == 16 else j,
            "attachments": attachment(rng, n),
            "created_at": iso(ms, 2),
            "updated_at": iso(ms + 250, 3),
            "is_deleted": n % 13 == 12,
        }

    def sync_status(self, u):
        rng = random.Random("%s-status-%d" % (self.a.seed, u))
        ms = 10 ** 9 + rng.randint(0, 10 ** 6)
        return {"id": u + 1, "user_id": self.users[u], "device_id": "device-%d" % (u % 3),
                "last_sync_timestamp": iso(ms, u % 5) if u % 6 else None,
                "updated_at": iso(ms + 1, 0)}

    # ---- the document ----
    def emit(self, w, table, row, rejected=False, duplicate=False):
        w.row(row)
        s = self.summary[table]
        s["read"] += 1
        if rejected:
            s["rejected"] += 1
            s["rejected_ids"].append(row.get("id") if table != "syncStatus" else
                                     "%s/%s" % (row.get("user_id") or "?", row.get("device_id") or "?"))
        if duplicate:
            s["duplicates"] += 1

    def write_chats(self, w):
        w.begin("chats")
        for i in range(self.a.chats):
            self.emit(w, "chats", self.chat(i))
        if not self.a.clean:
            bad = self.chat(10 ** 7)
            bad.update(id=self.p + "c_empty_title", title="")
            self.emit(w, "chats", bad, rejected=True)
            if self.a.chats > 2:
                self.emit(w, "chats", self.chat(1), duplicate=True)  # an identical copy
                other = self.chat(2)
                other["title"] = "a later, different copy"
                self.emit(w, "chats", other, duplicate=True)
        w.end()

    def write_messages(self, w):
        w.begin("messages")
        for i in range(self.a.chats):
            for j in range(self.a.messages_per_chat):
                self.emit(w, "messages", self.message(i, j))
        if not self.a.clean:
            self.write_bad_messages(w)
        w.end()

    def write_bad_messages(self, w):
        def bad(suffix, **changes):
            row = self.message(0, 0)
            row.update(id=self.p + "m_bad_" + suffix, position=None)
            row.update(changes)
            return row

        self.emit(w, "messages", bad("orphan", chat_id=self.p + "c_missing"), rejected=True)
        self.emit(w, "messages", bad("system", role="system"), rejected=True)
        self.emit(w, "messages", bad("position", position="first"), rejected=True)
        self.emit(w, "messages", bad("time", timestamp="yesterday"), rejected=True)
        self.emit(w, "messages", bad("content", content=None), rejected=True)
        self.emit(w, "messages", bad("of_rejected_chat", chat_id=self.p + "c_empty_title"),
                  rejected=True)
        long_id = bad("long")
        long_id["id"] = self.p + "m_" + "x" * 300
        self.emit(w, "messages", long_id, rejected=True)
        if self.a.chats and self.a.messages_per_chat > 1:
            self.emit(w, "messages", self.message(0, 1), duplicate=True)
            changed = self.message(0, 0)
            changed["content"] = "a later, different copy"
            self.emit(w, "messages", changed, duplicate=True)

    def write_sync_status(self, w):
        w.begin("syncStatus")
        for u in range(len(self.users)):
            self.emit(w, "syncStatus", self.sync_status(u))
        if not self.a.clean and self.users:
            self.emit(w, "syncStatus", self.sync_status(0), duplicate=True)
            self.emit(w, "syncStatus", {"id": 0, "user_id": self.users[0], "device_id": None,
                                        "updated_at": iso(0, 0)}, rejected=True)
        w.end()

    def write(self, out):
        w = Writer(out)
        if self.a.chats_first:
            self.write_chats(w)
            self.write_messages(w)
        else:
            self.write_messages(w)
            self.write_chats(w)
        self.write_sync_status(w)
        w.close("2024-06-01T12:00:00.000Z")
        self.summary["users"] = self.users
        return self.summary


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--chats", type=int, default=100)
    parser.add_argument("--messages-per-chat", type=int, default=10)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--seed", default="1")
    parser.add_argument("--prefix", default="", help="prefix of every id and user id")
    parser.add_argument("--big-every", type=int, default=500,
                        help="a 100 KB message every N messages (0: none)")
    parser.add_argument("--chats-first", action="store_true",
                        help="chats before messages (default: messages first)")
    parser.add_argument("--clean", action="store_true", help="no rows to reject or skip")
    parser.add_argument("--output", default="-")
    parser.add_argument("--summary", help="write what an import should report here (JSON)")
    args = parser.parse_args()
    if args.users < 1:
        parser.error("--users must be at least 1")
    out = sys.stdout if args.output == "-" else open(args.output, "w", encoding="utf-8",
                                                      buffering=1 << 20)
    summary = Export(args).write(out)
    if out is not sys.stdout:
        out.close()
    if args.summary:
        with open(args.summary, "w") as f:
            json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Writes the pgbench scripts: each runs the SQL its endpoint runs.

    gen_pgbench.py SQL_DUMP_DIR META_JSON OUT_DIR

The SQL is not copied by hand: it comes from the services' own statement
tables (sql_dump_<service> NAME, built by run.sh from services/*/main.c), and
only the $n parameters are replaced by pgbench expressions that pick a random
seeded user, as the wrk scripts do (tests/bench/endpoint.lua). pgbench runs
them with -M prepared, as the services prepare theirs.

peer_sql.json holds the unbound statements of list and append for the
Node.js peer (tests/bench/peer/server.js), which runs the same SQL.

The append script repeats messages_append's one round trip
(services/messages/messages.c): BEGIN, cs_version_reserve, messages_owner,
messages_insert, COMMIT in one pipeline.
"""
import json
import os
import re
import subprocess
import sys

# pgbench expressions for the endpoints' parameters (see seed.py for the ids)
USER = "('bench_u' || lpad((:u)::text, 4, '0'))"
LONG_CHAT = "('c_' || lpad(to_hex((:u)::int), 16, '0') || '0000000000000000')"
APPEND_CHAT = "('c_' || lpad(to_hex((:u)::int), 16, '0') || lpad(to_hex(1 + (:u)::int % 49), 16, '0'))"
MESSAGE_ID = "('m_pgb_' || (:client_id)::text || '_' || (:r)::text)"
# the same text the wrk and fixed-rate clients append
APPEND_CONTENT = "Could you summarise the trade-offs of the approach above in three short bullet points, please?"


def sql_of(dump_dir, service, name):
    done = subprocess.run([os.path.join(dump_dir, "sql_dump_" + service), name],
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def bind(sql, params):
    """sql with $n replaced by params[n-1] (every $n must have one)."""
    def one(m):
        n = int(m.group(1))
        if n < 1 or n > len(params):
            raise SystemExit("gen_pgbench: $%d has no value in %r" % (n, sql[:60]))
        return params[n - 1]
    return re.sub(r"\$(\d+)", one, sql)


def main():
    dump_dir, meta_path, out = sys.argv[1:4]
    with open(meta_path) as f:
        meta = json.load(f)
    users = meta["data_users"]
    after = meta["data_user_version"] - 20
    header = "\\set u random(0, %d)\n" % (users - 1)
    scripts = {
        "list_chats": header + bind(sql_of(dump_dir, "chats", "chats_list_first"), [USER, "51"]) + ";\n",
        # the two statements GET /api/chats/{id} runs, in one pipeline as it does:
        # the chat and its messages
        "get_chat": header + "\\startpipeline\n"
        + bind(sql_of(dump_dir, "chats", "chats_get_own"), [LONG_CHAT, USER]) + ";\n"
        + bind(sql_of(dump_dir, "chats", "chats_messages"), [LONG_CHAT, USER]) + ";\n"
        + "\\endpipeline\n",
        "delta_sync": header + bind(sql_of(dump_dir, "sync", "sync_changes"),
                                    [USER, str(after), "21"]) + ";\n",
        "append": header
        + "\\set r random(1, 999999999999)\n\\set now 1732450000000\n\\startpipeline\nBEGIN;\n"
        + bind(sql_of(dump_dir, "messages", "cs_version_reserve"), [USER, "1"]) + ";\n"
        + bind(sql_of(dump_dir, "messages", "messages_owner"), [MESSAGE_ID]) + ";\n"
        + bind(sql_of(dump_dir, "messages", "messages_insert"),
               [MESSAGE_ID, APPEND_CHAT, USER, "'%s'" % APPEND_CONTENT, "'user'", ":now", "NULL",
                "NULL", ":now", "NULL"]) + ";\n"
        + "COMMIT;\n\\endpipeline\n",
    }
    os.makedirs(out, exist_ok=True)
    for name, text in scripts.items():
        with open(os.path.join(out, name + ".sql"), "w") as f:
            f.write(text)
    # the same statements, unbound, for the Node.js peer (tests/bench/peer/server.js)
    peer = {"chats_list_first": sql_of(dump_dir, "chats", "chats_list_first")}
    for name in ("cs_version_reserve", "messages_owner", "messages_insert"):
        peer[name] = sql_of(dump_dir, "messages", name)
    with open(os.path.join(out, "peer_sql.json"), "w") as f:
        json.dump(peer, f, indent=1)


if __name__ == "__main__":
    main()

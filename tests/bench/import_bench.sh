#!/usr/bin/env bash
# Import speed: `chatsync import` of a generated legacy export next to
# Postgres's own COPY of the same rows, measured in the same run on the same
# server, and the import's peak RSS (issue 6; docs/decisions/import.md).
#
#   bash tests/bench/import_bench.sh [--chats N] [--messages-per-chat M] [--users U]
#
# Needs a running Postgres that the superuser `postgres` reaches without a
# password (the stack's: deploy/stack.sh up, or the runner's bench stack) and a
# built bin/chatsync. Settings from the environment:
#   PG_PORT 15432       the Postgres to use, on 127.0.0.1
#   CHATSYNC_BIN_DIR    where chatsync is (default <repo>/bin)
#   BENCH_WORK          scratch folder (default: a new one under $TMPDIR); removed after
#   REDIS_URL           wake-ups of the import (default: the stack's; unreachable is fine)
#
# It makes two databases of its own (cs_bench_import_<pid>, cs_bench_copy_<pid>),
# migrated like the real one, and drops them at the end, also on failure:
#   1. generate the export (tests/gen_export.py, --clean: every row is inserted);
#   2. time `chatsync import` into the first one (GNU time: wall time, peak RSS);
#   3. dump the rows the import wrote (COPY TO) and time COPY FROM of exactly those
#      rows into the second one: the same rows, the same indexes and constraints;
# and prints human lines on stderr and, as its last line on stdout, one JSON object:
#   {"bench":"import","rows":…,"file_bytes":…,"import_seconds":…,"import_rows_per_s":…,
#    "copy_seconds":…,"copy_rows_per_s":…,"import_vs_copy":…,"peak_rss_kb":…}
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BIN=$(realpath -m "${CHATSYNC_BIN_DIR:-$REPO/bin}")
PG_PORT=${PG_PORT:-15432}
# a folder of this run only: two benchmarks at once must not share files
WORK=${BENCH_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/chatsync-import-bench.XXXXXX")}
CHATS=20000 PER_CHAT=50 USERS=2000

while [ $# -gt 0 ]; do
	case "$1" in
	--chats) CHATS=$2; shift 2 ;;
	--messages-per-chat) PER_CHAT=$2; shift 2 ;;
	--users) USERS=$2; shift 2 ;;
	*) echo "usage: $0 [--chats N] [--messages-per-chat M] [--users U]" >&2; exit 2 ;;
	esac
done

log() { echo "import-bench: $*" >&2; }
die() { log "error: $*"; exit 1; }

ADMIN_URL=postgresql://postgres@127.0.0.1:$PG_PORT/postgres
IMPORT_DB=cs_bench_import_$$
COPY_DB=cs_bench_copy_$$
db_url() { echo "postgresql://chatsync@127.0.0.1:$PG_PORT/$1"; }
admin() { psql -X -q -v ON_ERROR_STOP=1 -d "$ADMIN_URL" "$@"; }

cleanup() {
	admin -c "DROP DATABASE IF EXISTS $IMPORT_DB" -c "DROP DATABASE IF EXISTS $COPY_DB" \
		2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

make_db() {
	admin -c "CREATE DATABASE $1 OWNER chatsync ENCODING 'UTF8'" || die "could not create database $1"
	DATABASE_URL=$(db_url "$1") bash "$REPO/deploy/migrate.sh" 2>/dev/null || die "could not migrate $1"
}

now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print(float(sys.argv[2]) - float(sys.argv[1]))" "$1" "$(now)"; }

[ -x "$BIN/chatsync" ] || die "$BIN/chatsync not found: run make"
command -v /usr/bin/time >/dev/null || die "GNU time (/usr/bin/time) is needed for the peak RSS"
admin -c "SELECT 1" >/dev/null || die "no Postgres for user postgres on 127.0.0.1:$PG_PORT (set PG_PORT)"
mkdir -p "$WORK"

log "generating $CHATS chats x $PER_CHAT messages ($USERS users)"
python3 "$REPO/tests/gen_export.py" --chats "$CHATS" --messages-per-chat "$PER_CHAT" \
	--users "$USERS" --prefix bench_ --clean --output "$WORK/export.json"
FILE_BYTES=$(stat -c %s "$WORK/export.json")
log "export: $FILE_BYTES bytes"

# 2. the import
make_db "$IMPORT_DB"
admin -c CHECKPOINT
started=$(now)
DATABASE_URL=$(db_url "$IMPORT_DB") REDIS_URL=${REDIS_URL:-redis://127.0.0.1:${REDIS_PORT:-16379}} \
	/usr/bin/time -f "%M" -o "$WORK/rss" "$BIN/chatsync" import "$WORK/export.json" >"$WORK/import.out" \
	|| { cat "$WORK/import.out" >&2; die "chatsync import failed"; }
IMPORT_S=$(elapsed "$started")
PEAK_RSS_KB=$(tail -n1 "$WORK/rss")
sed 's/^/import-bench:   /' "$WORK/import.out" >&2

# 3. the same rows through COPY
for table in chats messages sync_status; do
	psql -X -q -d "$(db_url "$IMPORT_DB")" -c "\\copy $table TO '$WORK/$table.tsv'"
done
ROWS=$(cat "$WORK"/chats.tsv "$WORK"/messages.tsv "$WORK"/sync_status.tsv | wc -l)
rm -f "$WORK/export.json"
make_db "$COPY_DB"
admin -c CHECKPOINT
started=$(now)
psql -X -q -v ON_ERROR_STOP=1 -d "$(db_url "$COPY_DB")" \
	-c "\\copy chats FROM '$WORK/chats.tsv'" \
	-c "\\copy messages FROM '$WORK/messages.tsv'" \
	-c "\\copy sync_status FROM '$WORK/sync_status.tsv'" || die "COPY failed"
COPY_S=$(elapsed "$started")

python3 - "$ROWS" "$FILE_BYTES" "$IMPORT_S" "$COPY_S" "$PEAK_RSS_KB" <<'EOF'
import json, sys
rows, size, import_s, copy_s, rss = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3]), \
    float(sys.argv[4]), int(sys.argv[5])
result = {"bench": "import", "rows": rows, "file_bytes": size,
          "import_seconds": round(import_s, 2), "import_rows_per_s": round(rows / import_s),
          "copy_seconds": round(copy_s, 2), "copy_rows_per_s": round(rows / copy_s),
          "import_vs_copy": round(copy_s / import_s, 3), "peak_rss_kb": rss}
print("import-bench: %(rows)d rows, %(file_bytes)d bytes: import %(import_rows_per_s)d rows/s, "
      "COPY %(copy_rows_per_s)d rows/s (import/COPY %(import_vs_copy).2f), peak RSS %(peak_rss_kb)d KB"
      % result, file=sys.stderr)
print(json.dumps(result))
EOF

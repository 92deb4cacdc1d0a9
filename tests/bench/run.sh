#!/usr/bin/env bash
# make bench: chatsync against the limits of the machine it runs on, measured
# in the same run (docs/BENCHMARKS.md says what each figure is and how).
#
#   bash tests/bench/run.sh              full run (about 15 minutes): writes docs/BENCHMARKS.md
#                                        (last: the browser client, tests/bench/client.mjs, when
#                                        node and chromium are there)
#   BENCH_QUICK=1 bash tests/bench/run.sh   one short round per figure (about 2.5 minutes):
#                                        writes .run/bench/BENCHMARKS.md, not docs/
#
# Other settings: BENCH_DOC (where the report goes), BENCH_RESEED=1 (load the
# seed again even when the database already holds it; the full run always does),
# BENCH_PROFILE=list,get,delta,append or all (also `perf record` the service
# behind each endpoint named during one extra wrk run: what its CPU went to goes
# into the report, perf's own reports to .run/bench/profile/; needs perf),
# BENCH_PG_PORT 19432, BENCH_REDIS_PORT 19379, BENCH_HTTP_PORT 19080,
# BENCH_HTTPS_PORT 19443, BENCH_LIMITS_PORT 19090, BENCH_PEER_PORT 19091 (the
# Node.js peer, tests/bench/peer/: skipped, saying why, without node). Last, the
# cluster section (tests/bench/cluster.sh, about 6 more minutes; its own stack and
# ports, BENCH_CLUSTER_PORT_BASE 19500): BENCH_CLUSTER=0 skips it.
#
# Everything runs on loopback from its own run folder (.run/bench) and its own
# ports; every load is bounded in time; whatever this script starts is stopped
# at the end, by PID, also on failure or Ctrl-C. Never part of `make test`.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$REPO/tests/bench
RUN=$REPO/.run/bench
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] || QUICK=1

export CHATSYNC_RUN_DIR=$RUN
export PG_PORT=${BENCH_PG_PORT:-19432} REDIS_PORT=${BENCH_REDIS_PORT:-19379}
export HTTP_PORT=${BENCH_HTTP_PORT:-19080} HTTPS_PORT=${BENCH_HTTPS_PORT:-19443}
LIMITS_PORT=${BENCH_LIMITS_PORT:-19090}
PEER_PORT=${BENCH_PEER_PORT:-19091}
# sync-svc holds a thread per live request (docs/decisions/live-threads.md)
export SYNC_THREADS=5300 SYNC_THREAD_STACK_KB=64
# The stack's scheduling policy (deploy/stack.sh), which the limits' nginx, fcgi_hello
# and the Node.js peer run with too: a limit or a peer under another policy would
# compare the policies, not the code. The clients keep the kernel's default.
export SCHED_POLICY=${SCHED_POLICY:-batch}
SERVER=(chrt "--$SCHED_POLICY" 0)
# where chrt is refused, stack.sh starts the stack under the inherited policy: so do these
"${SERVER[@]}" true 2>/dev/null || SERVER=()
# nginx's local profile, every user on chatsync (the bench has no legacy
# backend), and the per-address limits (all of the bench's requests and its
# 5,000 streams come from 127.0.0.1) raised out of the way: the bench measures
# the service, not the limits
export NGINX_PROFILE=local ROLLOUT_PERCENT=100 WRITE_RATE_LIMIT=1000000r/s WRITE_RATE_BURST=1000000
export READ_RATE_LIMIT=1000000r/s READ_RATE_BURST=1000000 CONN_PER_ADDRESS=65535
unset CLERK_JWT_ISSUER_DOMAIN JWKS_URL JWKS_FILE JWT_AUDIENCE CLERK_AUTHORIZED_PARTIES

if [ "$QUICK" = 1 ]; then
	ROUNDS=1 SECONDS_PER_LOAD=2 FIXED_SECONDS=2 LIVE_SUBSCRIBERS=5000 LIVE_SECONDS=5 CONNECT_RATE=1000
	STREAM_SECONDS=5
	DOC=${BENCH_DOC:-$RUN/BENCHMARKS.md}
else
	ROUNDS=3 SECONDS_PER_LOAD=6 FIXED_SECONDS=10 LIVE_SUBSCRIBERS=5000 LIVE_SECONDS=60 CONNECT_RATE=500
	STREAM_SECONDS=20
	DOC=${BENCH_DOC:-$REPO/docs/BENCHMARKS.md}
fi
CLIENTS=16         # connections of every closed-loop load (pgbench clients, wrk connections)
POOL_CLIENTS=      # pgbench clients of the second SQL limit: a service's pooled connections (main)
LIVE_RATE=200      # writes per second on the live path (issue 5)
STREAMS=500        # streamed replies at once, each to 2 devices of its user (issue 14)
CHUNK_RATE=30      # chunks per second per stream
FIXED_RATE_MAX=1000 # the fixed-rate client's own budget (about a quarter of a core)
FIXED_WARMUP=1      # whole seconds each fixed-rate load runs before it measures (fixed_rate.py --warmup)

BUILD=$RUN/build
RESULTS=$RUN/results
LIMITS=$RUN/limits
PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U chatsync -d chatsync)
STARTED_STACK=0
LIMITS_PIDS=()
PEER=0 # 1 when the Node.js peer runs

log() { echo "bench: [$((SECONDS))s] $*" >&2; }
die() {
	echo "bench: error: $*" >&2
	exit 1
}

# ---- cleanup: everything started here, by PID ----

stop_pid() {
	local pid=$1
	kill -0 "$pid" 2>/dev/null || return 0
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	kill -KILL "$pid" 2>/dev/null || true
}

cleanup() {
	local rc=$? pid
	trap - EXIT INT TERM
	for pid in "${LIMITS_PIDS[@]}"; do stop_pid "$pid"; done
	if [ -s "$LIMITS/nginx.pid" ]; then stop_pid "$(cat "$LIMITS/nginx.pid")"; fi
	if [ "$STARTED_STACK" = 1 ]; then
		log "stopping the bench stack"
		bash "$REPO/deploy/stack.sh" down >/dev/null 2>&1 || log "warning: stack.sh down failed"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---- build what the bench needs ----

LIBS="$(pkg-config --libs libpq hiredis jansson libcurl openssl) -lfcgi -lpthread -lm"
CFLAGS_BENCH="-O2 -g -std=c11 -D_GNU_SOURCE -I$REPO -I$REPO/common $(pkg-config --cflags libpq hiredis jansson libcurl openssl)"

build_tools() {
	local lib=$REPO/build/obj/libchatsync.a service objs
	[ -f "$lib" ] || die "$lib not found: run make first (make bench does)"
	mkdir -p "$BUILD"
	# shellcheck disable=SC2086
	cc -O2 -Wall -Wextra "$BENCH/fcgi_hello.c" -lfcgi -lpthread -o "$BUILD/fcgi_hello"
	cc -O2 -Wall -Wextra "$BENCH/idle_pages.c" -o "$BUILD/idle_pages"
	# shellcheck disable=SC2086
	cc $CFLAGS_BENCH -I"$REPO/cli" "$BENCH/mint_tokens.c" "$REPO/cli/devkeys.c" "$lib" $LIBS \
		-o "$BUILD/mint_tokens"
	for service in chats messages sync; do
		objs=$(find "$REPO/build/obj/services/$service" -name '*.o' ! -name main.o | sort)
		# shellcheck disable=SC2086
		cc $CFLAGS_BENCH -I"$REPO/services/$service" -DSERVICE_MAIN="\"services/$service/main.c\"" \
			"$BENCH/sql_dump.c" $objs "$lib" $LIBS -o "$BUILD/sql_dump_$service"
	done
}

# ---- the stack ----

start_stack() {
	if bash "$REPO/deploy/stack.sh" status >/dev/null 2>&1; then
		log "a bench stack is already up in $RUN: restarting it with the bench's settings"
		bash "$REPO/deploy/stack.sh" down >/dev/null 2>&1
	fi
	STARTED_STACK=1
	log "starting the stack in $RUN (HTTP $HTTP_PORT, Postgres $PG_PORT, Redis $REDIS_PORT; sync-svc $SYNC_THREADS threads of $SYNC_THREAD_STACK_KB KiB)"
	bash "$REPO/deploy/stack.sh" up >"$RUN/stack-up.log" 2>&1 \
		|| { tail -n 30 "$RUN/stack-up.log" >&2; die "the stack did not start (log: $RUN/stack-up.log)"; }
}

# ---- seed ----

seed_hash() { sha256sum "$BENCH/seed.py" | cut -c1-16; }

seed_files() {
	local want
	want=$(seed_hash)
	if [ -s "$RUN/seed/meta.json" ] && [ "$(cat "$RUN/seed/generator" 2>/dev/null)" = "$want" ]; then
		return 0
	fi
	log "generating the seed files (once per version of seed.py)"
	rm -rf "$RUN/seed"
	python3 "$BENCH/seed.py" "$RUN/seed" >/dev/null
	echo "$want" >"$RUN/seed/generator"
}

# the seed's message columns (a message's stream state takes its default: complete)
SEED_MESSAGE_COLUMNS='(id, chat_id, user_id, content, role, timestamp, position, attachments, is_deleted, version, created_at, updated_at)'

seed_marker() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' "$RUN/seed/meta.json"; }

seed_load() {
	local marker loaded t0 t1 t2 t3
	marker=$(seed_marker)
	loaded=$("${PSQL[@]}" -tA -c "SELECT cursor FROM sync_status WHERE user_id = 'bench_seed' AND device_id = 'seed'")
	if [ "$QUICK" = 1 ] && [ "${BENCH_RESEED:-0}" != 1 ] && [ "$loaded" = "$marker" ] && [ -s "$RUN/seed/copy.json" ]; then
		log "the database holds the seed already (BENCH_RESEED=1 loads it again)"
		cp "$RUN/seed/copy.json" "$RESULTS/copy.json"
		python3 "$BENCH/tool.py" mark-reused "$RESULTS/copy.json"
		return 0
	fi
	log "loading the seed with COPY (1,000,000 messages)"
	record python3 "$BENCH/seed.py" "$RUN/seed"
	record_text "psql -X -h 127.0.0.1 -p $PG_PORT -U chatsync -d chatsync -c \"\\copy messages $SEED_MESSAGE_COLUMNS FROM '$RUN/seed/messages.copy'\"  # chats, user_versions alike"
	"${PSQL[@]}" -c "TRUNCATE chats, messages, user_versions, sync_status"
	t0=$(date +%s.%N)
	"${PSQL[@]}" -c "\\copy chats FROM '$RUN/seed/chats.copy'"
	t1=$(date +%s.%N)
	"${PSQL[@]}" -c "\\copy messages $SEED_MESSAGE_COLUMNS FROM '$RUN/seed/messages.copy'"
	t2=$(date +%s.%N)
	"${PSQL[@]}" -c "\\copy user_versions FROM '$RUN/seed/user_versions.copy'"
	t3=$(date +%s.%N)
	"${PSQL[@]}" -c "VACUUM (ANALYZE) chats, messages, user_versions"
	# a checkpoint now, not in the middle of a measurement
	psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d chatsync -c CHECKPOINT
	"${PSQL[@]}" -c "INSERT INTO sync_status (user_id, device_id, cursor, updated_at) VALUES ('bench_seed', 'seed', '$marker', 0)"
	python3 "$BENCH/tool.py" copy "$RUN/seed/meta.json" "$t0" "$t1" "$t2" "$t3" >"$RESULTS/copy.json"
	cp "$RESULTS/copy.json" "$RUN/seed/copy.json"
}

# users.tsv (data users, for the endpoint loads) and live_users.tsv, with fresh tokens
make_users() {
	local versions=$RUN/versions.tsv
	"${PSQL[@]}" -tA -F $'\t' -c "SELECT user_id, version FROM user_versions WHERE user_id LIKE 'bench\\_%'" >"$versions"
	# two signing processes, one per core, each into its own file
	rm -f "$RUN"/tokens.part.*
	python3 "$BENCH/tool.py" user-ids "$RUN/seed/meta.json" \
		| split -n r/2 --filter="$BUILD/mint_tokens $RUN/dev/dev-key.pem https://chatsync.local 7200 >\$FILE" \
			- "$RUN/tokens.part."
	cat "$RUN"/tokens.part.* >"$RUN/tokens.tsv"
	rm -f "$RUN"/tokens.part.*
	python3 "$BENCH/tool.py" users "$RUN/seed/meta.json" "$RUN/tokens.tsv" "$versions" "$RUN/users.tsv" "$RUN/live_users.tsv"
}

# ---- the limits: nginx alone and nginx -> the smallest FastCGI responder ----

start_limits() {
	local user_directive=""
	[ "$(id -u)" -eq 0 ] && user_directive="user www-data;"
	[ -z "$(ss -Hltn "sport = :$LIMITS_PORT")" ] || die "port $LIMITS_PORT is in use (set BENCH_LIMITS_PORT)"
	rm -rf "$LIMITS"
	mkdir -p "$LIMITS/tmp"
	sed -e "s|@USER_DIRECTIVE@|$user_directive|" -e "s|@DIR@|$LIMITS|g" -e "s|@PORT@|$LIMITS_PORT|" \
		"$BENCH/limits-nginx.conf" >"$LIMITS/nginx.conf"
	"${SERVER[@]}" "$BUILD/fcgi_hello" "$LIMITS/hello.sock" 32 </dev/null >>"$LIMITS/hello.log" 2>&1 9>&- &
	LIMITS_PIDS+=($!)
	echo $! >"$LIMITS/hello.pid"
	for _ in $(seq 50); do [ -S "$LIMITS/hello.sock" ] && break; sleep 0.1; done
	[ -S "$LIMITS/hello.sock" ] || die "fcgi_hello did not start"
	"${SERVER[@]}" nginx -p "$LIMITS" -e "$LIMITS/error.log" -c "$LIMITS/nginx.conf" </dev/null >/dev/null 2>&1 9>&- \
		|| { cat "$LIMITS/error.log" >&2; die "the limits nginx did not start"; }
	for _ in $(seq 50); do [ -s "$LIMITS/nginx.pid" ] && break; sleep 0.1; done
	curl -sf -o /dev/null "http://127.0.0.1:$LIMITS_PORT/fcgi" || die "nginx -> fcgi_hello does not answer"
}

# ---- the Node.js peer (tests/bench/peer/server.js): the same two hot paths, its own database ----

PEER_DB=chatsync_peer
PEER_PSQL=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U chatsync -d "$PEER_DB")

# its own copy of the seed, loaded as the main database's (a quick run keeps it)
peer_db() {
	local marker loaded
	if [ -z "$(psql -X -tA -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
		-c "SELECT 1 FROM pg_database WHERE datname = '$PEER_DB'")" ]; then
		psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres \
			-c "CREATE DATABASE $PEER_DB OWNER chatsync ENCODING 'UTF8'"
	fi
	DATABASE_URL=postgresql://chatsync@127.0.0.1:$PG_PORT/$PEER_DB bash "$REPO/deploy/migrate.sh" >/dev/null 9>&- \
		|| die "the peer's migrations failed"
	marker=$(seed_marker)
	loaded=$("${PEER_PSQL[@]}" -tA -c "SELECT cursor FROM sync_status WHERE user_id = 'bench_seed' AND device_id = 'seed'")
	if [ "$QUICK" = 1 ] && [ "${BENCH_RESEED:-0}" != 1 ] && [ "$loaded" = "$marker" ]; then
		return 0
	fi
	log "loading the seed into the peer's database $PEER_DB"
	"${PEER_PSQL[@]}" -c "TRUNCATE chats, messages, user_versions, sync_status"
	"${PEER_PSQL[@]}" -c "\\copy chats FROM '$RUN/seed/chats.copy'"
	"${PEER_PSQL[@]}" -c "\\copy messages $SEED_MESSAGE_COLUMNS FROM '$RUN/seed/messages.copy'"
	"${PEER_PSQL[@]}" -c "\\copy user_versions FROM '$RUN/seed/user_versions.copy'"
	"${PEER_PSQL[@]}" -c "VACUUM (ANALYZE) chats, messages, user_versions"
	psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d "$PEER_DB" -c CHECKPOINT
	"${PEER_PSQL[@]}" -c "INSERT INTO sync_status (user_id, device_id, cursor, updated_at) VALUES ('bench_seed', 'seed', '$marker', 0)"
}

start_peer() {
	local dir=$BENCH/peer why=""
	command -v node >/dev/null && command -v npm >/dev/null || why="no node or npm"
	if [ -z "$why" ] && [ ! -d "$dir/node_modules" ]; then
		log "peer: npm ci in tests/bench/peer"
		(cd "$dir" && timeout 300 npm ci --no-audit --no-fund >"$RUN/peer-npm.log" 2>&1) || why="npm ci failed (.run/bench/peer-npm.log)"
	fi
	[ -z "$why" ] || [ -z "$(ss -Hltn "sport = :$PEER_PORT")" ] || why="port $PEER_PORT is in use (set BENCH_PEER_PORT)"
	if [ -n "$why" ]; then
		log "Node.js peer: skipped: $why"
		python3 -c 'import json,sys; print(json.dumps({"skipped": sys.argv[1]}))' "$why" >"$RESULTS/peer.json"
		return 0
	fi
	peer_db
	PEER_PORT=$PEER_PORT PEER_SQL=$RUN/pgbench/peer_sql.json \
		PEER_DATABASE_URL=postgresql://chatsync@127.0.0.1:$PG_PORT/$PEER_DB \
		"${SERVER[@]}" node "$dir/server.js" </dev/null >>"$RUN/peer.log" 2>&1 9>&- &
	LIMITS_PIDS+=($!)
	echo $! >"$RUN/peer.pid"
	for _ in $(seq 100); do
		curl -s -o /dev/null "http://127.0.0.1:$PEER_PORT/" && break
		sleep 0.1
	done
	curl -s -o /dev/null "http://127.0.0.1:$PEER_PORT/" || { tail -n 20 "$RUN/peer.log" >&2; die "the Node.js peer did not start"; }
	record_text "PEER_PORT=$PEER_PORT PEER_SQL=$RUN/pgbench/peer_sql.json PEER_DATABASE_URL=postgresql://chatsync@127.0.0.1:$PG_PORT/$PEER_DB ${SERVER[*]} node tests/bench/peer/server.js"
	PEER=1
}

# ---- load runners: each writes one JSON file into RESULTS ----

# record VAR=VALUE... COMMAND...: the command as run, once, into commands.txt
# (docs/BENCHMARKS.md lists them), with the repo and run folder shortened.
record() {
	local line
	line=$(printf '%q ' "$@")
	record_text "${line% }"
}
record_text() {
	local line=$1
	line=${line//$RUN/.run\/bench}
	line=${line//$REPO\//}
	grep -qxF -- "$line" "$RESULTS/commands.txt" 2>/dev/null || echo "$line" >>"$RESULTS/commands.txt"
}

# CPU time of each program during one load, per request (docs/BENCHMARKS.md)
cpu_before() { python3 "$BENCH/tool.py" cpu-snap "$RUN/cpu.before" "$RUN"; }
cpu_after() {
	python3 "$BENCH/tool.py" cpu-snap "$RUN/cpu.after" "$RUN"
	python3 "$BENCH/tool.py" cpu-add "$RESULTS/$1.json" "$RUN/cpu.before" "$RUN/cpu.after" "$RUN/client.time"
}

run_pgbench() { # NAME SCRIPT [CLIENTS]
	local name=$1 out
	local cmd=(pgbench -n -M prepared -c "${3:-$CLIENTS}" -j 2 -T "$SECONDS_PER_LOAD" -h 127.0.0.1 -p "$PG_PORT"
		-U chatsync -f "$2" chatsync)
	record "${cmd[@]}"
	cpu_before
	out=$(timeout $((SECONDS_PER_LOAD + 30)) /usr/bin/time -f '%U %S' -o "$RUN/client.time" "${cmd[@]}" 2>&1) || {
		echo "$out" >&2
		die "pgbench $name failed"
	}
	python3 "$BENCH/tool.py" pgbench "$name" <<<"$out" >"$RESULTS/$name.json"
	cpu_after "$name"
}

run_wrk() { # NAME URL [ENDPOINT]: ENDPOINT given: endpoint.lua with the seeded users
	local name=$1 url=$2 endpoint=${3:-} out script=$BENCH/wrk_report.lua
	[ -z "$endpoint" ] || script=$BENCH/endpoint.lua
	local cmd=(env BENCH_ENDPOINT="$endpoint" BENCH_USERS="$RUN/users.tsv"
		wrk -t2 -c"$CLIENTS" -d"${SECONDS_PER_LOAD}s" --timeout 10s -s "$script" "$url")
	[ -n "$endpoint" ] || cmd=("${cmd[@]:3}")
	record "${cmd[@]}"
	cpu_before
	out=$(timeout $((SECONDS_PER_LOAD + 30)) /usr/bin/time -f '%U %S' -o "$RUN/client.time" "${cmd[@]}") \
		|| die "wrk $name failed"
	python3 "$BENCH/tool.py" wrk "$name" <<<"$out" >"$RESULTS/$name.json"
	cpu_after "$name"
}

# Each endpoint's mean answer size (ANSWER_BYTES[endpoint]), for a FastCGI
# ceiling that carries as many bytes through nginx as the endpoint does.
declare -A ANSWER_BYTES
answer_sizes() {
	local endpoint
	for endpoint in list get delta append; do
		ANSWER_BYTES[$endpoint]=$(python3 "$BENCH/answer_size.py" --port "$HTTP_PORT" \
			--endpoint "$endpoint" --users "$RUN/users.tsv") || die "answer_size.py $endpoint failed"
		[[ ${ANSWER_BYTES[$endpoint]} =~ ^[0-9]+$ ]] \
			|| die "answer_size.py $endpoint printed '${ANSWER_BYTES[$endpoint]}', not a byte count"
		echo "{\"bytes\": ${ANSWER_BYTES[$endpoint]}}" >"$RESULTS/answer_$endpoint.json"
	done
	record python3 "$BENCH/answer_size.py" --port "$HTTP_PORT" --endpoint ENDPOINT --users "$RUN/users.tsv"
}

run_fixed() { # ENDPOINT: at half the median closed-loop rate, at most FIXED_RATE_MAX
	local endpoint=$1 port=${2:-$HTTP_PORT} name=${3:-fixed_$1} rate
	rate=$(python3 "$BENCH/tool.py" fixed-rate "$FIXED_RATE_MAX" "$RESULTS"/wrk_"${endpoint}"_*.json)
	local cmd=(python3 "$BENCH/fixed_rate.py" --port "$port" --endpoint "$endpoint"
		--users "$RUN/users.tsv" --rate "$rate" --duration "$FIXED_SECONDS" --warmup "$FIXED_WARMUP"
		--series "$RESULTS/$name.series")
	record "${cmd[@]}"
	timeout $((FIXED_WARMUP + FIXED_SECONDS + 60)) "${cmd[@]}" >"$RESULTS/$name.json" || die "fixed_rate.py $name failed"
}

run_redis() { # NAME COMMAND...
	local name=$1 out
	shift
	local cmd=(redis-benchmark -h 127.0.0.1 -p "$REDIS_PORT" -c "$CLIENTS" -n "$REDIS_REQUESTS" --csv "$@")
	record "${cmd[@]}"
	out=$(timeout 60 "${cmd[@]}") || die "redis-benchmark $name failed"
	python3 "$BENCH/tool.py" redis "$name" <<<"$out" >"$RESULTS/$name.json"
}

# BENCH_PROFILE's endpoints, checked before any load: a name that is not one,
# or a perf that cannot record the whole machine, stops the run at its start
PROFILED=""
check_profile() {
	local endpoint
	PROFILED=${BENCH_PROFILE:-}
	[ "$PROFILED" != all ] || PROFILED=list,get,delta,append
	[ -n "$PROFILED" ] || return 0
	for endpoint in ${PROFILED//,/ }; do
		case $endpoint in
		list | get | delta | append) ;;
		*) die "BENCH_PROFILE: all, or a comma list of list, get, delta, append (not '$endpoint')" ;;
		esac
	done
	command -v perf >/dev/null || die "BENCH_PROFILE needs perf (apt-get install linux-perf)"
	perf record -q -a -o /dev/null -- true >/dev/null 2>&1 \
		|| die "BENCH_PROFILE: perf cannot record the whole machine here (perf_event_paranoid?)"
}

service_of() { # ENDPOINT -> the service that serves it
	case $1 in
	list | get) echo chats ;;
	append) echo messages ;;
	delta) echo sync ;;
	esac
}

profile() { # ENDPOINT: perf record on the service that serves it, during one extra wrk run
	local endpoint=$1 service pid sleep_s=$((SECONDS_PER_LOAD > 3 ? SECONDS_PER_LOAD - 2 : 1))
	service=$(service_of "$endpoint")
	pid=$(cat "$RUN/pid/$service.pid")
	mkdir -p "$RUN/profile"
	log "profiling $service-svc (pid $pid) under the $endpoint load"
	# the binaries have no frame pointers: DWARF call graphs; the whole machine
	# (attaching to sync-svc's 5,300 threads one by one takes longer than the load)
	timeout $((SECONDS_PER_LOAD + 30)) perf record -q -a --call-graph dwarf,16384 -F 299 \
		-o "$RUN/profile/$endpoint.data" -- sleep "$sleep_s" >/dev/null 2>&1 &
	local perf_pid=$!
	record_text "perf record -q -a --call-graph dwarf,16384 -F 299 -o $RUN/profile/$endpoint.data -- sleep $sleep_s  # beside one more wrk load of $endpoint"
	run_wrk "profile_$endpoint" "http://127.0.0.1:$HTTP_PORT" "$endpoint"
	wait "$perf_pid" || true
	record_text "python3 tests/bench/profile_share.py $RUN/profile/$endpoint.data \$(cat .run/bench/pid/$service.pid)"
	# a profile that failed is reported, not fatal: the run's other figures stand
	if ! python3 "$BENCH/profile_share.py" "$RUN/profile/$endpoint.data" "$pid" \
		>"$RESULTS/share_$endpoint.json" 2>"$RUN/profile/$endpoint.err"; then
		rm -f "$RESULTS/share_$endpoint.json"
		log "warning: no profile of $endpoint: $(tail -n 1 "$RUN/profile/$endpoint.err")"
		return 0
	fi
	{
		echo "# $service-svc under the $endpoint load: share of samples by library, then by function"
		echo "# with its callees (perf report --children), from $RUN/profile/$endpoint.data"
		perf report -i "$RUN/profile/$endpoint.data" --pid "$pid" --percentage relative --no-children \
			--sort dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -8
		perf report -i "$RUN/profile/$endpoint.data" --pid "$pid" --percentage relative --children \
			--sort symbol --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -60
	} >"$RUN/profile/$endpoint.txt" || true
	log "profile: $RUN/profile/$endpoint.txt"
}

run_import() {
	if [ ! -f "$BENCH/import_bench.sh" ]; then
		echo '{"pending": true}' >"$RESULTS/import.json"
		return 0
	fi
	# a tenth of the size in a quick run (about 100,000 rows)
	local cmd=(env BENCH_WORK="$RUN/import-work" bash "$BENCH/import_bench.sh")
	[ "$QUICK" = 0 ] || cmd+=(--chats 2000 --messages-per-chat 50 --users 200)
	log "import: ${cmd[*]#"$REPO/"}"
	record "${cmd[@]}"
	local out
	if ! out=$(timeout 300 "${cmd[@]}" 2>"$RUN/import_bench.err"); then
		tail -n 20 "$RUN/import_bench.err" >&2
		echo '{"failed": true, "why": "import_bench.sh failed: see .run/bench/import_bench.err"}' >"$RESULTS/import.json"
		return 0
	fi
	python3 "$BENCH/tool.py" last-json <<<"$out" >"$RESULTS/import.json"
}

# The browser client's figures (tests/bench/client.mjs): Debian's Chromium
# through playwright-core of tests/e2e/, against this stack. Skipped, saying
# why, without node or chromium; a failure is reported, not fatal.
run_client() {
	local chromium=${CHROMIUM:-/usr/bin/chromium} why=""
	command -v node >/dev/null || why="no node"
	[ -n "$why" ] || [ -x "$chromium" ] || why="no Chromium at $chromium (apt-get install chromium)"
	if [ -n "$why" ]; then
		log "browser client: skipped: $why"
		python3 -c 'import json,sys; print(json.dumps({"skipped": sys.argv[1]}))' "$why" >"$RESULTS/client.json"
		return 0
	fi
	local cmd=(env CHATSYNC_HTTP="http://127.0.0.1:$HTTP_PORT" CHROMIUM="$chromium" node "$BENCH/client.mjs"
		--chats 1000 --reloads 5 --writes 50 --out "$RESULTS/client.json")
	log "browser client: size, a 1,000-chat replica's first render, write -> other device (Chromium)"
	record "${cmd[@]}"
	if ! timeout 300 "${cmd[@]}" 2>"$RUN/client_bench.err"; then
		tail -n 20 "$RUN/client_bench.err" >&2
		[ -s "$RESULTS/client.json" ] ||
			echo '{"failed": "client.mjs did not finish: see .run/bench/client_bench.err"}' >"$RESULTS/client.json"
	fi
}

machine_json() {
	python3 "$BENCH/tool.py" machine "$REPO" "$QUICK" "$ROUNDS" "$SECONDS_PER_LOAD" "$FIXED_SECONDS" \
		"$LIVE_SECONDS" >"$RESULTS/machine.json"
	# what a process idle for seconds pays to touch its memory again (the fixed-rate warm-up's why)
	record "$BUILD/idle_pages" 64
	timeout 60 "$BUILD/idle_pages" 64 >"$RESULTS/idle_pages.json" || die "idle_pages failed"
}

# ---- main ----

main() {
	local t_start=$SECONDS round endpoint script
	[ -x "$REPO/bin/sync-svc" ] || die "bin/ has no release build: run make (make bench does)"
	check_profile
	# pgbench once more with as many clients as a service has pooled connections:
	# at 16, Postgres's backends lose more to each other on two cores than the
	# services' few do, and the better of the two is the SQL's limit
	[ -x "$REPO/bin/chatsync" ] || die "bin/ has no chatsync: run make (make bench does)"
	POOL_CLIENTS=${DB_POOL_SIZE:-$("$REPO/bin/chatsync" config | awk -F'`' '$2 == "DB_POOL_SIZE" {print $4}' || true)}
	[[ $POOL_CLIENTS =~ ^[1-9][0-9]*$ ]] \
		|| die "DB_POOL_SIZE is '$POOL_CLIENTS' (from the environment or bin/chatsync config): not a pool size"
	mkdir -p "$RUN"
	rm -rf "$RESULTS"
	mkdir -p "$RESULTS"
	record env CHATSYNC_RUN_DIR="$RUN" PG_PORT="$PG_PORT" REDIS_PORT="$REDIS_PORT" HTTP_PORT="$HTTP_PORT" \
		HTTPS_PORT="$HTTPS_PORT" SYNC_THREADS="$SYNC_THREADS" SYNC_THREAD_STACK_KB="$SYNC_THREAD_STACK_KB" \
		NGINX_PROFILE=local ROLLOUT_PERCENT=100 WRITE_RATE_LIMIT="$WRITE_RATE_LIMIT" \
		WRITE_RATE_BURST="$WRITE_RATE_BURST" READ_RATE_LIMIT="$READ_RATE_LIMIT" \
		READ_RATE_BURST="$READ_RATE_BURST" CONN_PER_ADDRESS="$CONN_PER_ADDRESS" SCHED_POLICY="$SCHED_POLICY" \
		bash deploy/stack.sh up
	bash "$REPO/deploy/install-deps.sh" --check # make bench installs first (make deps)
	build_tools
	start_stack
	machine_json
	seed_files
	seed_load
	python3 "$BENCH/gen_pgbench.py" "$BUILD" "$RUN/seed/meta.json" "$RUN/pgbench"
	make_users
	start_limits
	start_peer
	REDIS_REQUESTS=$((QUICK == 1 ? 50000 : 200000))
	answer_sizes

	# Each endpoint right after its limit, round after round, so that the noise
	# of this machine (other people's builds and tests) falls on both alike.
	for round in $(seq "$ROUNDS"); do
		log "round $round/$ROUNDS: limits and endpoints, ${SECONDS_PER_LOAD}s each"
		run_wrk "nginx_$round" "http://127.0.0.1:$LIMITS_PORT/hello"
		run_wrk "fcgi_$round" "http://127.0.0.1:$LIMITS_PORT/fcgi"
		run_wrk "fcgi_big_$round" "http://127.0.0.1:$LIMITS_PORT/fcgi?bytes=36000"
		# the same over kept connections, as nginx/upstreams.conf serves the services
		run_wrk "fcgi_keep_$round" "http://127.0.0.1:$LIMITS_PORT/fcgi_keep"
		for endpoint in list get delta append; do
			case $endpoint in
			list) script=list_chats ;;
			get) script=get_chat ;;
			delta) script=delta_sync ;;
			append) script=append ;;
			esac
			# the endpoint's FastCGI ceiling: kept connections, its answer size
			run_wrk "fcgi_sized_${endpoint}_$round" \
				"http://127.0.0.1:$LIMITS_PORT/fcgi_keep?bytes=${ANSWER_BYTES[$endpoint]}"
			run_pgbench "pg_${endpoint}_$round" "$RUN/pgbench/$script.sql"
			run_pgbench "pg_pool_${endpoint}_$round" "$RUN/pgbench/$script.sql" "$POOL_CLIENTS"
			run_wrk "wrk_${endpoint}_$round" "http://127.0.0.1:$HTTP_PORT" "$endpoint"
			# the Node.js peer right after chatsync, under the same wrk settings
			if [ "$PEER" = 1 ] && { [ "$endpoint" = list ] || [ "$endpoint" = append ]; }; then
				run_wrk "peer_${endpoint}_$round" "http://127.0.0.1:$PEER_PORT" "$endpoint"
			fi
		done
	done
	log "fixed-rate latency, ${FIXED_SECONDS}s per endpoint"
	# A checkpoint now: Postgres starts one every 5 minutes, and one that starts
	# or ends inside these loads stalls them, which is the checkpoint's timing,
	# not the endpoint's. (The first writes after this one log whole pages: a
	# cost every run now pays alike, in append's first seconds.)
	record_text "psql -X -h 127.0.0.1 -p $PG_PORT -U postgres -d chatsync -c CHECKPOINT  # before the fixed-rate loads"
	psql -X -q -h 127.0.0.1 -p "$PG_PORT" -U postgres -d chatsync -c CHECKPOINT
	for endpoint in list get delta append; do
		run_fixed "$endpoint"
		# the peer at chatsync's rate, so that the two p99 compare
		[ "$PEER" = 0 ] || [ "$endpoint" = get ] || [ "$endpoint" = delta ] \
			|| run_fixed "$endpoint" "$PEER_PORT" "peer_fixed_$endpoint"
	done
	if [ "$PEER" = 1 ]; then
		stop_pid "$(cat "$RUN/peer.pid")"
		PEER=0
		sleep 2 # its backends end, not inside the next load
	fi
	log "redis-benchmark XADD / XREAD"
	run_redis redis_xadd XADD bench:stream MAXLEN '~' 100000 '*' u bench_u0001 v 1
	run_redis redis_xread XREAD COUNT 10 STREAMS bench:stream 0-0
	redis-cli -h 127.0.0.1 -p "$REDIS_PORT" DEL bench:stream >/dev/null

	log "live path: $LIVE_SUBSCRIBERS SSE subscribers, $LIVE_RATE writes/s for ${LIVE_SECONDS}s"
	local live=(python3 "$BENCH/live.py" --port "$HTTP_PORT" --users "$RUN/live_users.tsv"
		--subscribers "$LIVE_SUBSCRIBERS" --rate "$LIVE_RATE" --duration "$LIVE_SECONDS"
		--connect-rate "$CONNECT_RATE" --sync-pid "$(cat "$RUN/pid/sync.pid")"
		--nginx-pid "$(cat "$RUN/pid/nginx.pid")" --threads "$SYNC_THREADS" --stack-kb "$SYNC_THREAD_STACK_KB")
	local shown
	shown=$(printf '%q ' "${live[@]}")
	shown=${shown/--sync-pid $(cat "$RUN/pid/sync.pid")/--sync-pid \$(cat .run/bench/pid/sync.pid)}
	shown=${shown/--nginx-pid $(cat "$RUN/pid/nginx.pid")/--nginx-pid \$(cat .run/bench/pid/nginx.pid)}
	record_text "${shown% }"
	timeout $((LIVE_SECONDS + 200)) "${live[@]}" \
		>"$RESULTS/live.json" || die "the live benchmark failed"

	log "streamed replies: $STREAMS streams x $CHUNK_RATE chunks/s to $((STREAMS * 2)) devices for ${STREAM_SECONDS}s"
	local streams=(python3 "$BENCH/streams.py" --port "$HTTP_PORT" --pg-port "$PG_PORT"
		--users "$RUN/live_users.tsv" --streams "$STREAMS" --devices-per-user 2
		--chunk-rate "$CHUNK_RATE" --duration "$STREAM_SECONDS" --connect-rate "$CONNECT_RATE")
	record "${streams[@]}"
	cpu_before
	timeout $((STREAM_SECONDS + 300)) /usr/bin/time -f '%U %S' -o "$RUN/client.time" "${streams[@]}" \
		>"$RESULTS/streams.json" || die "the streams benchmark failed"
	cpu_after streams

	for endpoint in ${PROFILED//,/ }; do profile "$endpoint"; done
	run_import
	run_client
	echo "{\"elapsed_s\": $((SECONDS - t_start))}" >"$RESULTS/elapsed.json"
	python3 "$BENCH/report.py" "$RESULTS" "$DOC"
	log "done in $((SECONDS - t_start)) s; report: $DOC"
	if [ "${BENCH_CLUSTER:-1}" != 0 ]; then
		# the cluster section on its own stack: this one stops first (2 cores)
		bash "$REPO/deploy/stack.sh" down >/dev/null 2>&1 || log "warning: stack.sh down failed"
		STARTED_STACK=0
		BENCH_DOC=$DOC bash "$BENCH/cluster.sh" || die "the cluster section failed (tests/bench/cluster.sh)"
	fi
}

main "$@"

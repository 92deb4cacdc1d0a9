#!/usr/bin/env bash
# make bench's cluster section (issue 15, point 5): the cluster stack
# (deploy/stack.sh cluster: service nodes on 127.0.0.2/.3 behind one nginx, a
# Redis Cluster of 3 masters + 3 replicas, a Postgres streaming replica) on
# this one machine.
#
#   bash tests/bench/cluster.sh      run.sh calls it last unless BENCH_CLUSTER=0;
#                                    alone, it rewrites only the cluster section
#
# 1. list and append throughput (wrk, as run.sh's) with 1 service node, then
#    with 2 (node 2 added to the running stack: `CLUSTER_NODES=2 stack.sh
#    cluster up` starts it and reloads nginx);
# 2. the live path (live.py) with 10,000 SSE subscribers, which nginx's round
#    robin spreads over the 2 sync-svc nodes (5,000 each), writes at 200/s.
#
# Its own run folder (.run/bench-cluster) and ports: BENCH_CLUSTER_PORT_BASE
# (19500) +32 Postgres, +33 replica, +50..55 Redis (bus +150..155), +80 HTTP,
# +43 HTTPS, +90..93 the services on each node's address. BENCH_QUICK=1: one
# round of 2 s, live 5 s, report into .run/bench-cluster/BENCHMARKS.md.
# The seed is small and made by SQL (the figures need chats, not messages):
# 1,000 users with 50 chats each, 10,000 live users with one chat each.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BENCH=$REPO/tests/bench
RUN=$REPO/.run/bench-cluster
QUICK=${BENCH_QUICK:-0}
[ "$QUICK" = 0 ] || QUICK=1
BASE=${BENCH_CLUSTER_PORT_BASE:-19500}

export CHATSYNC_RUN_DIR=$RUN
export PG_PORT=$((BASE + 32)) PG_REPLICA_PORT=$((BASE + 33)) REDIS_PORT=$((BASE + 50))
export HTTP_PORT=$((BASE + 80)) HTTPS_PORT=$((BASE + 43)) SERVICE_PORT_BASE=$((BASE + 90))
# per node: a thread per live request (5,000 each) and some for the rest
export SYNC_THREADS=5300 SYNC_THREAD_STACK_KB=64
# 10,000 streams are 20,000 nginx connections: 4 workers of 8,000 (NGINX_WORKERS)
export NGINX_WORKERS=4
# as run.sh: the limits out of the way (everything comes from 127.0.0.1)
export NGINX_PROFILE=local ROLLOUT_PERCENT=100 WRITE_RATE_LIMIT=1000000r/s WRITE_RATE_BURST=1000000
export READ_RATE_LIMIT=1000000r/s READ_RATE_BURST=1000000 CONN_PER_ADDRESS=65535
unset CLERK_JWT_ISSUER_DOMAIN JWKS_URL JWKS_FILE JWT_AUDIENCE CLERK_AUTHORIZED_PARTIES CLUSTER_NODES

if [ "$QUICK" = 1 ]; then
	ROUNDS=1 SECONDS_PER_LOAD=2 LIVE_SECONDS=5 CONNECT_RATE=500 # 1,000/s: connects time out (BENCHMARKS.md)
	DOC=${BENCH_DOC:-$RUN/BENCHMARKS.md}
else
	ROUNDS=3 SECONDS_PER_LOAD=6 LIVE_SECONDS=60 CONNECT_RATE=500
	DOC=${BENCH_DOC:-$REPO/docs/BENCHMARKS.md}
fi
LIVE_SUBSCRIBERS=10000
LIVE_RATE=200
CLIENTS=16
RESULTS=$RUN/results
STARTED=0

log() { echo "bench-cluster: [$((SECONDS))s] $*" >&2; }
die() {
	echo "bench-cluster: error: $*" >&2
	exit 1
}

cleanup() {
	local rc=$?
	trap - EXIT INT TERM
	if [ "$STARTED" = 1 ]; then
		log "stopping the cluster stack"
		CLUSTER_NODES=2 bash "$REPO/deploy/stack.sh" cluster down >/dev/null 2>&1 ||
			log "warning: stack.sh cluster down failed"
	fi
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# record COMMAND...: the command as run, once, into commands.txt
record() {
	local line
	line=$(printf '%q ' "$@")
	record_text "${line% }"
}
record_text() {
	local line=$1
	line=${line//$RUN/.run\/bench-cluster}
	line=${line//$REPO\//}
	grep -qxF -- "$line" "$RESULTS/commands.txt" 2>/dev/null || echo "$line" >>"$RESULTS/commands.txt"
}

stack_up() { # NODES
	log "stack.sh cluster up with CLUSTER_NODES=$1"
	record env CLUSTER_NODES="$1" CHATSYNC_RUN_DIR="$RUN" PG_PORT="$PG_PORT" PG_REPLICA_PORT="$PG_REPLICA_PORT" \
		REDIS_PORT="$REDIS_PORT" HTTP_PORT="$HTTP_PORT" HTTPS_PORT="$HTTPS_PORT" \
		SERVICE_PORT_BASE="$SERVICE_PORT_BASE" SYNC_THREADS="$SYNC_THREADS" SYNC_THREAD_STACK_KB="$SYNC_THREAD_STACK_KB" \
		NGINX_WORKERS="$NGINX_WORKERS" bash deploy/stack.sh cluster up
	CLUSTER_NODES=$1 bash "$REPO/deploy/stack.sh" cluster up >>"$RUN/stack-up.log" 2>&1 ||
		{ tail -n 30 "$RUN/stack-up.log" >&2; die "the cluster stack did not start (log: $RUN/stack-up.log)"; }
}

seed() {
	local psql=(psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U chatsync -d chatsync)
	log "seeding: 1,000 users x 50 chats, $LIVE_SUBSCRIBERS live users x 1 chat"
	"${psql[@]}" <<-SQL
		TRUNCATE chats, messages, user_versions, sync_status;
		INSERT INTO chats (id, user_id, title, "timestamp", version, created_at, updated_at)
		SELECT 'c_bu' || u || '_' || k, 'bench_u' || lpad(u::text, 4, '0'), 'Bench chat ' || k,
		       1700000000000 + k * 1000, k + 1, 1700000000000, 1700000000000
		FROM generate_series(0, 999) u, generate_series(0, 49) k;
		INSERT INTO chats (id, user_id, title, "timestamp", version, created_at, updated_at)
		SELECT 'c_bl' || u, 'bench_l' || lpad(u::text, 5, '0'), 'Live bench', 1700000000000, 1,
		       1700000000000, 1700000000000
		FROM generate_series(0, $((LIVE_SUBSCRIBERS - 1))) u;
		INSERT INTO user_versions SELECT user_id, max(version) FROM chats GROUP BY user_id;
		VACUUM (ANALYZE) chats, user_versions;
	SQL
	# tokens signed as run.sh's (mint_tokens, against the release library)
	local lib=$REPO/build/obj/libchatsync.a
	[ -f "$lib" ] || die "$lib not found: run make first"
	# shellcheck disable=SC2046
	cc -O2 -std=c11 -D_GNU_SOURCE -I"$REPO" -I"$REPO/common" -I"$REPO/cli" \
		$(pkg-config --cflags libpq hiredis jansson libcurl openssl) "$BENCH/mint_tokens.c" \
		"$REPO/cli/devkeys.c" "$lib" $(pkg-config --libs libpq hiredis jansson libcurl openssl) \
		-lfcgi -lpthread -lm -o "$RUN/mint_tokens"
	{
		seq -f 'bench_u%04g' 0 999
		seq -f 'bench_l%05g' 0 $((LIVE_SUBSCRIBERS - 1))
	} | "$RUN/mint_tokens" "$RUN/dev/dev-key.pem" https://chatsync.local 7200 >"$RUN/tokens.tsv"
	python3 "$BENCH/tool.py" cluster-users "$RUN/tokens.tsv" "$RUN/users.tsv" "$RUN/live_users.tsv"
}

run_wrk() { # NAME ENDPOINT
	local name=$1 out
	local cmd=(env BENCH_ENDPOINT="$2" BENCH_USERS="$RUN/users.tsv" wrk -t2 -c"$CLIENTS"
		-d"${SECONDS_PER_LOAD}s" --timeout 10s -s "$BENCH/endpoint.lua" "http://127.0.0.1:$HTTP_PORT")
	record "${cmd[@]}"
	out=$(timeout $((SECONDS_PER_LOAD + 30)) "${cmd[@]}") || die "wrk $name failed"
	python3 "$BENCH/tool.py" wrk "$name" <<<"$out" >"$RESULTS/$name.json"
}

throughput() { # NODES
	local round endpoint
	for round in $(seq "$ROUNDS"); do
		for endpoint in list append; do
			run_wrk "cluster_${endpoint}_${1}n_$round" "$endpoint"
		done
	done
}

main() {
	local t_start=$SECONDS
	[ -x "$REPO/bin/sync-svc" ] || die "bin/ has no release build: run make (make bench does)"
	CLUSTER_NODES=2 bash "$REPO/deploy/stack.sh" cluster down >/dev/null 2>&1 || true
	rm -rf "$RUN"
	mkdir -p "$RESULTS"
	python3 "$BENCH/tool.py" machine "$REPO" "$QUICK" "$ROUNDS" "$SECONDS_PER_LOAD" 0 "$LIVE_SECONDS" \
		>"$RESULTS/machine.json"
	STARTED=1
	stack_up 1
	seed
	log "throughput with 1 node: list and append, $ROUNDS x ${SECONDS_PER_LOAD}s each"
	throughput 1
	stack_up 2
	log "throughput with 2 nodes"
	throughput 2

	log "live path: $LIVE_SUBSCRIBERS SSE subscribers over 2 nodes, $LIVE_RATE writes/s for ${LIVE_SECONDS}s"
	local live=(python3 "$BENCH/live.py" --port "$HTTP_PORT" --users "$RUN/live_users.tsv"
		--subscribers "$LIVE_SUBSCRIBERS" --rate "$LIVE_RATE" --duration "$LIVE_SECONDS"
		--connect-rate "$CONNECT_RATE" --sync-pid "$(cat "$RUN/pid/n1-sync.pid")"
		--sync-pid "$(cat "$RUN/pid/n2-sync.pid")" --nginx-pid "$(cat "$RUN/pid/nginx.pid")"
		--threads "$SYNC_THREADS" --stack-kb "$SYNC_THREAD_STACK_KB")
	local shown pid name
	shown=$(printf '%q ' "${live[@]}")
	for name in n1-sync n2-sync nginx; do
		pid=$(cat "$RUN/pid/$name.pid")
		shown=${shown/ $pid / \$(cat .run/bench-cluster/pid/$name.pid) }
	done
	record_text "${shown% }"
	timeout $((LIVE_SECONDS + 260)) "${live[@]}" >"$RESULTS/cluster_live.json" || die "the live benchmark failed"
	echo "{\"elapsed_s\": $((SECONDS - t_start))}" >"$RESULTS/elapsed.json"
	python3 "$BENCH/report.py" --cluster "$RESULTS" "$DOC"
	log "done in $((SECONDS - t_start)) s; report: $DOC"
}

main "$@"

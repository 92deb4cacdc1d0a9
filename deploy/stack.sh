#!/usr/bin/env bash
# The local stack: Postgres, Redis, the four services and nginx, on loopback,
# all of it living in one run folder (default <repo>/.run, git-ignored).
#
#   stack.sh up        start what is not running (idempotent), wait until ready
#   stack.sh down      stop everything of this run folder, by PID
#   stack.sh run       up, then wait in the foreground; Ctrl-C or SIGTERM: down
#   stack.sh status    what runs, with PIDs, and whether /readyz answers
#   stack.sh pg-stop   stop Postgres only (outage tests); pg-start brings it back
#   stack.sh redis-stop  stop Redis only (outage tests); redis-start brings it back
#   stack.sh replica-stop  stop the Postgres replica only; replica-start brings it back
#   stack.sh reload    re-render nginx's config from the environment, check it and
#                      reload nginx gracefully (no request lost), e.g. a new
#                      ROLLOUT_PERCENT=25 (docs/rollout.md)
#   stack.sh env       the coordinates a client or test needs, as shell exports
#
# Overrides (so that a test can run a private stack beside a developer's):
#   CHATSYNC_RUN_DIR  run folder           CHATSYNC_BIN_DIR  where the binaries are
#   PG_PORT 15432  REDIS_PORT 16379  HTTP_PORT 8080  HTTPS_PORT 8443
#   SYNC_THREADS 512, SYNC_THREAD_STACK_KB 128 (sync-svc: one thread per live request)
#   PG_REPLICA=1: also a streaming replica of Postgres (pg_basebackup) on
#   PG_REPLICA_PORT (PG_PORT+1), which sync-svc reads the change feed from
#   (DATABASE_REPLICA_URL; docs/decisions/replica-reads.md)
#   CLUSTER_NODES=N: N service nodes instead of one, each the four services on
#   TCP at 127.0.0.<n+1> (ports SERVICE_PORT_BASE = HTTP_PORT+10 .. +3), behind
#   the one nginx (docs/decisions/cluster.md). `stack.sh cluster up|down|status`
#   is up|down|status with CLUSTER_NODES=2 PG_REPLICA=1 REDIS_CLUSTER=1.
#   REDIS_CLUSTER=1: a Redis Cluster of 3 masters and 3 replicas on REDIS_PORT
#   .. REDIS_PORT+5 (cluster bus: port+100) instead of one Redis; the services get
#   REDIS_CLUSTER_NODES (docs/decisions/redis-cluster.md)
#   SERVICE_DATABASE_URL, SERVICE_REDIS_URL: what the services connect to, when
#   not the stack's own Postgres and Redis (tests/faults/ puts a proxy between)
#   SCHED_POLICY batch: every process of the stack runs SCHED_BATCH (other: the
#   kernel's default policy)
# Each service runs under deploy/supervise.sh, which restarts it when it dies.
# nginx (deploy/nginx-config.sh, read by up and reload): NGINX_PROFILE local,
#   ROLLOUT_PERCENT 100, LEGACY_BACKEND 127.0.0.1:8081, WRITE_RATE_LIMIT,
#   READ_RATE_LIMIT, CONN_PER_ADDRESS, ROLLOUT_OVERRIDE_FROM, ...
# The local profile also serves the demo page at / (clients/demo/, ?as=USER_ID
#   signs in), the library at /js/ and GET /dev/token?as=USER_ID (a development
#   token signed by nginx with RUN/dev's key; docs/decisions/dev-sign-in.md).
# Sockets: RUN/sock 0750, each service's 0660 (CHATSYNC_SOCKET_MODE), group of
#   NGINX_USER's when root: nginx's workers connect, other users cannot.
# Ports: a listener on one fails the start naming it; a client socket holding
#   one is waited for; a port in the ephemeral range gets a warning.
# Auth: unless CLERK_JWT_ISSUER_DOMAIN names a real issuer, the stack makes a
# development key (RUN/dev) and points the services and `chatsync token` at it.
# docs/OPERATIONS.md describes the run folder.
set -euo pipefail

# `stack.sh cluster CMD`: CMD for the cluster stack (its settings, then CMD).
if [ "${1:-}" = cluster ]; then
	[ "${CLUSTER_NODES:-0}" -gt 0 ] || CLUSTER_NODES=2
	export CLUSTER_NODES PG_REPLICA=1 REDIS_CLUSTER=1
	exec bash "${BASH_SOURCE[0]}" "${@:2}"
fi

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=$(realpath -m "${CHATSYNC_RUN_DIR:-$REPO/.run}")
BIN=$(realpath -m "${CHATSYNC_BIN_DIR:-$REPO/bin}")
PG_PORT=${PG_PORT:-15432}
REDIS_PORT=${REDIS_PORT:-16379}
HTTP_PORT=${HTTP_PORT:-8080}
HTTPS_PORT=${HTTPS_PORT:-8443}
SERVICES=(chats messages sync import)
DEV_ISSUER=chatsync.local
IMPORT_MAX_BODY=67108864 # nginx routes.conf: client_max_body_size 64m on /api/import

CLUSTER_NODES=${CLUSTER_NODES:-0}
SERVICE_PORT_BASE=${SERVICE_PORT_BASE:-$((HTTP_PORT + 10))}
PG_REPLICA=${PG_REPLICA:-0}
REDIS_CLUSTER=${REDIS_CLUSTER:-0}
REDIS_CLUSTER_SIZE=6 # 3 masters, each with one replica
REDIS_CLUSTER_BUS_OFFSET=100
PG_REPLICA_PORT=${PG_REPLICA_PORT:-$((PG_PORT + 1))}

PGDATA=$RUN/pg/data
REPLICA_PGDATA=$RUN/pg/replica
# glibc's malloc for Postgres: a backend's heap kept up to 8 MiB above what it
# uses, and blocks under 4 MiB from the heap. Left to its own thresholds, a
# long-lived backend could give memory back and take it again on every query
# (brk, page faults, TLB flushes: 30 % of its CPU on get's 36 KB answers; get's
# Postgres CPU 479-493 -> 306-351 us with this; docs/decisions/request-path.md, 9).
PG_GLIBC_TUNABLES=glibc.malloc.mmap_threshold=4194304:glibc.malloc.trim_threshold=8388608
DATABASE_URL=postgresql://chatsync@127.0.0.1:$PG_PORT/chatsync
DATABASE_REPLICA_URL=postgresql://chatsync@127.0.0.1:$PG_REPLICA_PORT/chatsync
REDIS_URL=redis://127.0.0.1:$REDIS_PORT
SERVICE_DATABASE_URL=${SERVICE_DATABASE_URL:-$DATABASE_URL}
SERVICE_REDIS_URL=${SERVICE_REDIS_URL:-$REDIS_URL}
STOP_TIMEOUT_S=5 # a service must exit within 2 s of SIGTERM; after 5 s it is killed
# The scheduling policy of every process the stack starts: batch (SCHED_BATCH,
# the default: fewer context switches per request, docs/OPERATIONS.md,
# "Scheduling") or other (the kernel's default).
SCHED_POLICY=${SCHED_POLICY:-batch}

# shellcheck source-path=SCRIPTDIR source=nginx-config.sh
source "$REPO/deploy/nginx-config.sh"

# ---- small helpers ----

log() { echo "stack: $*" >&2; }
die() {
	echo "stack: error: $*" >&2
	exit 1
}
is_root() { [ "$(id -u)" -eq 0 ]; }

# Postgres refuses to run as root: as root, its commands run as the postgres user.
as_postgres() {
	if is_root; then runuser -u postgres -- "$@"; else "$@"; fi
}

# wait_until SECONDS COMMAND...: polls every 0.1 s; 1 on timeout.
wait_until() {
	local deadline=$((SECONDS + $1))
	shift
	until "$@"; do
		[ "$SECONDS" -lt "$deadline" ] || return 1
		sleep 0.1
	done
}

# A process is alive when it exists and is not a zombie waiting to be reaped.
alive() {
	local pid=$1 stat state
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	stat=$(cat "/proc/$pid/stat" 2>/dev/null) || return 1
	state=${stat##*) }
	state=${state%% *}
	[ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}
gone() { ! alive "$1"; }

read_pid() { [ -s "$1" ] && head -n1 "$1" | tr -dc 0-9; }

tail_log() {
	local file=$1
	[ -s "$file" ] || return 0
	echo "---- last lines of $file ----" >&2
	tail -n "${2:-20}" "$file" >&2
	echo "----" >&2
}

# Whether 127.0.0.1:PORT can be bound the way Postgres, Redis and nginx bind it
# (SO_REUSEADDR, which passes over a former server's TIME-WAIT connections but
# not over a listener or over a client socket that has PORT as its local port).
# Asking bind(2) itself is the only exact answer (docs/decisions/ports.md).
port_bindable() {
	python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))' "$1" 2>/dev/null
}

# The TCP sockets on local port PORT whose address is loopback or a wildcard,
# in any state: what may keep it from being bound, for the message.
# One line per socket: STATE LOCAL -> PEER [process].
port_holders() {
	ss -Htanp "sport = :$1" 2>/dev/null \
		| awk '$4 ~ /^(127\.0\.0\.1|0\.0\.0\.0|\*|\[::\]|\[::ffff:127\.0\.0\.1\]):[0-9]+$/ {
			print $1, $4, "->", $5, ($6 == "" ? "(no process: closed, in the kernel)" : $6) }'
}

# A client socket goes away by itself: a connection soon, a TIME-WAIT within
# 60 s (Linux's fixed TCP_TIMEWAIT_LEN). A listener does not.
PORT_CLIENT_WAIT_S=10
PORT_TIME_WAIT_S=65

# require_free_port NAME PORT: returns once nothing holds PORT; waits while only
# client sockets hold it, and fails at once, naming the process, on a listener.
require_free_port() {
	local name=$1 port=$2 holders limit started=$SECONDS said=""
	until port_bindable "$port"; do
		holders=$(port_holders "$port")
		[ -n "$holders" ] || holders="(no TCP socket: a UDP socket or another namespace?)"
		if grep -q '^LISTEN' <<<"$holders"; then
			die "port $port ($name) is in use: $(grep '^LISTEN' <<<"$holders" | head -n1); choose another with $name=..."
		fi
		limit=$PORT_CLIENT_WAIT_S
		grep -qv '^TIME-WAIT' <<<"$holders" || limit=$PORT_TIME_WAIT_S
		if [ $((SECONDS - started)) -ge "$limit" ]; then
			die "port $port ($name) is still held after $((SECONDS - started)) s by: $(paste -sd ';' <<<"$holders"); choose another with $name=..."
		fi
		if [ -z "$said" ]; then
			log "port $port ($name) is held by a client socket, not a server; waiting up to $limit s for it to go: $(paste -sd ';' <<<"$holders")"
			said=1
		fi
		sleep 0.5
	done
	[ -z "$said" ] || log "port $port ($name) is free after $((SECONDS - started)) s"
	return 0
}

# in_port_list PORT LIST: LIST as in ip_local_reserved_ports ("8080,9000-9100").
in_port_list() {
	local item
	for item in ${2//,/ }; do
		if [[ $item == *-* ]]; then
			[ "$1" -ge "${item%-*}" ] && [ "$1" -le "${item#*-}" ] && return 0
		elif [ "$1" -eq "$item" ]; then
			return 0
		fi
	done
	return 1
}

# A port in Linux's ephemeral range can be any outgoing connection's local port
# at the moment of start (docs/decisions/ports.md): a warning, not a refusal,
# since a machine may reserve it (ip_local_reserved_ports) or be quiet enough.
warn_ephemeral_port() {
	local name=$1 port=$2 low high
	read -r low high </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || return 0
	[ "$port" -ge "$low" ] && [ "$port" -le "$high" ] || return 0
	in_port_list "$port" "$(cat /proc/sys/net/ipv4/ip_local_reserved_ports 2>/dev/null)" && return 0
	log "warning: $name=$port lies in the ephemeral port range ($low-$high), where an outgoing connection may hold it and make the start fail; choose a port below $low"
}

# stop_pid NAME PID SECONDS: SIGTERM, wait, then SIGKILL. 1 if it had to be killed.
stop_pid() {
	local name=$1 pid=$2 timeout=$3
	alive "$pid" || return 0
	kill -TERM "$pid" 2>/dev/null || true
	wait_until "$timeout" gone "$pid" && return 0
	log "$name (pid $pid) did not exit within ${timeout} s of SIGTERM; killing it"
	kill -KILL "$pid" 2>/dev/null || true
	wait_until 5 gone "$pid" || die "could not kill $name (pid $pid)"
	return 1
}

# The run folder holds one stack; this lock keeps two stack.sh from racing in it.
# Every process the stack starts gets the descriptor closed (9>&-), or it would
# hold the lock for its whole life.
lock_run_dir() {
	mkdir -p "$RUN"
	exec 9>>"$RUN/.stack.lock"
	flock -w 120 9 || die "another stack.sh is busy with $RUN (lock $RUN/.stack.lock)"
}
unlock_run_dir() { flock -u 9 2>/dev/null || true; }

# ---- checks before anything starts ----

check_paths() {
	[[ $RUN =~ ^[A-Za-z0-9_./+-]+$ ]] \
		|| die "run folder '$RUN' may only hold letters, digits and _./+- (set CHATSYNC_RUN_DIR)"
	# unix socket paths are limited to 107 bytes
	[ ${#RUN} -le 80 ] || die "run folder '$RUN' is too long for unix sockets; set a shorter CHATSYNC_RUN_DIR"
	local port
	for port in "$PG_PORT" "$REDIS_PORT" "$HTTP_PORT" "$HTTPS_PORT"; do
		if ! [[ $port =~ ^[0-9]+$ ]] || [ "$port" -lt 1 ] || [ "$port" -gt 65535 ]; then
			die "bad port '$port'"
		fi
	done
}

check_binaries() {
	local name
	for name in "${SERVICES[@]/%/-svc}" chatsync; do
		[ -x "$BIN/$name" ] || die "$BIN/$name not found: run make (or set CHATSYNC_BIN_DIR)"
	done
}

# The daemons run as other users (postgres, www-data): every folder above the
# run folder must let them through.
check_reachable() {
	local user=$1 dir=$2
	is_root || return 0
	runuser -u "$user" -- test -x "$dir" \
		|| die "user $user cannot reach $dir (a folder above it is not searchable); set CHATSYNC_RUN_DIR to a folder under /tmp or /srv"
}

pg_bin_dir() {
	local dir
	dir=$(find /usr/lib/postgresql -mindepth 2 -maxdepth 2 -name bin -type d 2>/dev/null | sort -V | tail -n1)
	[ -x "$dir/pg_ctl" ] || die "no Postgres server under /usr/lib/postgresql (run deploy/install-deps.sh)"
	echo "$dir"
}

# ---- Postgres ----

pg_pid() { [ -f "$PGDATA/postmaster.pid" ] && read_pid "$PGDATA/postmaster.pid"; }
pg_running() {
	local pid
	pid=$(pg_pid) && alive "$pid" && grep -q postgres "/proc/$pid/cmdline" 2>/dev/null
}

psql_admin() {
	psql -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PG_PORT" -U postgres -d postgres "$@"
}

pg_init() {
	local bin=$1
	[ -s "$PGDATA/PG_VERSION" ] && return 0
	log "initializing Postgres in $PGDATA"
	mkdir -p "$RUN/pg"
	is_root && chown postgres: "$RUN/pg"
	check_reachable postgres "$RUN/pg"
	as_postgres "$bin/initdb" -D "$PGDATA" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
		--no-sync --no-instructions >"$RUN/log/initdb.log" 2>&1 9>&- \
		|| { tail_log "$RUN/log/initdb.log"; die "initdb failed (log: $RUN/log/initdb.log)"; }
}

# pg_ctl_start LABEL DATADIR PORT LOGNAME [SETTINGS]: starts a server of the run
# folder on 127.0.0.1:PORT, its socket in RUN/pg.
pg_ctl_start() {
	local label=$1 data=$2 port=$3 logfile=$RUN/log/$4 settings=${5:-} bin
	bin=$(pg_bin_dir)
	# postmaster.pid of a crashed server: pg_ctl would refuse to start
	[ -f "$data/postmaster.pid" ] && rm -f "$data/postmaster.pid"
	touch "$logfile"
	is_root && chown postgres: "$logfile"
	log "starting $label on 127.0.0.1:$port"
	as_postgres env GLIBC_TUNABLES="$PG_GLIBC_TUNABLES" "$bin/pg_ctl" -D "$data" -l "$logfile" -w -t 30 \
		-o "-p $port -k $RUN/pg -c listen_addresses=127.0.0.1 $settings" start >/dev/null 9>&- \
		|| { tail_log "$logfile"; die "$label did not start (log: $logfile)"; }
}

# pg_ctl_stop LABEL DATADIR PID
pg_ctl_stop() {
	local label=$1 data=$2 pid=$3 bin
	bin=$(pg_bin_dir)
	log "stopping $label (pid $pid)"
	as_postgres "$bin/pg_ctl" -D "$data" -m fast -w -t 20 stop >/dev/null 9>&- \
		|| stop_pid "$label" "$pid" 5 || true
	wait_until 5 gone "$pid" || die "$label (pid $pid) did not stop"
}

pg_start() {
	pg_running && return 0
	local bin
	bin=$(pg_bin_dir)
	pg_init "$bin"
	require_free_port PG_PORT "$PG_PORT"
	pg_ctl_start Postgres "$PGDATA" "$PG_PORT" postgres.log
}

pg_stop() {
	pg_running || return 0
	pg_ctl_stop Postgres "$PGDATA" "$(pg_pid)"
}

pg_setup_database() {
	local found
	found=$(psql_admin -tA -c "SELECT 1 FROM pg_roles WHERE rolname = 'chatsync'") \
		|| die "could not query Postgres on port $PG_PORT"
	[ "$found" = 1 ] || psql_admin -c "CREATE ROLE chatsync LOGIN" || die "could not create role chatsync"
	found=$(psql_admin -tA -c "SELECT 1 FROM pg_database WHERE datname = 'chatsync'")
	[ "$found" = 1 ] || psql_admin -c "CREATE DATABASE chatsync OWNER chatsync ENCODING 'UTF8'" \
		|| die "could not create database chatsync"
	DATABASE_URL=$DATABASE_URL bash "$REPO/deploy/migrate.sh" 9>&- || die "migrations failed"
}

# ---- the Postgres replica (PG_REPLICA=1) ----

replica_wanted() { [ "$PG_REPLICA" = 1 ]; }
replica_pid() { [ -f "$REPLICA_PGDATA/postmaster.pid" ] && read_pid "$REPLICA_PGDATA/postmaster.pid"; }
replica_running() {
	local pid
	pid=$(replica_pid) && alive "$pid" && grep -q postgres "/proc/$pid/cmdline" 2>/dev/null
}

# A copy of the primary taken by pg_basebackup -R: it starts as a hot standby
# that streams the primary's WAL and replays it in commit order.
replica_init() {
	local bin=$1
	[ -s "$REPLICA_PGDATA/PG_VERSION" ] && return 0
	log "copying Postgres into $REPLICA_PGDATA (pg_basebackup)"
	as_postgres "$bin/pg_basebackup" -h 127.0.0.1 -p "$PG_PORT" -U postgres -D "$REPLICA_PGDATA" \
		-R -X stream -c fast --no-sync >"$RUN/log/pg_basebackup.log" 2>&1 9>&- \
		|| { tail_log "$RUN/log/pg_basebackup.log"; die "pg_basebackup failed (log: $RUN/log/pg_basebackup.log)"; }
}

replica_start() {
	replica_wanted || return 0
	replica_running && return 0
	local bin
	bin=$(pg_bin_dir)
	replica_init "$bin"
	require_free_port PG_REPLICA_PORT "$PG_REPLICA_PORT"
	pg_ctl_start "the Postgres replica" "$REPLICA_PGDATA" "$PG_REPLICA_PORT" \
		postgres-replica.log "-c hot_standby=on"
}

replica_stop() {
	replica_running || return 0
	pg_ctl_stop "the Postgres replica" "$REPLICA_PGDATA" "$(replica_pid)"
}

# ---- Redis ----

redis_pidfile() { echo "$RUN/pid/redis.pid"; }
redis_running() {
	local pid
	pid=$(read_pid "$(redis_pidfile)") && alive "$pid" && grep -q redis "/proc/$pid/cmdline" 2>/dev/null
}
redis_answers() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }

redis_start() {
	redis_running && return 0
	require_free_port REDIS_PORT "$REDIS_PORT"
	mkdir -p "$RUN/redis"
	rm -f "$(redis_pidfile)"
	log "starting Redis on 127.0.0.1:$REDIS_PORT"
	redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --protected-mode yes \
		--daemonize yes --pidfile "$(redis_pidfile)" --logfile "$RUN/log/redis.log" \
		--dir "$RUN/redis" --save "" --appendonly no </dev/null >/dev/null 2>&1 9>&- \
		|| die "redis-server did not start"
	wait_until 10 redis_answers || { tail_log "$RUN/log/redis.log"; die "Redis does not answer on port $REDIS_PORT"; }
}

redis_stop() {
	redis_running || { rm -f "$(redis_pidfile)"; return 0; }
	local pid
	pid=$(read_pid "$(redis_pidfile)")
	log "stopping Redis (pid $pid)"
	stop_pid redis "$pid" 10 || true
	rm -f "$(redis_pidfile)"
}

# ---- Redis Cluster (REDIS_CLUSTER=1) ----

cluster_wanted() { [ "$REDIS_CLUSTER" = 1 ]; }
cluster_ports() { seq "$REDIS_PORT" $((REDIS_PORT + REDIS_CLUSTER_SIZE - 1)); }
cluster_nodes() { cluster_ports | sed 's/^/127.0.0.1:/' | paste -sd, -; }
cluster_pidfile() { echo "$RUN/pid/redis-$1.pid"; }
cluster_node_running() {
	local pid
	pid=$(read_pid "$(cluster_pidfile "$1")") && alive "$pid" && grep -q redis "/proc/$pid/cmdline" 2>/dev/null
}
cluster_node_answers() { [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = PONG ]; }
cluster_info() { redis-cli -h 127.0.0.1 -p "$1" cluster info 2>/dev/null | tr -d '\r'; }
cluster_ok() { cluster_info "$REDIS_PORT" | grep -qx 'cluster_state:ok'; }
# Every slot assigned: the cluster was created (nodes.conf keeps it across restarts).
cluster_created() { cluster_info "$REDIS_PORT" | grep -qx 'cluster_slots_assigned:16384'; }

# Every replica has completed its sync with its master: until then a master's
# death is no failover (a replica that never synced is too stale to be promoted).
cluster_replicas_synced() {
	local port info
	for port in $(cluster_ports); do
		info=$(redis-cli -h 127.0.0.1 -p "$port" info replication 2>/dev/null | tr -d '\r')
		grep -qx 'role:slave' <<<"$info" || continue
		grep -qx 'master_link_status:up' <<<"$info" || return 1
	done
}

# cluster_node_start PORT: one node; a node restarted after a kill rejoins from its nodes.conf.
cluster_node_start() {
	local port=$1
	cluster_node_running "$port" && return 0
	require_free_port REDIS_PORT "$port"
	require_free_port REDIS_PORT "$((port + REDIS_CLUSTER_BUS_OFFSET))"
	mkdir -p "$RUN/redis/$port"
	rm -f "$(cluster_pidfile "$port")"
	log "starting Redis Cluster node on 127.0.0.1:$port"
	redis-server --bind 127.0.0.1 --port "$port" --protected-mode yes \
		--cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000 \
		--cluster-port "$((port + REDIS_CLUSTER_BUS_OFFSET))" \
		--daemonize yes --pidfile "$(cluster_pidfile "$port")" --logfile "$RUN/log/redis-$port.log" \
		--dir "$RUN/redis/$port" --save "" --appendonly no </dev/null >/dev/null 2>&1 9>&- \
		|| die "redis-server (cluster node $port) did not start"
	wait_until 10 cluster_node_answers "$port" \
		|| { tail_log "$RUN/log/redis-$port.log"; die "Redis Cluster node $port does not answer"; }
}

cluster_start() {
	local port
	for port in $(cluster_ports); do cluster_node_start "$port"; done
	if ! cluster_created; then
		log "creating the Redis Cluster (3 masters, 3 replicas)"
		# shellcheck disable=SC2046 # one word per node
		redis-cli --cluster create $(cluster_ports | sed 's/^/127.0.0.1:/') \
			--cluster-replicas 1 --cluster-yes >"$RUN/log/redis-cluster-create.log" 2>&1 9>&- \
			|| { tail_log "$RUN/log/redis-cluster-create.log"; die "redis-cli --cluster create failed"; }
	fi
	wait_until 30 cluster_ok || die "the Redis Cluster did not reach cluster_state:ok within 30 s"
	wait_until 30 cluster_replicas_synced || die "the Redis Cluster's replicas did not sync within 30 s"
}

cluster_stop() {
	local port pid
	for port in $(cluster_ports); do
		if cluster_node_running "$port"; then
			pid=$(read_pid "$(cluster_pidfile "$port")")
			log "stopping Redis Cluster node $port (pid $pid)"
			stop_pid "redis $port" "$pid" 10 || true
		fi
		rm -f "$(cluster_pidfile "$port")"
	done
}

# ---- development keys and tokens ----

# A real issuer configured by the user means production-like auth: no dev key.
dev_auth() { [ -z "${CLERK_JWT_ISSUER_DOMAIN:-}" ] || [ "$CLERK_JWT_ISSUER_DOMAIN" = "$DEV_ISSUER" ]; }

dev_keys() {
	dev_auth || return 0
	mkdir -p "$RUN/dev"
	if [ ! -s "$RUN/dev/jwks.json" ] || [ ! -s "$RUN/dev/dev-key.pem" ]; then
		"$BIN/chatsync" dev-keys "$RUN/dev" >/dev/null 9>&- \
			|| log "warning: '$BIN/chatsync dev-keys' failed: the services cannot check tokens"
	fi
	if [ -z "${IMPORT_TOKEN:-}" ] && [ ! -s "$RUN/dev/import-token" ]; then
		(umask 077 && openssl rand -hex 24 >"$RUN/dev/import-token")
	fi
}

import_token() {
	if [ -n "${IMPORT_TOKEN:-}" ]; then echo "$IMPORT_TOKEN"; else cat "$RUN/dev/import-token" 2>/dev/null || true; fi
}

# The environment of the services and of `chatsync token`.
auth_env() {
	if dev_auth; then
		echo "CLERK_JWT_ISSUER_DOMAIN=$DEV_ISSUER"
		echo "JWKS_FILE=$RUN/dev/jwks.json"
		echo "DEV_KEY_FILE=$RUN/dev/dev-key.pem"
	fi
	echo "IMPORT_TOKEN=$(import_token)"
}

dev_token() {
	local env_lines=()
	mapfile -t env_lines < <(auth_env)
	env "${env_lines[@]}" CHATSYNC_RUN_DIR="$RUN" "$BIN/chatsync" token "$@" 9>&-
}

# ---- services ----

# Each service runs under deploy/supervise.sh. RUN/pid/NAME.pid is the
# service's PID (the supervisor rewrites it at every restart: tests kill it),
# RUN/pid/NAME.supervisor.pid the supervisor's (what `down` stops).
svc_pidfile() { echo "$RUN/pid/$1.pid"; }
svc_supervisor_pidfile() { echo "$RUN/pid/$1.supervisor.pid"; }
svc_socket() { echo "$RUN/sock/$1.sock"; }

# An instance of a service is its name ("sync") on one host, or "n<N>-<name>"
# ("n2-sync") on service node N of a cluster (CLUSTER_NODES), which listens on
# TCP at 127.0.0.<N+1>, one port per service.
svc_instances() {
	local node name
	if [ "$CLUSTER_NODES" -gt 0 ]; then
		for node in $(seq 1 "$CLUSTER_NODES"); do
			for name in "${SERVICES[@]}"; do echo "n$node-$name"; done
		done
	else
		printf '%s\n' "${SERVICES[@]}"
	fi
}
svc_service() { echo "${1#n[0-9]*-}"; }
svc_node() { [[ $1 =~ ^n([0-9]+)- ]] && echo "${BASH_REMATCH[1]}"; }
node_address() { echo "127.0.0.$(($1 + 1))"; }
# The port of a service on every node: SERVICE_PORT_BASE + its index in SERVICES.
svc_port() {
	local i
	for i in "${!SERVICES[@]}"; do
		[ "${SERVICES[$i]}" = "$1" ] && echo $((SERVICE_PORT_BASE + i)) && return 0
	done
	return 1
}
# What the instance listens on, as its environment says it (guards against a recycled PID).
svc_listen_env() {
	local node
	if node=$(svc_node "$1"); then
		echo "CHATSYNC_LISTEN=$(node_address "$node"):$(svc_port "$(svc_service "$1")")"
	else
		echo "CHATSYNC_SOCKET=$(svc_socket "$1")"
	fi
}
# What runs or ran here: the instances wanted now and any a supervisor PID file names.
svc_known() {
	local file
	{
		svc_instances
		for file in "$RUN"/pid/*.supervisor.pid; do
			[ -e "$file" ] && basename "$file" .supervisor.pid
		done
	} | sort -u
}
tcp_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

ours() {
	alive "$2" && tr '\0' '\n' 2>/dev/null <"/proc/$2/environ" | grep -qxF "$(svc_listen_env "$1")"
}

svc_running() {
	local pid
	pid=$(read_pid "$(svc_supervisor_pidfile "$1")") && ours "$1" "$pid"
}

# The service's PID while it runs, else nothing.
svc_pid() {
	local pid
	pid=$(read_pid "$(svc_pidfile "$1")") && ours "$1" "$pid" && echo "$pid"
}

svc_listening() {
	local node
	svc_pid "$1" >/dev/null || return 1
	if node=$(svc_node "$1"); then
		tcp_open "$(node_address "$node")" "$(svc_port "$(svc_service "$1")")"
	else
		[ -S "$(svc_socket "$1")" ]
	fi
}

# The group of nginx's workers (NGINX_USER: www-data when root), which the
# sockets and their folder are given; empty when the workers run as the
# invoking user, who owns the sockets anyway. Nothing is left for others
# (docs/decisions/socket-permissions.md).
socket_group() {
	local user=${NGINX_USER-www-data}
	is_root && [ -n "$user" ] || return 0
	id -gn "$user" 2>/dev/null || die "NGINX_USER '$user' does not exist"
}

# The folder of the sockets: the owner's, and nginx's group may pass; no one else.
prepare_socket_dir() {
	local group
	group=$(socket_group)
	mkdir -p "$RUN/sock"
	[ -z "$group" ] || chgrp "$group" "$RUN/sock"
	chmod 0750 "$RUN/sock"
}

svc_start() {
	local name=$1 service pid env_lines=()
	service=$(svc_service "$name")
	svc_running "$name" && return 0
	mapfile -t env_lines < <(auth_env)
	env_lines+=("$(svc_listen_env "$name")" "DATABASE_URL=$SERVICE_DATABASE_URL"
		"REDIS_URL=$SERVICE_REDIS_URL" "CHATSYNC_SOCKET_GROUP=$(socket_group)")
	! cluster_wanted || env_lines+=("REDIS_CLUSTER_NODES=$(cluster_nodes)")
	[ "$service" = import ] && env_lines+=("CHATSYNC_MAX_BODY=$IMPORT_MAX_BODY")
	# only the change feed reads from the replica (it can tell whether the replica is recent enough)
	[ "$service" = sync ] && replica_wanted && env_lines+=("DATABASE_REPLICA_URL=$DATABASE_REPLICA_URL")
	# Each live request holds a sync-svc thread while it waits (docs/decisions/live-threads.md).
	[ "$service" = sync ] && env_lines+=("CHATSYNC_THREADS=${SYNC_THREADS:-512}"
		"CHATSYNC_THREAD_STACK_KB=${SYNC_THREAD_STACK_KB:-128}")
	rm -f "$(svc_socket "$name")" "$(svc_pidfile "$name")"
	env "${env_lines[@]}" bash "$REPO/deploy/supervise.sh" "$name-svc" "$(svc_pidfile "$name")" \
		"$BIN/$service-svc" </dev/null >>"$RUN/log/$name.log" 2>&1 9>&- &
	pid=$!
	echo "$pid" >"$(svc_supervisor_pidfile "$name")"
	if ! wait_until 10 svc_listening "$name"; then
		tail_log "$RUN/log/$name.log"
		die "$name-svc did not listen ($(svc_listen_env "$name")) within 10 s (log: $RUN/log/$name.log)"
	fi
	log "started $name-svc (pid $(svc_pid "$name"), supervisor $pid)"
}

svc_stop() {
	local name=$1 pid
	if svc_running "$name"; then
		pid=$(read_pid "$(svc_supervisor_pidfile "$name")")
		log "stopping $name-svc (supervisor pid $pid)"
		stop_pid "$name-svc supervisor" "$pid" "$STOP_TIMEOUT_S" || true
	fi
	# a service left by a killed supervisor (or by a stack before supervision)
	if pid=$(svc_pid "$name"); then
		log "stopping $name-svc (pid $pid), which runs without its supervisor"
		stop_pid "$name-svc" "$pid" "$STOP_TIMEOUT_S" || true
	fi
	rm -f "$(svc_supervisor_pidfile "$name")" "$(svc_pidfile "$name")" "$(svc_socket "$name")"
}

# ---- nginx ----

nginx_pidfile() { echo "$RUN/pid/nginx.pid"; }
nginx_running() {
	local pid
	pid=$(read_pid "$(nginx_pidfile)") && alive "$pid" && grep -q nginx "/proc/$pid/cmdline" 2>/dev/null
}

nginx_env() {
	export RUN_DIR=$RUN HTTP_LISTEN=127.0.0.1:$HTTP_PORT HTTPS_LISTEN=127.0.0.1:$HTTPS_PORT
	# a cluster's upstreams span its nodes (nginx-config.sh)
	export UPSTREAM_NODES="" UPSTREAM_PORT_BASE=$SERVICE_PORT_BASE
	local node
	if [ "$CLUSTER_NODES" -gt 0 ]; then
		for node in $(seq 1 "$CLUSTER_NODES"); do
			UPSTREAM_NODES+="${UPSTREAM_NODES:+,}$(node_address "$node")"
		done
	fi
	# the local profile's /dev/token signs with the development key, when there is one
	if dev_auth; then export DEV_KEY_FILE=$RUN/dev/dev-key.pem; else export DEV_KEY_FILE=""; fi
}

# The local profile serves the demo page from the repo (routes-local.conf):
# nginx's workers must be able to read it.
check_demo_readable() {
	[ "${NGINX_PROFILE:-local}" = local ] && is_root || return 0
	runuser -u "${NGINX_USER:-www-data}" -- test -r "$NGINX_CONFIG_CLIENTS_DIR/demo/index.html" 2>/dev/null \
		|| log "warning: nginx's workers (user ${NGINX_USER:-www-data}) cannot read $NGINX_CONFIG_CLIENTS_DIR/demo/index.html: the demo page will answer 403/404"
}

nginx_start() {
	nginx_env
	nginx_config_render
	nginx_config_cert
	check_reachable www-data "$RUN/sock"
	check_demo_readable
	nginx_config_check 9>&- || die "nginx rejects the rendered config in $RUN/nginx (above)"
	if nginx_running; then
		if [ "$NGINX_CONFIG_CHANGED" = 1 ]; then
			log "nginx config changed: reloading"
			nginx_config_signal_reload "$(read_pid "$(nginx_pidfile)")" \
				|| die "nginx did not take the new config (log: $ERROR_LOG)"
		fi
		return 0
	fi
	require_free_port HTTP_PORT "$HTTP_PORT"
	require_free_port HTTPS_PORT "$HTTPS_PORT"
	log "starting nginx on 127.0.0.1:$HTTP_PORT (HTTPS $HTTPS_PORT)"
	rm -f "$(nginx_pidfile)"
	nginx -p "$RUN/nginx" -e "$ERROR_LOG" -c "$RUN/nginx/nginx.conf" </dev/null >/dev/null 2>&1 9>&- \
		|| { tail_log "$ERROR_LOG"; die "nginx did not start (log: $ERROR_LOG)"; }
	wait_until 10 nginx_running || { tail_log "$ERROR_LOG"; die "nginx did not write $(nginx_pidfile)"; }
}

nginx_stop() {
	nginx_running || { rm -f "$(nginx_pidfile)"; return 0; }
	local pid workers worker
	pid=$(read_pid "$(nginx_pidfile)")
	workers=$(ps -o pid= --ppid "$pid" 2>/dev/null || true)
	log "stopping nginx (pid $pid)"
	if ! stop_pid nginx "$pid" 10; then
		# a killed master leaves its workers behind
		for worker in $workers; do kill -KILL "$worker" 2>/dev/null || true; done
	fi
	rm -f "$(nginx_pidfile)"
}

# Ports are checked before anything starts, so that a taken port fails fast.
check_ports() {
	local name
	for name in PG_PORT REDIS_PORT HTTP_PORT HTTPS_PORT; do warn_ephemeral_port "$name" "${!name}"; done
	pg_running || require_free_port PG_PORT "$PG_PORT"
	cluster_wanted || redis_running || require_free_port REDIS_PORT "$REDIS_PORT"
	! replica_wanted || replica_running || require_free_port PG_REPLICA_PORT "$PG_REPLICA_PORT"
	if ! nginx_running; then
		require_free_port HTTP_PORT "$HTTP_PORT"
		require_free_port HTTPS_PORT "$HTTPS_PORT"
	fi
}

# ---- readiness ----

http_status() {
	curl -s -o /dev/null -m 2 -w '%{http_code}' "http://127.0.0.1:$HTTP_PORT$1" 2>/dev/null || true
}

all_ready() {
	local name
	for name in "${SERVICES[@]}"; do
		[ "$(http_status "/svc/$name/readyz")" = 200 ] || return 1
	done
	[ "$(http_status /readyz)" = 200 ]
}

wait_ready() {
	local name
	wait_until 30 all_ready && return 0
	for name in "${SERVICES[@]}"; do
		echo "stack: GET /svc/$name/readyz -> $(http_status "/svc/$name/readyz")" >&2
		tail_log "$RUN/log/$name.log" 10
	done
	tail_log "$RUN/log/nginx-error.log" 10
	die "the stack did not become ready within 30 s (GET http://127.0.0.1:$HTTP_PORT/readyz)"
}

# ---- commands ----

# On a failed `up`, nothing of this run folder is left running.
up_failed() {
	log "up failed: stopping what runs in $RUN"
	stop_all || true
}

cmd_up() {
	check_paths
	# Only checks: installing is `make deps`' job (make up/run/test call it, and say so).
	bash "$REPO/deploy/install-deps.sh" --check 9>&- || die "packages are missing: run make deps (as root)"
	check_binaries
	lock_run_dir
	mkdir -p "$RUN/log" "$RUN/pid" "$RUN/dev"
	prepare_socket_dir
	check_ports
	trap up_failed EXIT
	pg_start
	pg_setup_database
	replica_start
	if cluster_wanted; then cluster_start; else redis_start; fi
	dev_keys
	local name
	for name in $(svc_instances); do svc_start "$name"; done
	nginx_start
	wait_ready
	trap - EXIT
	unlock_run_dir
}

stop_all() {
	local name failed=0
	nginx_stop || failed=1
	for name in $(svc_known); do svc_stop "$name" || failed=1; done
	redis_stop || failed=1
	cluster_stop || failed=1
	replica_stop || failed=1
	pg_stop || failed=1
	return "$failed"
}

cmd_down() {
	[ -d "$RUN" ] || return 0
	lock_run_dir
	stop_all || die "could not stop everything in $RUN"
	unlock_run_dir
	log "stopped"
}

print_welcome() {
	local token
	token=$(dev_token dev-user 2>/dev/null) || token="(bin/chatsync token failed: see 'stack.sh env')"
	local demo="(the production profile serves no demo page)"
	[ "${NGINX_PROFILE:-local}" != local ] || demo="http://127.0.0.1:$HTTP_PORT/?as=dev-user   (any user id after as=)"
	cat <<EOF
chatsync is up
  demo     $demo
  API      http://127.0.0.1:$HTTP_PORT   https://127.0.0.1:$HTTPS_PORT (self-signed)
  health   /healthz  /readyz  /svc/{chats,messages,sync,import}/{healthz,readyz,metrics}
  logs     $RUN/log/
  token    $token   (or GET /dev/token?as=USER_ID[&ttl=S], local profile)
  more     eval "\$(deploy/stack.sh env)"; \$CHATSYNC_TOKEN_CMD USER_ID
EOF
}

cmd_run() {
	cmd_up
	print_welcome
	trap 'echo; cmd_down; exit 0' INT TERM
	log "running; Ctrl-C stops the stack"
	local name warned=" "
	while true; do
		sleep 2 &
		wait $! || true
		for name in $(svc_instances); do
			if ! svc_running "$name" && [[ $warned != *" $name "* ]]; then
				log "warning: $name-svc's supervisor is not running (log: $RUN/log/$name.log); 'stack.sh up' restarts it"
				warned+="$name "
			fi
		done
	done
}

cmd_status() {
	local name pid running=0 total=0 line
	report() {
		total=$((total + 1))
		if [ -n "$2" ]; then
			running=$((running + 1))
			printf '%-9s running (pid %s)\n' "$1" "$2"
		else
			printf '%-9s stopped\n' "$1"
		fi
	}
	pid=""; pg_running && pid=$(pg_pid); report postgres "$pid"
	if replica_wanted || replica_running; then
		pid=""; replica_running && pid=$(replica_pid); report replica "$pid"
	fi
	if cluster_wanted; then
		for name in $(cluster_ports); do
			pid=""; cluster_node_running "$name" && pid=$(read_pid "$(cluster_pidfile "$name")")
			report "redis-$name" "$pid"
		done
	else
		pid=""; redis_running && pid=$(read_pid "$(redis_pidfile)"); report redis "$pid"
	fi
	for name in $(svc_instances); do
		pid=""
		svc_running "$name" && pid="$(svc_pid "$name" || echo none), supervisor $(read_pid "$(svc_supervisor_pidfile "$name")")"
		report "$name" "$pid"
	done
	pid=""; nginx_running && pid=$(read_pid "$(nginx_pidfile)"); report nginx "$pid"
	line=$(http_status /readyz)
	printf '%-9s GET http://127.0.0.1:%s/readyz -> %s\n' readyz "$HTTP_PORT" "${line:-no answer}"
	[ "$running" -eq "$total" ] || return 3
}

cmd_env() {
	local line
	q() { printf 'export %s=%q\n' "$1" "$2"; }
	q CHATSYNC_REPO "$REPO"
	q CHATSYNC_RUN_DIR "$RUN"
	q CHATSYNC_BIN_DIR "$BIN"
	q PG_PORT "$PG_PORT"
	q REDIS_PORT "$REDIS_PORT"
	q HTTP_PORT "$HTTP_PORT"
	q HTTPS_PORT "$HTTPS_PORT"
	q CHATSYNC_HTTP "http://127.0.0.1:$HTTP_PORT"
	q CHATSYNC_HTTPS "https://127.0.0.1:$HTTPS_PORT"
	q CHATSYNC_TLS_CERT "$RUN/tls/cert.pem"
	q DATABASE_URL "$DATABASE_URL"
	! replica_wanted || q DATABASE_REPLICA_URL "$DATABASE_REPLICA_URL"
	q REDIS_URL "$REDIS_URL"
	! cluster_wanted || q REDIS_CLUSTER_NODES "$(cluster_nodes)"
	if [ "$CLUSTER_NODES" -gt 0 ]; then
		q CLUSTER_NODES "$CLUSTER_NODES"
		q SERVICE_PORT_BASE "$SERVICE_PORT_BASE"
	fi
	while IFS= read -r line; do q "${line%%=*}" "${line#*=}"; done < <(auth_env)
	q CHATSYNC_TOKEN_CMD "$BIN/chatsync token"
}

cmd_reload() {
	check_paths
	lock_run_dir
	nginx_running || die "nginx is not running in $RUN: 'stack.sh up' starts it"
	nginx_env
	nginx_config_reload
	log "nginx reloaded (rollout ${ROLLOUT_PERCENT}% to chatsync, legacy backend $LEGACY_BACKEND)"
	unlock_run_dir
}

cmd_pg_stop() {
	lock_run_dir
	pg_stop
	unlock_run_dir
}

cmd_pg_start() {
	check_paths
	lock_run_dir
	mkdir -p "$RUN/log"
	pg_start
	unlock_run_dir
}

cmd_replica_stop() {
	lock_run_dir
	replica_stop
	unlock_run_dir
}

cmd_replica_start() {
	check_paths
	lock_run_dir
	mkdir -p "$RUN/log"
	replica_start
	unlock_run_dir
}

cmd_redis_stop() {
	lock_run_dir
	redis_stop
	unlock_run_dir
}

cmd_redis_start() {
	check_paths
	lock_run_dir
	mkdir -p "$RUN/log" "$RUN/pid"
	redis_start
	unlock_run_dir
}

usage() {
	sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed -e '$d' -e 's/^# \{0,1\}//' >&2
	exit 2
}

# Before a command that starts processes: this shell takes SCHED_POLICY, and
# what it starts inherits it (fork and exec keep a process's policy). A part
# already running keeps the policy it was started with. Where chrt is refused
# (a sandbox's seccomp rules), the stack runs under the policy it was given.
apply_sched_policy() {
	case $SCHED_POLICY in
	batch | other) chrt "--$SCHED_POLICY" --pid 0 $$ ||
		log "warning: chrt could not set SCHED_POLICY=$SCHED_POLICY; running under $(chrt --pid $$ | sed -n '1s/.*: //p')" ;;
	*) die "SCHED_POLICY: batch or other, not '$SCHED_POLICY'" ;;
	esac
}

main() {
	case "${1:-}" in
	up | run | pg-start | redis-start | replica-start) apply_sched_policy ;;
	esac
	case "${1:-}" in
	up)
		cmd_up
		print_welcome
		;;
	down) cmd_down ;;
	run) cmd_run ;;
	status) cmd_status ;;
	env) cmd_env ;;
	pg-stop) cmd_pg_stop ;;
	pg-start) cmd_pg_start ;;
	redis-stop) cmd_redis_stop ;;
	replica-stop) cmd_replica_stop ;;
	replica-start) cmd_replica_start ;;
	redis-start) cmd_redis_start ;;
	reload) cmd_reload ;;
	*) usage ;;
	esac
}

main "$@"

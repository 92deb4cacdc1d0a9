#!/usr/bin/env bash
# Renders the nginx templates of nginx/ into a run folder and makes the
# development TLS certificate. Used by deploy/stack.sh (sourced) and by the
# nginx container of docker-compose.yml (run), so both serve the same config.
#
#   nginx-config.sh render   RUN_DIR/nginx/*.conf, *.js from nginx/
#   nginx-config.sh cert     local profile: a self-signed TLS_CERT/TLS_KEY unless
#                            they exist; production: checks that they exist
#   nginx-config.sh check    nginx -t on the rendered config
#   nginx-config.sh reload   render, cert, check, then a graceful reload of the
#                            running nginx (RUN_DIR/pid/nginx.pid); returns once
#                            the old workers no longer take new requests
#
# Environment (docs/OPERATIONS.md, "nginx"):
#   RUN_DIR (required)      the run folder
#   NGINX_PROFILE           local (default) | production
#   HTTP_LISTEN HTTPS_LISTEN  127.0.0.1:8080, 127.0.0.1:8443
#   ERROR_LOG ACCESS_LOG    RUN_DIR/log/nginx-{error,access}.log
#   TLS_DIR                 RUN_DIR/tls, where the local certificate is made
#   TLS_CERT TLS_KEY        TLS_DIR/{cert,key}.pem; required in production
#   ROLLOUT_PERCENT         0-100, the share of users chatsync serves (the rest:
#                           the legacy backend); 100 locally, required in production
#   LEGACY_BACKEND          host:port of the legacy backend (127.0.0.1:8081)
#   WRITE_RATE_LIMIT        writes per client address, nginx syntax: 10000r/s
#                           locally, 30r/s in production
#   WRITE_RATE_BURST        writes above the rate answered before 429: 20000 / 300
#   CHUNK_RATE_LIMIT        chunks appended per streamed reply (POST
#                           /api/messages/{id}/chunks; instead of the write
#                           rate): 10000r/s locally, 100r/s in production
#   CHUNK_RATE_BURST        chunks above the rate answered before 429: 20000 / 200
#   READ_RATE_LIMIT         API reads (GET, HEAD under /api/) per client address:
#                           10000r/s locally, 50r/s in production
#   READ_RATE_BURST         reads above the rate answered before 429: 20000 / 500
#   CONN_PER_ADDRESS        requests in progress per client address (live ones
#                           included; 1-65535): 20000 locally, 128 in production
#   HTTP2_MAX_STREAMS       concurrent streams per HTTP/2 connection: 32
#   NGINX_WORKERS           worker processes: 2 (each holds up to 8000
#                           connections; a live stream takes two)
#   ROLLOUT_OVERRIDE_FROM   addresses/CIDRs whose X-Chat-Backend header is
#                           honoured, comma-separated, or "none": loopback
#                           locally, none in production
#   ROLLOUT_OVERRIDE_AT_ZERO  on: honour it also at ROLLOUT_PERCENT=0 (off)
#   IMPORT_ALLOW            addresses/CIDRs, comma-separated, allowed to reach
#                           /api/import and /api/export besides loopback (none)
#   NGINX_USER              www-data when root, else none
#   NGINX_MODULES_DIR       /usr/lib/nginx/modules (njs: ngx_http_js_module.so)
#   TEMPLATE_DIR            nginx/ of this repo
#   CLIENTS_DIR             local profile: clients/ beside TEMPLATE_DIR; nginx serves
#                           its demo/ at / and its js/ at /js/ (routes-local.conf)
#   DEV_KEY_FILE            local profile: the development signing key that
#                           /dev/token signs with (RUN_DIR/dev/dev-key.pem; empty:
#                           none, the route then answers 404); with
#                           CLERK_JWT_ISSUER_DOMAIN (chatsync.local), JWT_AUDIENCE
#                           and DEV_TOKEN_AZP as `chatsync token` reads them
set -euo pipefail

NGINX_TEMPLATE_DIR=${TEMPLATE_DIR:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/../nginx" && pwd)"}
# shellcheck disable=SC2034 # deploy/stack.sh reads it
NGINX_CONFIG_CLIENTS_DIR=$(realpath -m "${CLIENTS_DIR:-$NGINX_TEMPLATE_DIR/../clients}")

nginx_config_die() { echo "nginx-config: $*" >&2; exit 1; }

nginx_config_defaults() {
	: "${RUN_DIR:?RUN_DIR must be set}"
	HTTP_LISTEN=${HTTP_LISTEN:-127.0.0.1:8080}
	HTTPS_LISTEN=${HTTPS_LISTEN:-127.0.0.1:8443}
	ERROR_LOG=${ERROR_LOG:-$RUN_DIR/log/nginx-error.log}
	ACCESS_LOG=${ACCESS_LOG:-$RUN_DIR/log/nginx-access.log}
	TLS_DIR=${TLS_DIR:-$RUN_DIR/tls}
	NGINX_PROFILE=${NGINX_PROFILE:-local}
	NGINX_MODULES_DIR=${NGINX_MODULES_DIR:-/usr/lib/nginx/modules}
	LEGACY_BACKEND=${LEGACY_BACKEND:-127.0.0.1:8081}
	IMPORT_ALLOW=${IMPORT_ALLOW:-}
	HTTP2_MAX_STREAMS=${HTTP2_MAX_STREAMS:-32}
	NGINX_WORKERS=${NGINX_WORKERS:-2}
	ROLLOUT_OVERRIDE_AT_ZERO=${ROLLOUT_OVERRIDE_AT_ZERO:-off}
	CLIENTS_DIR=$NGINX_CONFIG_CLIENTS_DIR
	case $NGINX_PROFILE in
	local)
		DEV_KEY_FILE=${DEV_KEY_FILE-$RUN_DIR/dev/dev-key.pem}
		TLS_CERT=${TLS_CERT:-$TLS_DIR/cert.pem}
		TLS_KEY=${TLS_KEY:-$TLS_DIR/key.pem}
		ROLLOUT_PERCENT=${ROLLOUT_PERCENT:-100}
		WRITE_RATE_LIMIT=${WRITE_RATE_LIMIT:-10000r/s}
		WRITE_RATE_BURST=${WRITE_RATE_BURST:-20000}
		CHUNK_RATE_LIMIT=${CHUNK_RATE_LIMIT:-10000r/s}
		CHUNK_RATE_BURST=${CHUNK_RATE_BURST:-20000}
		READ_RATE_LIMIT=${READ_RATE_LIMIT:-10000r/s}
		READ_RATE_BURST=${READ_RATE_BURST:-20000}
		CONN_PER_ADDRESS=${CONN_PER_ADDRESS:-20000}
		ROLLOUT_OVERRIDE_FROM=${ROLLOUT_OVERRIDE_FROM:-127.0.0.1,::1}
		;;
	production)
		# a forgotten setting must not become a self-signed certificate or
		# "everyone on chatsync" by default
		[ -n "${TLS_CERT:-}" ] && [ -n "${TLS_KEY:-}" ] \
			|| nginx_config_die "the production profile needs TLS_CERT and TLS_KEY (the real certificate)"
		[ -n "${ROLLOUT_PERCENT:-}" ] \
			|| nginx_config_die "the production profile needs ROLLOUT_PERCENT (0-100) set explicitly"
		WRITE_RATE_LIMIT=${WRITE_RATE_LIMIT:-30r/s}
		WRITE_RATE_BURST=${WRITE_RATE_BURST:-300}
		CHUNK_RATE_LIMIT=${CHUNK_RATE_LIMIT:-100r/s}
		CHUNK_RATE_BURST=${CHUNK_RATE_BURST:-200}
		READ_RATE_LIMIT=${READ_RATE_LIMIT:-50r/s}
		READ_RATE_BURST=${READ_RATE_BURST:-500}
		CONN_PER_ADDRESS=${CONN_PER_ADDRESS:-128}
		# the override header is for internal testers: name their networks
		ROLLOUT_OVERRIDE_FROM=${ROLLOUT_OVERRIDE_FROM:-none}
		;;
	*) nginx_config_die "NGINX_PROFILE '$NGINX_PROFILE': must be local or production" ;;
	esac
	[[ $ROLLOUT_PERCENT =~ ^(100|[1-9]?[0-9])$ ]] \
		|| nginx_config_die "ROLLOUT_PERCENT '$ROLLOUT_PERCENT': must be a whole number from 0 to 100"
	[[ $LEGACY_BACKEND =~ ^([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$ ]] \
		|| nginx_config_die "LEGACY_BACKEND '$LEGACY_BACKEND': must be host:port (plain HTTP)"
	local name
	for name in WRITE_RATE_LIMIT READ_RATE_LIMIT CHUNK_RATE_LIMIT; do
		[[ ${!name} =~ ^[1-9][0-9]{0,8}r/[sm]$ ]] \
			|| nginx_config_die "$name '${!name}': must be like 30r/s or 600r/m"
	done
	for name in WRITE_RATE_BURST READ_RATE_BURST CHUNK_RATE_BURST; do
		[[ ${!name} =~ ^[0-9]{1,9}$ ]] \
			|| nginx_config_die "$name '${!name}': must be a whole number"
	done
	[[ $CONN_PER_ADDRESS =~ ^[1-9][0-9]{0,4}$ ]] && [ "$CONN_PER_ADDRESS" -le 65535 ] \
		|| nginx_config_die "CONN_PER_ADDRESS '$CONN_PER_ADDRESS': must be a whole number from 1 to 65535"
	[[ $NGINX_WORKERS =~ ^([1-9]|[1-5][0-9]|6[0-4])$ ]] \
		|| nginx_config_die "NGINX_WORKERS '$NGINX_WORKERS': must be a whole number from 1 to 64"
	[[ $HTTP2_MAX_STREAMS =~ ^[1-9][0-9]{0,3}$ ]] \
		|| nginx_config_die "HTTP2_MAX_STREAMS '$HTTP2_MAX_STREAMS': must be a whole number from 1 to 9999"
	[[ $IMPORT_ALLOW =~ ^[0-9A-Fa-f:./,]*$ ]] \
		|| nginx_config_die "IMPORT_ALLOW '$IMPORT_ALLOW': addresses or CIDRs, separated by commas"
	[[ $ROLLOUT_OVERRIDE_FROM == none || $ROLLOUT_OVERRIDE_FROM =~ ^[0-9A-Fa-f:./,]+$ ]] \
		|| nginx_config_die "ROLLOUT_OVERRIDE_FROM '$ROLLOUT_OVERRIDE_FROM': addresses or CIDRs, separated by commas, or none"
	[[ $ROLLOUT_OVERRIDE_AT_ZERO =~ ^(on|off)$ ]] \
		|| nginx_config_die "ROLLOUT_OVERRIDE_AT_ZERO '$ROLLOUT_OVERRIDE_AT_ZERO': must be on or off"
	if [ -z "${NGINX_USER+set}" ]; then
		if [ "$(id -u)" -eq 0 ]; then NGINX_USER=www-data; else NGINX_USER=; fi
	fi
}

# upstreams.conf for service nodes on TCP (UPSTREAM_NODES: their addresses,
# comma-separated; each service on UPSTREAM_PORT_BASE + its index, in the
# order chats, messages, sync, import): each pool spans every node. A node
# that fails a request (connect refused, reset, timeout) is left alone for
# fail_timeout; which requests nginx then sends to the next node is
# fastcgi.conf's rule (docs/decisions/cluster.md).
nginx_config_node_upstreams() {
	local service index=0 node
	echo "# Rendered by deploy/nginx-config.sh for the service nodes $UPSTREAM_NODES."
	echo "# Kept connections as in nginx/upstreams.conf (which says why), import none."
	for service in chats messages sync import; do
		echo "upstream $service {"
		for node in ${UPSTREAM_NODES//,/ }; do
			[[ $node =~ ^[A-Za-z0-9.:-]+$ ]] || nginx_config_die "UPSTREAM_NODES: '$node' is not an address"
			echo "    server $node:$((UPSTREAM_PORT_BASE + index)) max_fails=1 fail_timeout=5s;"
		done
		[ "$service" = import ] || printf '    keepalive 8;\n    keepalive_timeout 1s;\n'
		echo "}"
		index=$((index + 1))
	done
}

# Writes RUN_DIR/nginx/*.conf; sets NGINX_CONFIG_CHANGED=1 when a file changed.
nginx_config_render() {
	nginx_config_defaults
	local out=$RUN_DIR/nginx staging user_directive="" value template import_geo="" override_geo=""
	local network
	# shellcheck disable=SC2034 # read by deploy/stack.sh
	NGINX_CONFIG_CHANGED=0
	for value in "$RUN_DIR" "$HTTP_LISTEN" "$HTTPS_LISTEN" "$ERROR_LOG" "$ACCESS_LOG" "$TLS_DIR" \
		"$TLS_CERT" "$TLS_KEY" "$NGINX_USER" "$NGINX_MODULES_DIR" "$CLIENTS_DIR"; do
		[[ $value =~ ^[][A-Za-z0-9_./:+,=-]*$ ]] \
			|| nginx_config_die "'$value': only letters, digits and _./:+,=-[] can go into the nginx config"
	done
	# nginx warns about "user" when the master is not root.
	[ -n "$NGINX_USER" ] && user_directive="user $NGINX_USER;"
	# limits.conf's geo block: one "ADDRESS 1;" per IMPORT_ALLOW entry
	for network in ${IMPORT_ALLOW//,/ }; do import_geo+="$network 1; "; done
	# rollout.conf's geo block: one "ADDRESS 1;" per ROLLOUT_OVERRIDE_FROM entry
	if [ "$ROLLOUT_OVERRIDE_FROM" != none ]; then
		for network in ${ROLLOUT_OVERRIDE_FROM//,/ }; do override_geo+="$network 1; "; done
	fi
	# only what nginx writes: the sockets' folder belongs to the services (and
	# under systemd the rest of RUN_DIR is read-only to nginx)
	mkdir -p "$out/tmp" "$RUN_DIR/pid" "$(dirname "$ERROR_LOG")" "$(dirname "$ACCESS_LOG")"
	staging=$(mktemp -d "$out/.render.XXXXXX")
	for template in "$NGINX_TEMPLATE_DIR"/*.conf "$NGINX_TEMPLATE_DIR"/*.js; do
		sed -e "s|@USER_DIRECTIVE@|$user_directive|g" \
			-e "s|@RUN_DIR@|$RUN_DIR|g" \
			-e "s|@HTTP_LISTEN@|$HTTP_LISTEN|g" \
			-e "s|@HTTPS_LISTEN@|$HTTPS_LISTEN|g" \
			-e "s|@ERROR_LOG@|$ERROR_LOG|g" \
			-e "s|@ACCESS_LOG@|$ACCESS_LOG|g" \
			-e "s|@TLS_CERT@|$TLS_CERT|g" \
			-e "s|@TLS_KEY@|$TLS_KEY|g" \
			-e "s|@NGINX_PROFILE@|$NGINX_PROFILE|g" \
			-e "s|@NGINX_MODULES_DIR@|$NGINX_MODULES_DIR|g" \
			-e "s|@ROLLOUT_PERCENT@|$ROLLOUT_PERCENT|g" \
			-e "s|@LEGACY_BACKEND@|$LEGACY_BACKEND|g" \
			-e "s|@WRITE_RATE_LIMIT@|$WRITE_RATE_LIMIT|g" \
			-e "s|@WRITE_RATE_BURST@|$WRITE_RATE_BURST|g" \
			-e "s|@CHUNK_RATE_LIMIT@|$CHUNK_RATE_LIMIT|g" \
			-e "s|@CHUNK_RATE_BURST@|$CHUNK_RATE_BURST|g" \
			-e "s|@READ_RATE_LIMIT@|$READ_RATE_LIMIT|g" \
			-e "s|@READ_RATE_BURST@|$READ_RATE_BURST|g" \
			-e "s|@CONN_PER_ADDRESS@|$CONN_PER_ADDRESS|g" \
			-e "s|@HTTP2_MAX_STREAMS@|$HTTP2_MAX_STREAMS|g" \
			-e "s|@NGINX_WORKERS@|$NGINX_WORKERS|g" \
			-e "s|@ROLLOUT_OVERRIDE_GEO@|$override_geo|g" \
			-e "s|@ROLLOUT_OVERRIDE_AT_ZERO@|$ROLLOUT_OVERRIDE_AT_ZERO|g" \
			-e "s|@IMPORT_ALLOW_GEO@|$import_geo|g" \
			-e "s|@CLIENTS_DIR@|$CLIENTS_DIR|g" \
			-e "s|@DEMO_SCRIPT_HASHES@|$(nginx_config_demo_script_hashes)|g" \
			"$template" >"$staging/$(basename "$template")"
	done
	[ -z "${UPSTREAM_NODES:-}" ] || nginx_config_node_upstreams >"$staging/upstreams.conf"
	if [ "$NGINX_PROFILE" = local ]; then
		(umask 077 && nginx_config_dev_key >"$staging/dev-token.json") || { rm -rf "$staging"; exit 1; }
	elif [ -e "$out/dev-token.json" ]; then
		rm -f "$out/dev-token.json" # a local render's key never stays behind
		NGINX_CONFIG_CHANGED=1
	fi
	if grep -Hno '@[A-Z_]*@' "$staging"/* >&2; then
		rm -rf "$staging"
		nginx_config_die "placeholders left unreplaced (above)"
	fi
	for template in "$staging"/*; do
		if ! cmp -s "$template" "$out/$(basename "$template")"; then
			mv -f "$template" "$out/"
			# shellcheck disable=SC2034
			NGINX_CONFIG_CHANGED=1
		fi
	done
	rm -rf "$staging"
}

# The CSP's script hashes (routes-local.conf) of the demo page's inline
# scripts: its import map, which CSP treats as a script. "'sha256-...'" each,
# space-separated; empty when there is no demo page.
nginx_config_demo_script_hashes() {
	local page=$CLIENTS_DIR/demo/index.html
	[ -f "$page" ] || return 0
	perl -0777 -ne 'while (m{<script type="importmap">(.*?)</script>}gs) { print $1, "\0" }' "$page" \
		| while IFS= read -r -d '' script; do
			printf "'sha256-%s' " "$(printf '%s' "$script" | openssl dgst -sha256 -binary | base64 -w0)"
		done
}

# JSON text: a string escaped for JSON, or null when empty.
nginx_config_json_string() {
	[ -n "$1" ] || { echo null; return 0; }
	[[ $1 != *[[:cntrl:]]* ]] || nginx_config_die "'$1': control characters cannot go into a token"
	local v=${1//\\/\\\\}
	printf '"%s"' "${v//\"/\\\"}"
}

# dev-token.json (routes-local.conf's /dev/token, dev-token.js): the
# development key and the claims it signs, as the nginx master preloads them.
# The caller writes it 0600: only the master (root, or the invoking user) reads it.
nginx_config_dev_key() {
	local pem=null domain=${CLERK_JWT_ISSUER_DOMAIN:-chatsync.local} iss aud azp
	if [ -n "$DEV_KEY_FILE" ] && [ -s "$DEV_KEY_FILE" ]; then
		grep -q -- '-----BEGIN PRIVATE KEY-----' "$DEV_KEY_FILE" \
			|| nginx_config_die "DEV_KEY_FILE '$DEV_KEY_FILE' is not a PKCS#8 PEM private key"
		pem=\"$(awk '{ printf "%s\\n", $0 }' "$DEV_KEY_FILE")\"
	fi
	domain=${domain#*://}
	while [[ $domain == */ ]]; do domain=${domain%/}; done
	iss=$(nginx_config_json_string "https://$domain") || return 1
	aud=$(nginx_config_json_string "${JWT_AUDIENCE:-}") || return 1
	azp=$(nginx_config_json_string "${DEV_TOKEN_AZP:-}") || return 1
	printf '{"pem":%s,"kid":"dev-1","iss":%s,"aud":%s,"azp":%s}\n' "$pem" "$iss" "$aud" "$azp"
}

nginx_config_cert() {
	nginx_config_defaults
	[ -s "$TLS_CERT" ] && [ -s "$TLS_KEY" ] && return 0
	[ "$NGINX_PROFILE" = local ] \
		|| nginx_config_die "TLS_CERT '$TLS_CERT' or TLS_KEY '$TLS_KEY' is missing (the $NGINX_PROFILE profile never makes one)"
	mkdir -p "$(dirname "$TLS_CERT")" "$(dirname "$TLS_KEY")"
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
		-keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null \
		|| nginx_config_die "openssl could not make a certificate in $TLS_DIR"
	chmod 600 "$TLS_KEY"
}

nginx_config_check() {
	nginx_config_defaults
	nginx -t -q -p "$RUN_DIR/nginx" -e "$ERROR_LOG" -c "$RUN_DIR/nginx/nginx.conf"
}

# The workers of the nginx master PID (one per line).
nginx_config_workers() { ps -o pid= --ppid "$1" 2>/dev/null | tr -d ' ' || true; }

# An old worker no longer accepts once it is gone or says it is shutting down
# (it then only finishes what it holds: open streams, requests in flight).
nginx_config_worker_retired() {
	local cmdline
	cmdline=$(tr '\0' ' ' 2>/dev/null <"/proc/$1/cmdline") || return 0
	[ -z "$cmdline" ] || [[ $cmdline == *"shutting down"* ]] || [[ $cmdline != *nginx* ]]
}

# Graceful reload of the master PID (SIGHUP: the master checks the new config,
# starts new workers and lets the old ones finish; the listening sockets stay
# open throughout, so no connection is refused). Returns 0 once every old worker
# has stopped taking requests, 1 if that takes longer than 10 s (a rejected
# config: the master keeps the old one and says why in the error log).
nginx_config_signal_reload() {
	local master=$1 old worker deadline=$((SECONDS + 10))
	old=$(nginx_config_workers "$master")
	kill -HUP "$master" || return 1
	for worker in $old; do
		until nginx_config_worker_retired "$worker"; do
			[ "$SECONDS" -lt "$deadline" ] || return 1
			sleep 0.05
		done
	done
}

nginx_config_reload() {
	local master
	nginx_config_render
	nginx_config_cert
	nginx_config_check || nginx_config_die "nginx rejects the rendered config in $RUN_DIR/nginx (above); the running one is unchanged"
	master=$(head -n1 "$RUN_DIR/pid/nginx.pid" 2>/dev/null | tr -dc 0-9)
	[ -n "$master" ] && kill -0 "$master" 2>/dev/null \
		|| nginx_config_die "nginx is not running (no live PID in $RUN_DIR/pid/nginx.pid)"
	nginx_config_signal_reload "$master" \
		|| nginx_config_die "nginx (pid $master) did not finish the reload within 10 s (see $ERROR_LOG)"
}

nginx_config_main() {
	case "${1:-}" in
	render) nginx_config_render ;;
	cert) nginx_config_cert ;;
	check) nginx_config_check ;;
	reload) nginx_config_reload ;;
	*) echo "usage: nginx-config.sh render|cert|check|reload" >&2; exit 2 ;;
	esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	nginx_config_main "$@"
fi

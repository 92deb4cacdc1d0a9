#!/usr/bin/env bash
# Renders the nginx templates of nginx/ into a run folder and makes the
# development TLS certificate. Used by deploy/stack.sh (sourced) and by the
# nginx container of docker-compose.yml (run), so both serve the same config.
#
#   nginx-config.sh render   RUN_DIR/nginx/*.conf from nginx/*.conf
#   nginx-config.sh cert     RUN_DIR/tls/{cert,key}.pem unless they exist
#   nginx-config.sh check    nginx -t on the rendered config
#
# Environment: RUN_DIR (required), HTTP_LISTEN (127.0.0.1:8080), HTTPS_LISTEN
# (127.0.0.1:8443), ERROR_LOG and ACCESS_LOG (files in RUN_DIR/log), TLS_DIR
# (RUN_DIR/tls), NGINX_USER (www-data when root, else none), TEMPLATE_DIR.
set -euo pipefail

NGINX_TEMPLATE_DIR=${TEMPLATE_DIR:-"$(cd "$(dirname "${BASH_SOURCE[0]}")/../nginx" && pwd)"}

nginx_config_die() { echo "nginx-config: $*" >&2; exit 1; }

nginx_config_defaults() {
	: "${RUN_DIR:?RUN_DIR must be set}"
	HTTP_LISTEN=${HTTP_LISTEN:-127.0.0.1:8080}
	HTTPS_LISTEN=${HTTPS_LISTEN:-127.0.0.1:8443}
	ERROR_LOG=${ERROR_LOG:-$RUN_DIR/log/nginx-error.log}
	ACCESS_LOG=${ACCESS_LOG:-$RUN_DIR/log/nginx-access.log}
	TLS_DIR=${TLS_DIR:-$RUN_DIR/tls}
	if [ -z "${NGINX_USER+set}" ]; then
		if [ "$(id -u)" -eq 0 ]; then NGINX_USER=www-data; else NGINX_USER=; fi
	fi
}

# Writes RUN_DIR/nginx/*.conf; sets NGINX_CONFIG_CHANGED=1 when a file changed.
nginx_config_render() {
	nginx_config_defaults
	local out=$RUN_DIR/nginx staging user_directive="" value template
	# shellcheck disable=SC2034 # read by deploy/stack.sh
	NGINX_CONFIG_CHANGED=0
	for value in "$RUN_DIR" "$HTTP_LISTEN" "$HTTPS_LISTEN" "$ERROR_LOG" "$ACCESS_LOG" "$TLS_DIR" "$NGINX_USER"; do
		[[ $value =~ ^[][A-Za-z0-9_./:+,=-]*$ ]] \
			|| nginx_config_die "'$value': only letters, digits and _./:+,=-[] can go into the nginx config"
	done
	# nginx warns about "user" when the master is not root.
	[ -n "$NGINX_USER" ] && user_directive="user $NGINX_USER;"
	mkdir -p "$out/tmp" "$RUN_DIR/pid" "$RUN_DIR/log" "$RUN_DIR/sock"
	staging=$(mktemp -d "$out/.render.XXXXXX")
	for template in "$NGINX_TEMPLATE_DIR"/*.conf; do
		sed -e "s|@USER_DIRECTIVE@|$user_directive|g" \
			-e "s|@RUN_DIR@|$RUN_DIR|g" \
			-e "s|@HTTP_LISTEN@|$HTTP_LISTEN|g" \
			-e "s|@HTTPS_LISTEN@|$HTTPS_LISTEN|g" \
			-e "s|@ERROR_LOG@|$ERROR_LOG|g" \
			-e "s|@ACCESS_LOG@|$ACCESS_LOG|g" \
			-e "s|@TLS_DIR@|$TLS_DIR|g" \
			"$template" >"$staging/$(basename "$template")"
	done
	if grep -Hno '@[A-Z_]*@' "$staging"/*.conf >&2; then
		rm -rf "$staging"
		nginx_config_die "placeholders left unreplaced (above)"
	fi
	for template in "$staging"/*.conf; do
		if ! cmp -s "$template" "$out/$(basename "$template")"; then
			mv -f "$template" "$out/"
			# shellcheck disable=SC2034
			NGINX_CONFIG_CHANGED=1
		fi
	done
	rm -rf "$staging"
}

nginx_config_cert() {
	nginx_config_defaults
	[ -s "$TLS_DIR/cert.pem" ] && [ -s "$TLS_DIR/key.pem" ] && return 0
	mkdir -p "$TLS_DIR"
	openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=localhost" \
		-addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
		-keyout "$TLS_DIR/key.pem" -out "$TLS_DIR/cert.pem" 2>/dev/null \
		|| nginx_config_die "openssl could not make a certificate in $TLS_DIR"
	chmod 600 "$TLS_DIR/key.pem"
}

nginx_config_check() {
	nginx_config_defaults
	nginx -t -q -p "$RUN_DIR/nginx" -e "$ERROR_LOG" -c "$RUN_DIR/nginx/nginx.conf"
}

nginx_config_main() {
	case "${1:-}" in
	render) nginx_config_render ;;
	cert) nginx_config_cert ;;
	check) nginx_config_check ;;
	*) echo "usage: nginx-config.sh render|cert|check" >&2; exit 2 ;;
	esac
}

if [[ ${BASH_SOURCE[0]} == "$0" ]]; then
	nginx_config_main "$@"
fi

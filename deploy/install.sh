#!/usr/bin/env bash
# Installs chatsync for production under systemd on a Debian 12 host, from this
# checkout: the binaries (built by make), the scripts and templates nginx and
# the migrations need, the units of deploy/systemd/, the chatsync user
# (sysusers.d) and, where missing, the environment files of /etc/chatsync.
# Run it again after `git pull && make` to update; files of /etc/chatsync that
# exist are never overwritten.
#
#   deploy/install.sh            as root; then edit /etc/chatsync/*.env and
#                                systemctl enable --now chatsync.target
#
# Environment: DESTDIR (default empty: the live system; a folder: install into
# it, as for a package, without touching users or systemd), PREFIX (/usr/local;
# the units name /usr/local paths, so change both or neither).
# docs/OPERATIONS.md, "Production (systemd)", describes the result.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
UNITS=(chatsync@.service chatsync-migrate.service chatsync-nginx.service chatsync.target)
SERVICES=(chats messages sync import)
ENV_FILES=(chatsync.env sync.env import.env nginx.env)

log() { echo "install: $*" >&2; }
die() {
	echo "install: error: $*" >&2
	exit 1
}

[ "$(id -u)" -eq 0 ] || [ -n "$DESTDIR" ] || die "run as root (or set DESTDIR)"
for name in "${SERVICES[@]/%/-svc}" chatsync; do
	[ -x "$REPO/bin/$name" ] || die "$REPO/bin/$name is missing: run make first"
done

# The runtime packages; building needs more, but a production host only runs.
if [ -z "$DESTDIR" ]; then
	missing=()
	for p in libfcgi0ldbl libpq5 libhiredis0.14 libjansson4 libcurl4 postgresql-client \
		nginx libnginx-mod-http-js openssl ca-certificates; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
	done
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
	fi
fi

log "binaries into $DESTDIR$PREFIX/bin"
install -d "$DESTDIR$PREFIX/bin" "$DESTDIR$PREFIX/lib/chatsync/migrations" \
	"$DESTDIR$PREFIX/share/chatsync/nginx" "$DESTDIR$PREFIX/share/doc/chatsync"
for name in "${SERVICES[@]/%/-svc}" chatsync; do install -m 0755 "$REPO/bin/$name" "$DESTDIR$PREFIX/bin/"; done
install -m 0755 "$REPO/deploy/nginx-config.sh" "$REPO/deploy/migrate.sh" "$DESTDIR$PREFIX/lib/chatsync/"
install -m 0644 "$REPO"/db/migrations/*.sql "$DESTDIR$PREFIX/lib/chatsync/migrations/"
install -m 0644 "$REPO"/nginx/*.conf "$REPO"/nginx/*.js "$DESTDIR$PREFIX/share/chatsync/nginx/"
install -m 0644 "$REPO/docs/OPERATIONS.md" "$DESTDIR$PREFIX/share/doc/chatsync/"

log "units into $DESTDIR/etc/systemd/system"
install -d "$DESTDIR/etc/systemd/system" "$DESTDIR/etc/sysusers.d"
for unit in "${UNITS[@]}"; do install -m 0644 "$REPO/deploy/systemd/$unit" "$DESTDIR/etc/systemd/system/"; done
install -m 0644 "$REPO/deploy/systemd/sysusers.conf" "$DESTDIR/etc/sysusers.d/chatsync.conf"
# Restart backoff: only a systemd that knows RestartSteps= (254 and later).
version=$(systemctl --version 2>/dev/null | awk 'NR == 1 { print $2 }')
if [[ ${version:-0} =~ ^[0-9]+$ ]] && [ "$version" -ge 254 ]; then
	install -d "$DESTDIR/etc/systemd/system/chatsync@.service.d"
	install -m 0644 "$REPO/deploy/systemd/chatsync@.service.d/backoff.conf" \
		"$DESTDIR/etc/systemd/system/chatsync@.service.d/"
else
	rm -f "$DESTDIR/etc/systemd/system/chatsync@.service.d/backoff.conf"
	log "systemd ${version:-?} has no RestartSteps=: a crashed service restarts every 1 s, without backoff"
fi

if [ -z "$DESTDIR" ]; then
	systemd-sysusers /etc/sysusers.d/chatsync.conf || die "systemd-sysusers could not make the chatsync user"
fi

# Secrets live here: root writes, the chatsync group (the services) may read.
install -d -m 0750 "$DESTDIR/etc/chatsync"
for file in "${ENV_FILES[@]}"; do
	[ -e "$DESTDIR/etc/chatsync/$file" ] && continue
	install -m 0640 "$REPO/deploy/systemd/env/$file" "$DESTDIR/etc/chatsync/$file"
	log "wrote /etc/chatsync/$file: edit it"
done
if [ -z "$DESTDIR" ]; then
	chgrp chatsync /etc/chatsync /etc/chatsync/*.env
fi

if [ -z "$DESTDIR" ] && [ -d /run/systemd/system ]; then
	systemctl daemon-reload
	log "installed; after editing /etc/chatsync/*.env: systemctl disable --now nginx; systemctl enable --now chatsync.target"
else
	log "installed (systemd is not running here: nothing reloaded or started)"
fi

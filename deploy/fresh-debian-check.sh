#!/usr/bin/env bash
# The "fresh machine" check of docs/OPERATIONS.md (manual, never part of make
# test): a new Debian 12 (debootstrap --variant=minbase, nothing but the base
# system), a clean clone of a branch of this repo in it, and in a chroot
#   apt-get install make; make up; GET /readyz through nginx; make down
# so that `make up` itself has to install every package it needs; then, in the
# same chroot, the production install: systemd (not running: a chroot has no
# PID 1 of its own), deploy/install.sh, and `systemd-analyze verify` of the
# installed units.
#
#   deploy/fresh-debian-check.sh [BRANCH]     (root; BRANCH: the checked-out one)
#
# Environment: FRESH_DIR (default <repo>/.run/fresh-debian, git-ignored; made
# anew on each run), DEBIAN_MIRROR (default: the first URI of apt's sources),
# PORT_BASE (default 25000: the stack in the chroot uses PORT_BASE+432/+379/+80/
# +443 like the test stack; a chroot shares the host's network, so give it a
# base no other stack on the machine uses).
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BRANCH=${1:-$(git -C "$REPO" rev-parse --abbrev-ref HEAD)}
DIR=$(realpath -m "${FRESH_DIR:-$REPO/.run/fresh-debian}")
PORT_BASE=${PORT_BASE:-25000}
PG_PORT=$((PORT_BASE + 432)) REDIS_PORT=$((PORT_BASE + 379))
HTTP_PORT=$((PORT_BASE + 80)) HTTPS_PORT=$((PORT_BASE + 443))

log() { echo "fresh-debian-check: $*" >&2; }
die() {
	log "error: $*"
	exit 1
}

[ "$(id -u)" -eq 0 ] || die "needs root (debootstrap, mount, chroot)"
command -v debootstrap >/dev/null || die "debootstrap is missing: apt-get install debootstrap"

mirror() {
	local uri
	[ -n "${DEBIAN_MIRROR:-}" ] && { echo "$DEBIAN_MIRROR"; return; }
	# "URIs: ..." (deb822) or "deb URI suite ..." lines; comments do not count
	uri=$(cat /etc/apt/sources.list /etc/apt/sources.list.d/*.sources 2>/dev/null \
		| grep -E '^(URIs:|deb )' | grep -oE 'https?://[^ ]+/debian/?( |$)' | head -n1 || true)
	uri=${uri% }
	echo "${uri:-http://deb.debian.org/debian}"
}

mounted_under() { findmnt -rn -o TARGET | grep -E "^$DIR(/|$)" || true; }

# Reverse order of mounting; never leave a bind of /dev behind a folder that
# someone may later delete.
cleanup() {
	local target
	for target in "$DIR/dev/pts" "$DIR/dev/shm" "$DIR/dev" "$DIR/proc"; do
		mountpoint -q "$target" 2>/dev/null && umount "$target"
	done
	[ -z "$(mounted_under)" ] || log "warning: still mounted under $DIR: $(mounted_under)"
}

[ -z "$(mounted_under)" ] || die "something is mounted under $DIR; unmount it first"
rm -rf --one-file-system "$DIR"
log "debootstrap bookworm from $(mirror) into $DIR"
debootstrap --variant=minbase bookworm "$DIR" "$(mirror)" >"$DIR.debootstrap.log" 2>&1 \
	|| die "debootstrap failed (log: $DIR.debootstrap.log)"

log "clean clone of branch $BRANCH into $DIR/src/chatsync"
git clone -q --no-hardlinks --branch "$BRANCH" "$REPO" "$DIR/src/chatsync"
git -C "$DIR/src/chatsync" log --oneline -1 >&2

# Chroot only: a package's postinst must not start its daemon (nginx on :80,
# Postgres on :5432) in the host's network namespace, which a chroot shares.
printf '#!/bin/sh\nexit 101\n' >"$DIR/usr/sbin/policy-rc.d"
chmod 755 "$DIR/usr/sbin/policy-rc.d"
cp /etc/resolv.conf "$DIR/etc/resolv.conf"

trap cleanup EXIT
mount -t proc proc "$DIR/proc"
mount --bind /dev "$DIR/dev"
mount -t tmpfs -o mode=1777 shm "$DIR/dev/shm" # Postgres's dynamic shared memory
mount --bind /dev/pts "$DIR/dev/pts"              # apt's log of dpkg's output

# A network that intercepts TLS (a proxy with its own CA) must stay trusted in the
# chroot for npm: the host's extra certificates, handed to node as NODE_EXTRA_CA_CERTS.
extra_ca=/etc/fresh-debian-extra-ca.pem
cat /usr/local/share/ca-certificates/*.crt >"$DIR$extra_ca" 2>/dev/null || : >"$DIR$extra_ca"

log "in the chroot: apt-get install make; make up; GET /readyz and the demo; make down"
chroot "$DIR" /usr/bin/env -i HOME=/root LANG=C.UTF-8 TERM=dumb NODE_EXTRA_CA_CERTS="$extra_ca" \
	PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
	PG_PORT="$PG_PORT" REDIS_PORT="$REDIS_PORT" HTTP_PORT="$HTTP_PORT" HTTPS_PORT="$HTTPS_PORT" \
	/bin/bash -euo pipefail -c '
		cd /src/chatsync
		dpkg-query -W -f="\${Package}\n" | wc -l | sed "s/^/packages before: /"
		export DEBIAN_FRONTEND=noninteractive
		apt-get update -qq && apt-get install -y -qq --no-install-recommends make >/dev/null
		status=0
		make up || status=$?
		if [ "$status" -eq 0 ]; then
			code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$HTTP_PORT/readyz")
			echo "GET /readyz through nginx: $code"
			[ "$code" = 200 ] || status=1
			for path in / /js/dist/chatsync.js "/dev/token?as=fresh"; do
				code=$(curl -s -o /dev/null -w "%{http_code}" "http://127.0.0.1:$HTTP_PORT$path")
				echo "GET $path (the demo, local profile): $code"
				[ "$code" = 200 ] || status=1
			done
		fi
		make down || status=1
		dpkg-query -W -f="\${Package}\n" | wc -l | sed "s/^/packages after: /"
		[ "$status" -eq 0 ] || exit "$status"
		echo "---- production install: deploy/install.sh, systemd-analyze verify"
		apt-get install -y -qq --no-install-recommends systemd >/dev/null
		bash deploy/install.sh
		id chatsync; id www-data
		ls -l /etc/chatsync
		cd /etc/systemd/system
		systemd-analyze verify chatsync@chats.service chatsync@messages.service \
			chatsync@sync.service chatsync@import.service chatsync-migrate.service \
			chatsync-nginx.service chatsync.target
		echo "systemd-analyze verify: exit $?"
		systemd-analyze security --offline=true chatsync@.service 2>/dev/null | tail -n1 || true
	'
log "passed: make up installed everything, the stack answered 200 on /readyz, the units verify"

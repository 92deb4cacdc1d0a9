#!/usr/bin/env bash
# Installs the Debian packages chatsync needs to build, run, test, lint and
# benchmark, and only those that are missing, so that a second run costs nothing.
#   deploy/install-deps.sh           install what is missing (root; `make deps`)
#   deploy/install-deps.sh --check   install nothing: name what is missing, exit 1
set -euo pipefail
check_only=0
[ "${1:-}" = --check ] && check_only=1

packages=(
  build-essential pkg-config
  libfcgi-dev libpq-dev libhiredis-dev libjansson-dev libssl-dev
  libcurl4-openssl-dev libcmocka-dev
  postgresql postgresql-contrib redis-server redis-tools
  nginx libnginx-mod-http-js
  openssl curl python3 procps iproute2
  wrk nghttp2-client
  clang libclang-rt-14-dev
  clang-format clang-tidy cppcheck
)

# One dpkg-query for all of them: `make` runs this script (--check) before every
# build, so the answer must come at once when nothing is missing.
installed=" $(dpkg-query -W -f='${Status} ${Package}\n' "${packages[@]}" 2>/dev/null \
  | sed -n 's/^install ok installed //p' | tr '\n' ' ' || true)"
missing=()
for p in "${packages[@]}"; do
  [[ $installed == *" $p "* ]] || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$check_only" = 1 ]; then
  echo "install-deps: missing packages: ${missing[*]} (\`make deps\` as root installs them)" >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: missing packages: ${missing[*]} (run as root, or install them)" >&2
  exit 1
fi
echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts the packaged daemons on install; the stack runs its own on other
# ports, so the system copies are stopped to keep the machine quiet.
for svc in nginx redis-server postgresql; do
  if command -v systemctl >/dev/null && systemctl is-active --quiet "$svc" 2>/dev/null; then
    systemctl stop "$svc" || true
  fi
done

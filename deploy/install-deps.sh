#!/usr/bin/env bash
# Installs the Debian packages chatsync needs to build, run, test, lint and
# benchmark, and only those that are missing, so that a second run costs nothing;
# then the npm packages of the browser library and of the end-to-end tests
# (npm ci of each lockfile, when node_modules is missing or older than it).
#   deploy/install-deps.sh           install what is missing (root for apt; `make deps`)
#   deploy/install-deps.sh --check   install nothing: name the missing Debian packages, exit 1
# Node.js (20 or later, with npm) is installed from Debian only when there is no
# node at all. Nothing downloads a browser: the tests drive Debian's chromium.
set -euo pipefail
check_only=0
[ "${1:-}" = --check ] && check_only=1
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# the npm projects: the library (once it is there) and the end-to-end tests
NPM_DIRS=(clients/js tests/e2e)

# npm ci where package-lock.json is newer than what node_modules holds.
npm_install() {
  local dir
  for dir in "${NPM_DIRS[@]}"; do
    [ -f "$REPO/$dir/package-lock.json" ] || continue
    if [ -f "$REPO/$dir/node_modules/.package-lock.json" ] \
      && ! [ "$REPO/$dir/package-lock.json" -nt "$REPO/$dir/node_modules/.package-lock.json" ]; then
      continue
    fi
    echo "install-deps: npm ci in $dir" >&2
    (cd "$REPO/$dir" && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 PUPPETEER_SKIP_DOWNLOAD=1 \
      npm ci --no-audit --no-fund --loglevel=error >&2) || { echo "install-deps: npm ci failed in $dir" >&2; exit 1; }
  done
}

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
  chromium
)
# Debian's nodejs lacks npm, which nodesource's includes: only when neither is there.
command -v node >/dev/null && command -v npm >/dev/null || packages+=(nodejs npm)

# One dpkg-query for all of them: `make` runs this script (--check) before every
# build, so the answer must come at once when nothing is missing.
installed=" $(dpkg-query -W -f='${Status} ${Package}\n' "${packages[@]}" 2>/dev/null \
  | sed -n 's/^install ok installed //p' | tr '\n' ' ' || true)"
missing=()
for p in "${packages[@]}"; do
  [[ $installed == *" $p "* ]] || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  [ "$check_only" = 1 ] || npm_install
  exit 0
fi

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
npm_install

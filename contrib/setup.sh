#!/usr/bin/env bash
# setup.sh - gets a Debian or Ubuntu machine ready to build and test binhook:
# installs the packages that are missing, then builds two trees:
#
#   build/       RelWithDebInfo, warnings are errors: the binhook to run
#   build-asan/  the same with AddressSanitizer + UndefinedBehaviorSanitizer:
#                what the test suite runs (contrib/test.sh)
#
# and installs into build/npm the npm packages the tests run against:
# standardwebhooks (the independent signature verifier) and kinesalite.
#
# Safe to run again and again: it installs nothing that is there already and
# the builds are incremental. Progress goes to stderr.
#
#   contrib/setup.sh                 packages, build/ and build-asan/
#   contrib/setup.sh --release-only  packages and build/ only
#
# BINHOOK_JOBS sets the build's parallelism (default 2).
set -euo pipefail

TOP=$(cd "$(dirname "$0")/.." && pwd)
JOBS=${BINHOOK_JOBS:-2}
release_only=

say() { echo "setup: $*" >&2; }
die() { echo "setup: error: $*" >&2; exit 1; }

for arg in "$@"; do
  case $arg in
  --release-only) release_only=1 ;;
  -h | --help)
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"
    exit 0
    ;;
  *) die "unknown option '$arg' (try --help)" ;;
  esac
done

packages=(
  build-essential cmake pkg-config
  libcurl4-openssl-dev libevent-dev libmariadb-dev libpcre2-dev libpq-dev
  libjansson-dev libssl-dev libzstd-dev zlib1g-dev
  mariadb-server mariadb-client
  python3 perl curl time wrk
  clang libclang-rt-14-dev
  # operations tests: the systemd unit, the man page, promtool, and the
  # signature snippets in Go and PHP
  systemd groff-base man-db prometheus golang-go php-cli
  # the recipes' servers
  rabbitmq-server etcd-server
  # the PostgreSQL source's tests (t24xx)
  postgresql-15
  # the OLTP load of the failover test
  sysbench
  # the delivery console's test drives the page in a real browser
  chromium
)

# Runs a command as root: directly, or through sudo.
as_root() {
  if [ "$(id -u)" -eq 0 ]; then
    "$@"
  elif command -v sudo >/dev/null 2>&1; then
    sudo "$@"
  else
    die "'$*' needs root and sudo is not installed"
  fi
}

install_packages() {
  if ! command -v dpkg-query >/dev/null 2>&1 || ! command -v apt-get >/dev/null 2>&1; then
    say "not a Debian-like system: install these yourself if the build fails: ${packages[*]}"
    return 0
  fi
  local missing=() p status
  for p in "${packages[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || :)
    [ "$status" = "install ok installed" ] || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    say "all packages are installed"
    return 0
  fi
  say "installing ${missing[*]}"

  # Installing mariadb-server would start the system's server on port 3306.
  # The tests start their own servers on free ports, so a policy-rc.d that
  # denies starting services is put in place for the installation (unless
  # the machine has one already, as Docker images do) and removed after.
  local policy=/usr/sbin/policy-rc.d added_policy=
  if [ ! -e "$policy" ]; then
    as_root sh -c "printf '#!/bin/sh\nexit 101\n' >$policy && chmod 755 $policy"
    added_policy=1
    trap 'as_root rm -f /usr/sbin/policy-rc.d' EXIT
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
    --no-install-recommends "${missing[@]}" </dev/null >&2
  if [ -n "$added_policy" ]; then
    as_root rm -f "$policy"
    trap - EXIT
  fi
}

build_tree() {
  local dir=$1
  shift
  say "configuring $dir"
  cmake -S "$TOP" -B "$TOP/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DBINHOOK_WERROR=ON "$@" >&2
  say "building $dir"
  cmake --build "$TOP/$dir" -j"$JOBS" >&2
}

# Node.js and npm, for the signature verifier: Debian's packages, unless
# the machine has a node and npm of its own.
install_node() {
  if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
    return 0
  fi
  packages=(nodejs npm)
  install_packages
}

# The npm packages the tests run against: standardwebhooks (the independent
# signature verifier), kinesalite (a Kinesis server for the recipe),
# @vlasky/zongji (the benchmarks' Node.js binlog reader) and puppeteer-core
# (drives Debian's chromium in the console's test; it downloads no browser).
install_npm() {
  local dir=$TOP/build/npm want=() p
  for p in standardwebhooks@1.1.1 kinesalite@3.3.3 @vlasky/zongji@0.9.0 puppeteer-core@24.43.1; do
    [ -f "$dir/node_modules/${p%@*}/package.json" ] || want+=("$p")
  done
  [ ${#want[@]} -gt 0 ] || return 0
  say "installing the npm packages ${want[*]} into build/npm"
  mkdir -p "$dir"
  if ! npm install --no-audit --no-fund --silent --prefix "$dir" "${want[@]}" >&2 </dev/null; then
    say "warning: could not install ${want[*]}: the tests that need them say so and skip"
  fi
}

install_packages
install_node
build_tree build -DBINHOOK_SANITIZE=OFF
install_npm
if [ -z "$release_only" ]; then
  build_tree build-asan -DBINHOOK_SANITIZE=ON
fi
say "done"

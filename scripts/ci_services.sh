#!/usr/bin/env bash
# System services the test suite uses besides Python: Debian's Chromium (browser test) and a local
# PostgreSQL (registry tests run again against it). Prints the PostgreSQL URL for the tests.
# Run as root or with sudo; the same steps by hand are in the README ("Registry on PostgreSQL").
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
missing=()
command -v chromium >/dev/null || missing+=(chromium)
command -v pg_ctlcluster >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -gt 0 ]; then
    $SUDO apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >&2
fi
cluster=$(pg_lsclusters --no-header | awk 'NR==1 {print $1" "$2}')
if [ -z "$cluster" ]; then
    $SUDO pg_createcluster 15 main >&2
    cluster="15 main"
fi
# shellcheck disable=SC2086
$SUDO pg_ctlcluster $cluster start >&2 || true
for _ in $(seq 30); do pg_isready -q -h 127.0.0.1 && break; sleep 1; done
run_sql() { if [ -n "$SUDO" ]; then sudo -u postgres psql -qtAc "$1"; else su postgres -c "psql -qtAc \"$1\""; fi; }
[ "$(run_sql "SELECT 1 FROM pg_roles WHERE rolname='fedadmet'")" = "1" ] ||
    run_sql "CREATE ROLE fedadmet LOGIN PASSWORD 'fedadmet'" >&2
[ "$(run_sql "SELECT 1 FROM pg_database WHERE datname='fedadmet_test'")" = "1" ] ||
    run_sql "CREATE DATABASE fedadmet_test OWNER fedadmet" >&2
echo "postgresql+psycopg://fedadmet:fedadmet@127.0.0.1:5432/fedadmet_test"

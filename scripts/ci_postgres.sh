#!/usr/bin/env bash
# Start a private PostgreSQL server for the records tests and print the line that points them at it:
#
#   eval "$(scripts/ci_postgres.sh)"     # then: .venv/bin/pytest tests/records
#
# Idempotent: a second run reuses the running server, role and database. The server listens on
# 127.0.0.1 only (and a Unix socket in its own folder), its data lives in $CLAUSEGUARD_PG_DIR
# (default /tmp/clauseguard-pg), and the system's own clusters are left alone. As root on Debian it
# installs the postgresql package if no server is installed (the only network it needs), and runs the
# server as the postgres user. Everything except the final export line goes to stderr.
# Stop it with: scripts/ci_postgres.sh stop
set -euo pipefail

PGDIR=${CLAUSEGUARD_PG_DIR:-/tmp/clauseguard-pg}
PORT=${CLAUSEGUARD_PG_PORT:-54329}
ROLE=clauseguard
PASSWORD=clauseguard
DB=clauseguard_test

log() { echo "ci_postgres: $*" >&2; }

find_bindir() {
  local d
  for d in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
    if [ -x "$d/initdb" ] && [ -x "$d/pg_ctl" ]; then echo "$d"; return 0; fi
  done
  return 1
}

BIN=$(find_bindir || true)
if [ -z "$BIN" ]; then
  if [ "$(id -u)" != 0 ]; then log "PostgreSQL is not installed and this is not root: install 'postgresql'"; exit 1; fi
  log "installing postgresql (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >&2
  apt-get install -y -qq --no-install-recommends postgresql >&2
  BIN=$(find_bindir)
fi

# As root, run the server tools as the postgres user (initdb refuses root).
if [ "$(id -u)" = 0 ]; then
  as_owner() { runuser -u postgres -- "$@"; }
else
  as_owner() { "$@"; }
fi

if [ "${1:-start}" = stop ]; then
  if [ -f "$PGDIR/data/postmaster.pid" ]; then as_owner "$BIN/pg_ctl" -D "$PGDIR/data" -m fast -w stop >&2; fi
  exit 0
fi

mkdir -p "$PGDIR"
if [ "$(id -u)" = 0 ]; then chown postgres: "$PGDIR"; fi
chmod 700 "$PGDIR"

if [ ! -f "$PGDIR/data/PG_VERSION" ]; then
  log "initdb in $PGDIR/data ($("$BIN/postgres" --version))"
  as_owner "$BIN/initdb" -D "$PGDIR/data" -U postgres -E UTF8 --locale=C.UTF-8 \
    --auth-local=trust --auth-host=scram-sha-256 >"$PGDIR/initdb.log" 2>&1 \
    || { cat "$PGDIR/initdb.log" >&2; exit 1; }
fi

if ! "$BIN/pg_isready" -q -h 127.0.0.1 -p "$PORT"; then
  log "starting server on 127.0.0.1:$PORT"
  as_owner "$BIN/pg_ctl" -D "$PGDIR/data" -l "$PGDIR/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PORT -k $PGDIR -c fsync=on" start >&2 \
    || { tail -n 20 "$PGDIR/server.log" >&2; exit 1; }
fi

psql_admin() { as_owner "$BIN/psql" -h "$PGDIR" -p "$PORT" -U postgres -d postgres -v ON_ERROR_STOP=1 -qtAc "$1"; }

if [ "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" != 1 ]; then
  psql_admin "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'"
fi
if [ "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]; then
  psql_admin "CREATE DATABASE $DB OWNER $ROLE"
fi

echo "export CLAUSEGUARD_TEST_POSTGRES_URL=postgresql+psycopg://$ROLE:$PASSWORD@127.0.0.1:$PORT/$DB"

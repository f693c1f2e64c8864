#!/bin/sh
# Starts PostgreSQL as the primary or as a streaming replica of it.
#
# primary (first start, empty data folder): initdb with SCRAM passwords; the role and database
#   `securechat` (SECURECHAT_DB_PASSWORD); the role `replicator` (POSTGRES_REPLICATION_PASSWORD)
#   and a physical replication slot for the replica; WAL kept for a replica (at most
#   POSTGRES_MAX_SLOT_WAL_KEEP, default 4GB, while the replica is away). With
#   POSTGRES_SYNCHRONOUS_REPLICA=on a commit (so a message's acknowledgement) waits until the
#   replica has it too: no acknowledged message is lost when the primary's disk is, at the
#   cost of writes stopping while the replica is away (applied at every start).
# replica (first start): waits for the primary, copies it with pg_basebackup and follows it.
# Later starts use the data folder as it is.
set -eu
: "${POSTGRES_ROLE:=primary}"
: "${POSTGRES_PRIMARY_HOST:=postgres}"
: "${POSTGRES_SYNCHRONOUS_REPLICA:=off}"
need() {
  eval "value=\${$1:-}"
  if [ -z "$value" ]; then
    echo "postgres-entrypoint: $1 is not set (see deploy/README.md, 'Docker Compose': make deploy/.env first)" >&2
    exit 1
  fi
}

if [ ! -s "$PGDATA/PG_VERSION" ]; then
  case "$POSTGRES_ROLE" in
  primary)
    need POSTGRES_PASSWORD
    need SECURECHAT_DB_PASSWORD
    need POSTGRES_REPLICATION_PASSWORD
    pwfile="$(mktemp)"
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --username=postgres --pwfile="$pwfile" --auth-local=peer --auth-host=scram-sha-256 \
      --encoding=UTF8 --locale=C.UTF-8 >/dev/null
    rm -f "$pwfile"
    cat >> "$PGDATA/postgresql.conf" <<CONF
listen_addresses = '*'
wal_level = replica
max_wal_senders = 5
max_replication_slots = 5
hot_standby = on
synchronous_commit = on
password_encryption = scram-sha-256
CONF
    cat >> "$PGDATA/pg_hba.conf" <<HBA
host all         all        samenet scram-sha-256
host replication replicator samenet scram-sha-256
HBA
    # Set up on a socket-only server, then start for real.
    pg_ctl -D "$PGDATA" -o "-c listen_addresses=''" -w start >/dev/null
    psql -v ON_ERROR_STOP=1 -q --username=postgres \
      -v db_password="$SECURECHAT_DB_PASSWORD" -v repl_password="$POSTGRES_REPLICATION_PASSWORD" <<'SQL'
CREATE ROLE securechat LOGIN PASSWORD :'db_password';
CREATE DATABASE securechat OWNER securechat;
CREATE ROLE replicator REPLICATION LOGIN PASSWORD :'repl_password';
SELECT pg_create_physical_replication_slot('replica');
SQL
    pg_ctl -D "$PGDATA" -m fast -w stop >/dev/null
    echo "postgres-entrypoint: primary initialised (database securechat, replication slot 'replica')"
    ;;
  replica)
    need POSTGRES_REPLICATION_PASSWORD
    export PGPASSWORD="$POSTGRES_REPLICATION_PASSWORD"
    until pg_isready -q -h "$POSTGRES_PRIMARY_HOST" -U replicator; do
      echo "postgres-entrypoint: waiting for the primary at $POSTGRES_PRIMARY_HOST"
      sleep 2
    done
    rm -rf "${PGDATA:?}"/*
    pg_basebackup -h "$POSTGRES_PRIMARY_HOST" -U replicator -D "$PGDATA" -X stream \
      --slot=replica --write-recovery-conf
    # The primary's application_name for this standby (synchronous_standby_names names it).
    echo "primary_conninfo = 'host=$POSTGRES_PRIMARY_HOST user=replicator password=$POSTGRES_REPLICATION_PASSWORD application_name=replica'" \
      >> "$PGDATA/postgresql.auto.conf"
    chmod 0700 "$PGDATA"
    unset PGPASSWORD
    echo "postgres-entrypoint: replica copied from $POSTGRES_PRIMARY_HOST and following it"
    ;;
  *)
    echo "postgres-entrypoint: POSTGRES_ROLE must be primary or replica, not '$POSTGRES_ROLE'" >&2
    exit 1
    ;;
  esac
fi
# Settings applied at every start, so that a change in deploy/.env takes effect on the next
# `up` (not only on the first): whether commits wait for the replica, and how much WAL the
# replica's slot may hold back while the replica is away (beyond it the slot is given up and
# the replica must be made again, rather than the primary's disk filling up).
set -- -D "$PGDATA"
if [ "$POSTGRES_ROLE" = primary ]; then
  standby=""
  [ "$POSTGRES_SYNCHRONOUS_REPLICA" = on ] && standby=replica
  set -- "$@" -c "synchronous_standby_names=$standby" \
    -c "max_slot_wal_keep_size=${POSTGRES_MAX_SLOT_WAL_KEEP:-4GB}"
fi
exec postgres "$@"

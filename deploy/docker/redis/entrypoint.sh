#!/bin/sh
# Redis with a password (REDIS_PASSWORD), no persistence, on every interface of its network.
set -eu
if [ -z "${REDIS_PASSWORD:-}" ]; then
  echo "redis-entrypoint: REDIS_PASSWORD is not set (make deploy/.env first: deploy/README.md)" >&2
  exit 1
fi
conf="$(mktemp)"
cat > "$conf" <<CONF
bind 0.0.0.0
port 6379
protected-mode no
save ""
appendonly no
requirepass $REDIS_PASSWORD
CONF
exec redis-server "$conf"

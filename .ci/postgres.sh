#!/usr/bin/env bash
# Start a throwaway PostgreSQL server from Debian's packages (installing them
# if missing) and print its SQLAlchemy URL; its data and socket live in the
# folder named by the URL's host. Used by .ci/run and by the test fixture when
# no TRACER_TEST_PG_URL is given. Stop it with: pg_ctl -D HOST/data stop
set -euo pipefail
dir=$(mktemp -d /tmp/tracer-pg.XXXXXX)
chmod 755 "$dir"
bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$bin" ] && command -v apt-get >/dev/null 2>&1; then
  apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi
[ -n "$bin" ] || { echo "no PostgreSQL server binaries" >&2; exit 3; }
run=()
if [ "$(id -u)" = 0 ]; then  # initdb refuses to run as root
  chown postgres "$dir"
  run=(runuser -u postgres --)
fi
port=$(( 20000 + RANDOM % 20000 ))
"${run[@]}" "$bin/initdb" -D "$dir/data" -U tracer --auth=trust >/dev/null
"${run[@]}" "$bin/pg_ctl" -D "$dir/data" -l "$dir/log" -w \
  -o "-k $dir -p $port -c listen_addresses=''" start >/dev/null
echo "postgresql+psycopg://tracer@/postgres?host=$dir&port=$port"

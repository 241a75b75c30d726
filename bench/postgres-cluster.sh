#!/usr/bin/env bash
# A throwaway PostgreSQL cluster in a folder, for tests and benches (never the packaged service):
#
#   bench/postgres-cluster.sh start DIR PORT   # initdb + pg_ctl start; prints the URL on stdout
#   bench/postgres-cluster.sh stop DIR         # pg_ctl stop (fast); the folder is left for the caller
#   bench/postgres-cluster.sh resume DIR PORT  # starts a stopped cluster again (no initdb)
#
# The cluster listens on 127.0.0.1:PORT (and a socket in DIR), trusts local connections, and trades
# durability for speed (fsync off): its data is thrown away. Run as root (CI), initdb refuses to run:
# the cluster then belongs to the `postgres` user that Debian's package creates. Needs `postgresql`
# (apt); the server binaries are found under /usr/lib/postgresql/*/bin.
set -euo pipefail

bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)
[ -x "$bin/initdb" ] || { echo "postgres-cluster: no PostgreSQL server found (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-}" in
start)
    dir=$2 port=$3
    mkdir -p "$dir"
    [ "$(id -u)" = 0 ] && chown postgres: "$dir"
    as_owner "$bin/initdb" -D "$dir/data" -U ferry --auth=trust -E UTF8 --locale=C >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }
    "$0" resume "$dir" "$port"
    echo "postgres://ferry@127.0.0.1:$port/postgres"
    ;;
resume)
    dir=$2 port=$3
    as_owner "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-k $dir -p $port -c listen_addresses=127.0.0.1 -c max_connections=400 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >/dev/null || { cat "$dir/server.log" >&2; exit 1; }
    ;;
stop)
    dir=$2
    [ -d "$dir/data" ] && as_owner "$bin/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null 2>&1 || true
    ;;
*)
    echo "usage: $0 start DIR PORT | stop DIR | resume DIR PORT" >&2
    exit 2
    ;;
esac

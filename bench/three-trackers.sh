#!/usr/bin/env bash
# Three `ferry server`s on one PostgreSQL index, peers spread over them; one tracker is killed
# (SIGKILL) and the survivors' lookups are checked: before the kill every tracker lists all six peers
# in the order they registered; after it, the survivors list exactly the four peers of the live
# trackers within 15 s, and never anything else meanwhile. With the throwaway cluster, the database is
# then stopped (lookups answer 500, the trackers keep running) and started again (lookups are right again).
#
#   bench/three-trackers.sh                      # a throwaway cluster (bench/postgres-cluster.sh)
#   FERRY_POSTGRES_URL=postgres://me@db/ferry bench/three-trackers.sh   # an existing database
#
# Environment: FERRY= (the binary, default .build/debug/ferry, built if missing), PG_PORT= (the
# throwaway cluster's port, default 54330), NET= (the loopback /24 prefix used, default 127.77.0).
# The trackers listen on $NET.1-3:4444, the peers on $NET.11-16:5555; tables go in a fresh schema.
# Exit status 0 when every check passed. Needs python3 (the lookups) and, without a URL, `postgresql`.
set -euo pipefail
cd "$(dirname "$0")/.."

FERRY=${FERRY:-.build/debug/ferry}
PG_PORT=${PG_PORT:-54330}
NET=${NET:-127.77.0}
[ -x "$FERRY" ] || swift build --product ferry
work=$(mktemp -d)
chmod 755 "$work"   # the cluster in it may belong to the postgres user
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -z "${FERRY_POSTGRES_URL:-}" ] && bench/postgres-cluster.sh stop "$work/pg"
    rm -rf "$work"
}
trap cleanup EXIT

if [ -n "${FERRY_POSTGRES_URL:-}" ]; then
    base=$FERRY_POSTGRES_URL
else
    echo "starting a throwaway PostgreSQL cluster on 127.0.0.1:$PG_PORT"
    base=$(bench/postgres-cluster.sh start "$work/pg" "$PG_PORT")
fi
schema="ferry_bench_$(date +%s)_$$"
case "$base" in *\?*) url="$base&schema=$schema" ;; *) url="$base?schema=$schema" ;; esac

# `lookup HOST NAME`: the tcp ports of NAME's holders on the tracker at HOST:4444, space-separated,
# or "down" when the tracker does not answer.
lookup() {
    python3 - "$1" "$2" <<'PY'
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], 4444), timeout=5)
    s.sendall(f"SEND {sys.argv[2]}\n".encode())
    data = b""
    while not any(l[3:4] == b" " for l in data.split(b"\n")[:-1]):
        chunk = s.recv(65536)
        if not chunk: break
        data += chunk
    peers = [l.split()[1].decode() for l in data.split(b"\n") if l.startswith(b"211-PEER ")]
    print(" ".join(peers))
except OSError:
    print("down")
PY
}

trackers=("$NET.1" "$NET.2" "$NET.3")
for tracker in "${trackers[@]}"; do
    "$FERRY" server --host "$tracker" --port 4444 --db "$url" --log-level warning 2>"$work/tracker-$tracker.log" &
    pids+=($!)
done
tracker_pids=("${pids[@]}")
for tracker in "${trackers[@]}"; do
    for _ in $(seq 100); do [ "$(lookup "$tracker" x)" != down ] && break; sleep 0.1; done
done
echo "trackers up: ${trackers[*]} (index: schema $schema)"

# Peer n shares shared.txt from $NET.(10+n) and registers on tracker (n-1) % 3; one at a time, so
# that the registration order is known.
mkdir -p "$work/share"
echo "the same bytes everywhere" >"$work/share/shared.txt"
order=()
for n in 1 2 3 4 5 6; do
    peer="$NET.$((10 + n))"
    tracker=${trackers[$(((n - 1) % 3))]}
    "$FERRY" peer --server "$tracker:4444" --host "$peer" --port 5555 --share "$work/share" \
        --downloads "$work/downloads-$n" </dev/null >/dev/null 2>"$work/peer-$n.log" &
    pids+=($!)
    order+=("$peer")
    for _ in $(seq 100); do [ "$(lookup "$tracker" shared.txt)" = "${order[*]}" ] && break; sleep 0.1; done
done

failures=0
check() { # check WHAT EXPECTED ACTUAL
    if [ "$2" = "$3" ]; then echo "ok    $1"; else echo "FAIL  $1: expected [$2], got [$3]"; failures=$((failures + 1)); fi
}
for tracker in "${trackers[@]}"; do
    check "tracker $tracker lists all six peers in registration order" "${order[*]}" "$(lookup "$tracker" shared.txt)"
done

echo "killing tracker ${trackers[0]} (SIGKILL); its peers: ${order[0]} ${order[3]}"
kill -9 "${tracker_pids[0]}"
killed=$(date +%s.%N)
expected="${order[1]} ${order[2]} ${order[4]} ${order[5]}"
converged=""
wrong=0
while :; do
    elapsed=$(python3 -c "import sys; print(f'{float(sys.argv[1]) - float(sys.argv[2]):.1f}')" "$(date +%s.%N)" "$killed")
    all=yes
    for tracker in "${trackers[1]}" "${trackers[2]}"; do
        seen=$(lookup "$tracker" shared.txt)
        [ "$seen" = "$expected" ] || all=no
        if [ "$seen" != "$expected" ] && [ "$seen" != "${order[*]}" ]; then
            echo "FAIL  $tracker answered [$seen] at $elapsed s"; wrong=$((wrong + 1))
        fi
    done
    if [ $all = yes ]; then converged=$elapsed; break; fi
    python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) < 15 else 1)" "$elapsed" || break
    sleep 0.2
done
check "no wrong answer on the survivors meanwhile" 0 "$wrong"
if [ -n "$converged" ]; then
    echo "ok    the dead tracker's peers left both survivors' lookups after $converged s (bound: 15 s)"
else
    echo "FAIL  the dead tracker's peers were still listed after 15 s"; failures=$((failures + 1))
fi
for tracker in "${trackers[1]}" "${trackers[2]}"; do
    check "tracker $tracker lists the four live peers" "$expected" "$(lookup "$tracker" shared.txt)"
done
# With the throwaway cluster: the database goes away for a few seconds and comes back. Meanwhile the
# survivors answer 500 (within the 5 s they wait for it) and keep running; afterwards they list the
# four live peers again.
if [ -z "${FERRY_POSTGRES_URL:-}" ]; then
    echo "stopping the database"
    bench/postgres-cluster.sh stop "$work/pg"
    reply=$(python3 - "${trackers[1]}" <<'PY'
import socket, sys
s = socket.create_connection((sys.argv[1], 4444), timeout=15)
s.sendall(b"SEND shared.txt\n")
print(s.recv(4096).decode().strip().splitlines()[-1])
PY
)
    check "a lookup while the database is down is answered 500" 500 "${reply:0:3}"
    bench/postgres-cluster.sh resume "$work/pg" "$PG_PORT"
    back=""
    for _ in $(seq 150); do
        [ "$(lookup "${trackers[1]}" shared.txt)" = "$expected" ] && [ "$(lookup "${trackers[2]}" shared.txt)" = "$expected" ] && { back=yes; break; }
        sleep 0.1
    done
    check "the survivors list the four live peers again once the database is back" yes "$back"
    for pid in "${tracker_pids[1]}" "${tracker_pids[2]}"; do
        kill -0 "$pid" 2>/dev/null && alive=yes || alive=no
        check "tracker process $pid still runs" yes "$alive"
    done
fi
echo "$failures failure(s)"
[ "$failures" -eq 0 ]

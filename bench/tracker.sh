#!/usr/bin/env bash
# Benchmark Ferry's tracker (`ferry server`) against opentracker, in the same run, on loopback.
#
#   bench/tracker.sh                                  10 s per run, 20 s under writes
#   bench/tracker.sh --seconds 5 --no-writes          a quick run
#   bench/tracker.sh --no-build --out bench/results/tracker-$(date +%F).txt
#   FERRY_PORT=4544 OT_PORT=6970 bench/tracker.sh     when 4444 or 6969 is taken
#
# What it measures: lookups per second and their p99 latency, 64 clients in a closed loop (each
# with one request in flight, the next sent when the whole reply is in), on the machine's cores,
# the load generator sharing them with the tracker under test.
#   anchor: opentracker (Debian's whitelist-only build) scraped by `wrk -t2 -c64 --latency` for one
#           whitelisted, announced info-hash; opentracker closes the connection after each reply, so
#           every scrape is a new connection. An announce of the same torrent is a secondary figure.
#   ferry:  `ferry-tracker-load` (Benchmarks/TrackerLoad) sending `SEND <name>` to `ferry server`
#           after registering 100 peers x 100 files (5 holders per file), with kept connections
#           (bar >= 2x the opentracker scrape rate, goal 4x) and with a new connection per lookup
#           (bar >= 1x, goal 1.5x). The tracker is restarted with a fresh database for each run.
#   under writes (unless --no-writes): 1000 more peers of 1000 files each (10^6 entries) replacing
#           their whole share every 60 s while the kept-connection lookups run, and one UPDATE of
#           100000 files timed: lookups/s as a share of the kept rate (bar >= 75 %), that UPDATE's
#           answer time (bar <= 1 s), after 20 s for the database to record the first 10^6.
# Options: --seconds N (default 10), --write-seconds N (default 20), --no-build, --no-writes,
# --out FILE (the table and the raw wrk/JSON results), -h/--help.
# Environment: FERRY= and LOAD= (the binaries), FERRY_PORT= (4444), OT_PORT= (6969).
# Needs root for apt-get when opentracker or wrk is missing. Not part of `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
RUN_SECONDS=10
WRITE_SECONDS=20
BUILD=1
WRITES=1
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) RUN_SECONDS=${2:?--seconds needs a number}; shift 2 ;;
        --write-seconds) WRITE_SECONDS=${2:?--write-seconds needs a number}; shift 2 ;;
        --no-build) BUILD=0; shift ;;
        --no-writes) WRITES=0; shift ;;
        --out) OUT=${2:?--out needs a file}; shift 2 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "unknown option: $1 (see --help)" >&2; exit 2 ;;
    esac
done
[[ $RUN_SECONDS =~ ^[0-9]+$ && $RUN_SECONDS -gt 0 ]] || { echo "--seconds must be a positive whole number" >&2; exit 2; }
[[ $WRITE_SECONDS =~ ^[0-9]+$ && $WRITE_SECONDS -gt 0 ]] || { echo "--write-seconds must be a positive whole number" >&2; exit 2; }

SCRIPT_START=$(date +%s)
FERRY_PORT=${FERRY_PORT:-4444}
OT_PORT=${OT_PORT:-6969}
CONNECTIONS=64
export PATH="/opt/swift/usr/bin:$PATH"

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need opentracker opentracker
need wrk wrk
need curl curl
need python3 python3
need ss iproute2

if [ "$BUILD" = 1 ]; then
    echo "Building ferry and ferry-tracker-load (release)..."
    swift build -c release --product ferry >/dev/null
    swift build -c release --product ferry-tracker-load >/dev/null
fi
FERRY=${FERRY:-.build/release/ferry}
LOAD=${LOAD:-.build/release/ferry-tracker-load}
for bin in "$FERRY" "$LOAD"; do [ -x "$bin" ] || { echo "$bin is missing: build it or drop --no-build" >&2; exit 1; }; done

port_free() { [ -z "$(ss -Hltn "sport = :$1")" ]; }
for port in "$FERRY_PORT" "$OT_PORT"; do
    port_free "$port" || { echo "port $port is already taken:" >&2; ss -ltnp "sport = :$port" >&2; \
        echo "set FERRY_PORT= / OT_PORT= to free ports" >&2; exit 1; }
done

WORK=$(mktemp -d /dev/shm/ferry-tracker.XXXXXX)
OT_PID=""
FERRY_PID=""
LOAD_PID=""
stop() {   # PID: TERM, then KILL after 5 s
    [ -n "$1" ] || return 0
    kill "$1" 2>/dev/null || return 0
    for _ in $(seq 1 50); do kill -0 "$1" 2>/dev/null || break; sleep 0.1; done
    kill -9 "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
}
cleanup() {
    stop "$LOAD_PID"
    stop "$OT_PID"
    stop "$FERRY_PID"
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Waits (at most $3 tenths of a second) until 127.0.0.1:$1 accepts, while PID $2 lives.
wait_port() {
    for _ in $(seq 1 "$3"); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

# --- opentracker ----------------------------------------------------------------------------------
# Run as root it chroots to its working folder and drops to nobody: the folder and files must be
# readable by all.
HEX=0123456789abcdef0123456789abcdef01234567
H=$(sed 's/../%&/g' <<< "$HEX")   # the 20 raw bytes, URL-encoded
PEER_ID=ABCDEFGHIJKLMNOPQRST
OT_URL="http://127.0.0.1:$OT_PORT"
ANNOUNCE="$OT_URL/announce?info_hash=$H&peer_id=$PEER_ID&port=6881&left=0&compact=1"
SCRAPE="$OT_URL/scrape?info_hash=$H"
mkdir -p "$WORK/ot"
chmod 755 "$WORK" "$WORK/ot"
echo "$HEX" > "$WORK/ot/whitelist"
printf 'listen.tcp_udp 127.0.0.1:%s\naccess.whitelist %s\n' "$OT_PORT" "$WORK/ot/whitelist" > "$WORK/ot/opentracker.conf"
chmod 644 "$WORK/ot/whitelist" "$WORK/ot/opentracker.conf"
echo "Starting opentracker on 127.0.0.1:$OT_PORT..."
(cd "$WORK/ot" && exec opentracker -f "$WORK/ot/opentracker.conf") > "$WORK/opentracker.log" 2>&1 &
OT_PID=$!
OT_UP=0
for _ in $(seq 1 50); do   # at most ~5 s
    if curl -s -o /dev/null --max-time 1 "$SCRAPE"; then OT_UP=1; break; fi
    kill -0 "$OT_PID" 2>/dev/null || break
    sleep 0.1
done
[ "$OT_UP" = 1 ] || { echo "opentracker did not answer on port $OT_PORT:" >&2; cat "$WORK/opentracker.log" >&2; exit 1; }
curl -s --max-time 5 -o /dev/null "$ANNOUNCE"
curl -s --max-time 5 -o "$WORK/scrape.out" "$SCRAPE" || true
if ! grep -aq '8:completei1e' "$WORK/scrape.out"; then
    echo "opentracker's scrape does not list the announced torrent (no 8:completei1e); it answered:" >&2
    od -c "$WORK/scrape.out" | head -8 >&2
    exit 1
fi

# "requests/s p99_ms errors closes" from wrk --latency output on stdin. errors: connect, write and
# timeout socket errors and non-2xx replies. closes: wrk's read errors. opentracker answers
# HTTP/1.1 without `Connection: close` and then closes, so wrk sends its next request on the
# closed connection, reads EOF, counts a read error and reconnects: about one per request, expected.
# (wrk's latency runs from the request's write, without the connect; ferry-tracker-load's, with
# --new-connection, includes the connect.)
wrk_figures() {
    python3 -c '
import re, sys
text = sys.stdin.read()
rate = re.search(r"Requests/sec:\s*([0-9.]+)", text)
p99 = re.search(r"^\s*99(?:\.0+)?%\s+([0-9.]+)(us|ms|s|m)\s*$", text, re.M)
if not rate or not p99:
    sys.exit("cannot read wrk output:\n" + text)
ms = float(p99.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60000.0}[p99.group(2)]
errors = closes = 0
sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
if sock:
    connect, read, write, timeout = (int(g) for g in sock.groups())
    errors += connect + write + timeout
    closes = read
bad = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
if bad:
    errors += int(bad.group(1))
print("%.0f %.3f %d %d" % (float(rate.group(1)), ms, errors, closes))'
}
echo "wrk: opentracker scrape, $CONNECTIONS connections, ${RUN_SECONDS} s..."
wrk -t2 -c"$CONNECTIONS" -d"${RUN_SECONDS}s" --latency "$SCRAPE" > "$WORK/wrk-scrape.txt"
read -r OT_SCRAPE_RPS OT_SCRAPE_P99 OT_SCRAPE_ERR OT_SCRAPE_CLOSES < <(wrk_figures < "$WORK/wrk-scrape.txt")
echo "wrk: opentracker announce, $CONNECTIONS connections, ${RUN_SECONDS} s..."
wrk -t2 -c"$CONNECTIONS" -d"${RUN_SECONDS}s" --latency "$ANNOUNCE" > "$WORK/wrk-announce.txt"
read -r OT_ANN_RPS OT_ANN_P99 OT_ANN_ERR OT_ANN_CLOSES < <(wrk_figures < "$WORK/wrk-announce.txt")
stop "$OT_PID"; OT_PID=""

# --- Ferry ----------------------------------------------------------------------------------------
RUN=0
start_ferry() {   # a fresh tracker on a fresh database
    stop "$FERRY_PID"; FERRY_PID=""
    RUN=$((RUN + 1))
    port_free "$FERRY_PORT" || { echo "port $FERRY_PORT did not come free" >&2; exit 1; }
    "$FERRY" server --host 127.0.0.1 --port "$FERRY_PORT" --db "$WORK/tracker-$RUN.sqlite" \
        --log-level warning > "$WORK/ferry-$RUN.log" 2>&1 &
    FERRY_PID=$!
    wait_port "$FERRY_PORT" "$FERRY_PID" 100 || { echo "ferry server did not accept on port $FERRY_PORT:" >&2; cat "$WORK/ferry-$RUN.log" >&2; exit 1; }
}
# In the background, watched: a TERM to this script runs the trap at once, a run is capped at its
# seconds + 900, and a generator left with no socket open for 15 s (all its connections closed,
# awaiting a reply that will not come) is reported as hung instead of waited for.
sockets() { find "/proc/$1/fd" -lname 'socket:*' 2>/dev/null | wc -l; }
load() {   # output file, seconds measured, extra options...
    local out=$1 seconds=$2 rc=0 began idle=0 why=""
    shift 2
    "$LOAD" --tracker "127.0.0.1:$FERRY_PORT" --connections "$CONNECTIONS" --threads 2 \
        --duration "$seconds" --warmup 2 --json "$@" > "$out" 2> "$out.err" &
    LOAD_PID=$!
    began=$(date +%s)
    while kill -0 "$LOAD_PID" 2>/dev/null; do
        sleep 1
        if [ "$(sockets "$LOAD_PID")" = 0 ]; then idle=$((idle + 1)); else idle=0; fi
        if [ "$idle" -ge 15 ] && kill -0 "$LOAD_PID" 2>/dev/null; then
            why="hung: no connection to the tracker left for 15 s (the tracker dropped its peers?)"; break
        fi
        if [ "$(($(date +%s) - began))" -gt "$((seconds + 900))" ]; then why="still running after $((seconds + 900)) s"; break; fi
    done
    if [ -n "$why" ]; then stop "$LOAD_PID"; rc=1; else wait "$LOAD_PID" || rc=$?; fi
    LOAD_PID=""
    if [ "$rc" != 0 ] || ! grep -q '^{' "$out"; then
        echo "ferry-tracker-load $* failed${why:+, $why}:" >&2; cat "$out" "$out.err" >&2
        echo "ferry server's log:" >&2; tail -20 "$WORK/ferry-$RUN.log" >&2
        exit 1
    fi
}
jget() { python3 -c 'import json, sys; print(json.loads(open(sys.argv[1]).readline())[sys.argv[2]])' "$1" "$2"; }

echo "ferry: kept connections, $CONNECTIONS clients, ${RUN_SECONDS} s (after registering 100 x 100 files)..."
start_ferry
load "$WORK/kept.json" "$RUN_SECONDS"
echo "ferry: a new connection per lookup, $CONNECTIONS clients, ${RUN_SECONDS} s..."
start_ferry
load "$WORK/new.json" "$RUN_SECONDS" --new-connection
if [ "$WRITES" = 1 ]; then
    echo "ferry: kept connections under writes (1000 writers x 1000 files, UPDATE of 100000), ${WRITE_SECONDS} s;"
    echo "       registering 10^6 entries first takes a while..."
    start_ferry
    # --settle: the database takes a few seconds to record the 10^6 entries registered; measured is
    # the steady state (heartbeats and replacements), not that first load.
    load "$WORK/writes.json" "$WRITE_SECONDS" --writers 1000 --writer-files 1000 --replace-every 60 --big-update 100000 --settle 20
fi
stop "$FERRY_PID"; FERRY_PID=""

# --- Results --------------------------------------------------------------------------------------
ok() { python3 -c 'import sys; print("pass" if eval(sys.argv[1]) else "FAIL")' "$1"; }
ratio() { python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print("%.2f" % (a / b if b else 0))' "$1" "$2"; }
KEPT_RPS=$(jget "$WORK/kept.json" lookups_per_second); KEPT_P99=$(jget "$WORK/kept.json" p99_ms)
NEW_RPS=$(jget "$WORK/new.json" lookups_per_second); NEW_P99=$(jget "$WORK/new.json" p99_ms)
KEPT_ERR=$(jget "$WORK/kept.json" errors); NEW_ERR=$(jget "$WORK/new.json" errors)
R_KEPT=$(ratio "$KEPT_RPS" "$OT_SCRAPE_RPS"); R_NEW=$(ratio "$NEW_RPS" "$OT_SCRAPE_RPS")
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain 2>/dev/null)" ] || REV="$REV+changes"

row() { printf '%-40s %10s %10s   %s\n' "$@"; }
{
    echo "tracker lookups, $CONNECTIONS clients in a closed loop, $(nproc) cores, loopback   ($(date -u '+%Y-%m-%d %H:%M UTC'), $REV)"
    row "" "per second" "p99" "vs opentracker scrape"
    row "opentracker scrape (wrk, new conn)" "$OT_SCRAPE_RPS" "$(printf '%.2f ms' "$OT_SCRAPE_P99")" ""
    row "opentracker announce (wrk, new conn)" "$OT_ANN_RPS" "$(printf '%.2f ms' "$OT_ANN_P99")" \
        "$(ratio "$OT_ANN_RPS" "$OT_SCRAPE_RPS")x"
    row "ferry SEND, kept connections" "$(printf '%.0f' "$KEPT_RPS")" "$(printf '%.2f ms' "$KEPT_P99")" \
        "${R_KEPT}x  (bar >= 2x, goal 4x)      $(ok "$R_KEPT >= 2")"
    row "ferry SEND, new connection per lookup" "$(printf '%.0f' "$NEW_RPS")" "$(printf '%.2f ms' "$NEW_P99")" \
        "${R_NEW}x  (bar >= 1x, goal 1.5x)    $(ok "$R_NEW >= 1")"
    if [ "$WRITES" = 1 ]; then
        W_RPS=$(jget "$WORK/writes.json" lookups_per_second); W_P99=$(jget "$WORK/writes.json" p99_ms)
        W_ERR=$(jget "$WORK/writes.json" errors); W_ENTRIES=$(jget "$WORK/writes.json" registered_entries)
        W_SETUP=$(jget "$WORK/writes.json" setup_seconds)
        W_REPL=$(jget "$WORK/writes.json" share_replacements); W_REPL_P99=$(jget "$WORK/writes.json" share_replacement_p99_ms)
        BIG=$(jget "$WORK/writes.json" big_update_seconds); BIG_FILES=$(jget "$WORK/writes.json" big_update_files)
        SHARE=$(python3 -c 'import sys; a, b = float(sys.argv[1]), float(sys.argv[2]); print("%.0f" % (100 * a / b if b else 0))' "$W_RPS" "$KEPT_RPS")
        row "ferry SEND under writes ($W_ENTRIES entries)" "$(printf '%.0f' "$W_RPS")" "$(printf '%.2f ms' "$W_P99")" \
            "$SHARE % of kept  (bar >= 75 %)     $(ok "$SHARE >= 75")"
        printf 'UPDATE of %s files answered in %.2f s (bar <= 1 s)   %s\n' "$BIG_FILES" "$BIG" "$(ok "$BIG <= 1")"
        printf 'under writes: %s share replacements of 1000 files (p99 %.0f ms); registering the %s entries took %.1f s\n' \
            "$W_REPL" "$W_REPL_P99" "$W_ENTRIES" "$W_SETUP"
    fi
    errs="errors: wrk scrape $OT_SCRAPE_ERR, wrk announce $OT_ANN_ERR, ferry kept $KEPT_ERR, ferry new connection $NEW_ERR"
    [ "$WRITES" = 0 ] || errs="$errs, ferry under writes $W_ERR"
    echo "$errs"
    echo "(wrk also read EOF $OT_SCRAPE_CLOSES + $OT_ANN_CLOSES times: opentracker closing after each reply, expected)"
    measured="${RUN_SECONDS} s measured per run"
    [ "$WRITES" = 0 ] || measured="$measured (${WRITE_SECONDS} s under writes)"
    echo "$measured, after 2 s of warm-up for ferry; the script took $(($(date +%s) - SCRIPT_START)) s"
} > "$WORK/table.txt"
echo
cat "$WORK/table.txt"

if [ -n "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"
    {
        cat "$WORK/table.txt"
        echo
        echo "== wrk $SCRAPE"; cat "$WORK/wrk-scrape.txt"
        echo "== wrk $ANNOUNCE"; cat "$WORK/wrk-announce.txt"
        echo "== ferry-tracker-load (JSON lines: kept, new connection$([ "$WRITES" = 1 ] && echo ", under writes"))"
        cat "$WORK/kept.json" "$WORK/new.json"
        [ "$WRITES" = 0 ] || cat "$WORK/writes.json"
    } > "$OUT"
    echo "(written to $OUT)"
fi

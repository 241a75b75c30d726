#!/usr/bin/env bash
# Benchmark Ferry's tracker (`ferry server`) against opentracker, in the same run, on loopback.
#
#   bench/tracker.sh                                  3 rounds of 10 s per run, 20 s under writes
#   bench/tracker.sh --rounds 1 --seconds 5 --no-writes    a quick run
#   bench/tracker.sh --no-build --out bench/results/tracker-$(date +%F).txt
#   FERRY_PORT=4544 OT_PORT=6970 FLOOR_PORT=4546 bench/tracker.sh     when a default port is taken
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
#   floor:  `ferry-nio-floor` (Benchmarks/NIOFloor), a SwiftNIO server that listens as the tracker does
#           and answers every line with a fixed reply: no index, no admission, no timers. The same
#           generator, kept and new connection: what SwiftNIO itself allows on this machine, the ceiling
#           for Ferry's tracker (which must use it), and Ferry's rate as a share of it.
#   under writes (unless --no-writes): 1000 more peers of 1000 files each (10^6 entries) replacing
#           their whole share every 60 s while the kept-connection lookups run, and one UPDATE of
#           100000 files timed: lookups/s as a share of the kept rate (bar >= 75 %), that UPDATE's
#           answer time (bar <= 1 s), after 20 s for the database to record the first 10^6.
# Rounds: this machine's speed swings by up to 40 % between minutes, so the anchor and Ferry are
#   measured in turns: each round runs the opentracker scrape, then Ferry with kept connections, then
#   with a new connection per lookup, then the floor both ways, and gives the ratios of that round;
#   the table shows the median of each figure over the rounds (of a ratio: the median of the rounds'
#   ratios). Under writes runs once, after the rounds, followed by one more kept-connection run: its
#   share is of the mean of the kept runs just before and just after it.
# Options: --rounds N (default 3), --seconds N (default 10), --write-seconds N (default 20),
# --no-build, --no-writes, --out FILE (the table and the raw wrk/JSON results), -h/--help.
# Environment: FERRY=, LOAD= and FLOOR= (the binaries), FERRY_PORT= (4444), OT_PORT= (6969),
# FLOOR_PORT= (4446).
# Needs root for apt-get when opentracker or wrk is missing. Not part of `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; }
RUN_SECONDS=10
WRITE_SECONDS=20
ROUNDS=3
BUILD=1
WRITES=1
OUT=""
while [ $# -gt 0 ]; do
    case "$1" in
        --seconds) RUN_SECONDS=${2:?--seconds needs a number}; shift 2 ;;
        --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
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
[[ $ROUNDS =~ ^[0-9]+$ && $ROUNDS -gt 0 ]] || { echo "--rounds must be a positive whole number" >&2; exit 2; }

SCRIPT_START=$(date +%s)
FERRY_PORT=${FERRY_PORT:-4444}
OT_PORT=${OT_PORT:-6969}
FLOOR_PORT=${FLOOR_PORT:-4446}
CONNECTIONS=64
export PATH="/opt/swift/usr/bin:$PATH"

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need opentracker opentracker
need wrk wrk
need curl curl
need python3 python3
need ss iproute2

if [ "$BUILD" = 1 ]; then
    echo "Building ferry, ferry-tracker-load and ferry-nio-floor (release)..."
    swift build -c release --product ferry >/dev/null
    swift build -c release --product ferry-tracker-load >/dev/null
    swift build -c release --product ferry-nio-floor >/dev/null
fi
FERRY=${FERRY:-.build/release/ferry}
LOAD=${LOAD:-.build/release/ferry-tracker-load}
FLOOR=${FLOOR:-.build/release/ferry-nio-floor}
for bin in "$FERRY" "$LOAD" "$FLOOR"; do [ -x "$bin" ] || { echo "$bin is missing: build it or drop --no-build" >&2; exit 1; }; done

port_free() { [ -z "$(ss -Hltn "sport = :$1")" ]; }
for port in "$FERRY_PORT" "$OT_PORT" "$FLOOR_PORT"; do
    port_free "$port" || { echo "port $port is already taken:" >&2; ss -ltnp "sport = :$port" >&2; \
        echo "set FERRY_PORT= / OT_PORT= / FLOOR_PORT= to free ports" >&2; exit 1; }
done

WORK=$(mktemp -d /dev/shm/ferry-tracker.XXXXXX)
OT_PID=""
FERRY_PID=""
FLOOR_PID=""
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
    stop "$FLOOR_PID"
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
load() {   # output file, seconds measured, extra options... (the server: $TARGET_PORT, default ferry's)
    local out=$1 seconds=$2 rc=0 began idle=0 why=""
    shift 2
    "$LOAD" --tracker "127.0.0.1:${TARGET_PORT:-$FERRY_PORT}" --connections "$CONNECTIONS" --threads 2 \
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
        if [ -n "${TARGET_PORT:-}" ]; then echo "ferry-nio-floor's output:" >&2; tail -20 "$WORK/floor.log" >&2
        else echo "ferry server's log:" >&2; tail -20 "$WORK/ferry-$RUN.log" >&2; fi
        exit 1
    fi
}

# --- The SwiftNIO floor ---------------------------------------------------------------------------
echo "Starting ferry-nio-floor on 127.0.0.1:$FLOOR_PORT..."
"$FLOOR" --port "$FLOOR_PORT" > "$WORK/floor.log" 2>&1 &
FLOOR_PID=$!
wait_port "$FLOOR_PORT" "$FLOOR_PID" 100 || { echo "ferry-nio-floor did not accept on port $FLOOR_PORT:" >&2; cat "$WORK/floor.log" >&2; exit 1; }

# --- Rounds ---------------------------------------------------------------------------------------
for ROUND in $(seq 1 "$ROUNDS"); do
    echo "round $ROUND of $ROUNDS: wrk on the opentracker scrape, $CONNECTIONS connections, ${RUN_SECONDS} s..."
    wrk -t2 -c"$CONNECTIONS" -d"${RUN_SECONDS}s" --latency "$SCRAPE" > "$WORK/wrk-scrape-$ROUND.txt"
    wrk_figures < "$WORK/wrk-scrape-$ROUND.txt" > "$WORK/scrape-$ROUND.figures"
    echo "round $ROUND of $ROUNDS: ferry, kept connections, then a new connection per lookup (100 x 100 files registered)..."
    start_ferry
    load "$WORK/kept-$ROUND.json" "$RUN_SECONDS"
    start_ferry
    load "$WORK/new-$ROUND.json" "$RUN_SECONDS" --new-connection
    stop "$FERRY_PID"; FERRY_PID=""
    echo "round $ROUND of $ROUNDS: the SwiftNIO floor, kept connections, then a new connection per lookup..."
    TARGET_PORT=$FLOOR_PORT load "$WORK/floor-kept-$ROUND.json" "$RUN_SECONDS"
    TARGET_PORT=$FLOOR_PORT load "$WORK/floor-new-$ROUND.json" "$RUN_SECONDS" --new-connection
done
stop "$FLOOR_PID"; FLOOR_PID=""
echo "wrk: opentracker announce, $CONNECTIONS connections, ${RUN_SECONDS} s..."
wrk -t2 -c"$CONNECTIONS" -d"${RUN_SECONDS}s" --latency "$ANNOUNCE" > "$WORK/wrk-announce.txt"
read -r OT_ANN_RPS OT_ANN_P99 OT_ANN_ERR OT_ANN_CLOSES < <(wrk_figures < "$WORK/wrk-announce.txt")
stop "$OT_PID"; OT_PID=""
if [ "$WRITES" = 1 ]; then
    echo "ferry: kept connections under writes (1000 writers x 1000 files, UPDATE of 100000), ${WRITE_SECONDS} s;"
    echo "       registering 10^6 entries first takes a while..."
    start_ferry
    # --settle: the database takes a few seconds to record the 10^6 entries registered; measured is
    # the steady state (heartbeats and replacements), not that first load.
    load "$WORK/writes.json" "$WRITE_SECONDS" --writers 1000 --writer-files 1000 --replace-every 60 --big-update 100000 --settle 20
    echo "ferry: kept connections again, ${RUN_SECONDS} s (the other side of the run under writes)..."
    start_ferry
    load "$WORK/kept-after.json" "$RUN_SECONDS"
fi
stop "$FERRY_PID"; FERRY_PID=""

# --- Results --------------------------------------------------------------------------------------
REV=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
[ -z "$(git status --porcelain 2>/dev/null)" ] || REV="$REV+changes"
HEADER="tracker lookups, $CONNECTIONS clients in a closed loop, $(nproc) cores, loopback   ($(date -u '+%Y-%m-%d %H:%M UTC'), $REV)"
python3 - "$WORK" "$ROUNDS" "$WRITES" "$OT_ANN_RPS" "$OT_ANN_P99" "$OT_ANN_ERR" "$OT_ANN_CLOSES" "$HEADER" \
    "$RUN_SECONDS" "$WRITE_SECONDS" "$(($(date +%s) - SCRIPT_START))" > "$WORK/table.txt" <<'PY'
import json, statistics, sys
work, rounds, writes = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
ann_rps, ann_p99, ann_err, ann_closes = float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7])
header, run_seconds, write_seconds, took = sys.argv[8], sys.argv[9], sys.argv[10], sys.argv[11]
def load(name):
    with open(f"{work}/{name}") as f:
        return json.loads(f.readline())
def row(a, b="", c="", d=""):
    print("%-40s %10s %10s   %s" % (a, b, c, d))
def verdict(ok):
    return "pass" if ok else "FAIL"
scrape, kept, new, fkept, fnew = [], [], [], [], []
for r in range(1, rounds + 1):
    rps, p99, err, closes = open(f"{work}/scrape-{r}.figures").read().split()
    scrape.append({"rps": float(rps), "p99": float(p99), "errors": int(err), "closes": int(closes)})
    kept.append(load(f"kept-{r}.json"))
    new.append(load(f"new-{r}.json"))
    fkept.append(load(f"floor-kept-{r}.json"))
    fnew.append(load(f"floor-new-{r}.json"))
median = statistics.median
r_kept = [k["lookups_per_second"] / s["rps"] for k, s in zip(kept, scrape)]
r_new = [n["lookups_per_second"] / s["rps"] for n, s in zip(new, scrape)]
m_kept, m_new = median(r_kept), median(r_new)
rf_kept = [k["lookups_per_second"] / s["rps"] for k, s in zip(fkept, scrape)]
rf_new = [n["lookups_per_second"] / s["rps"] for n, s in zip(fnew, scrape)]
of_kept = [k["lookups_per_second"] / f["lookups_per_second"] for k, f in zip(kept, fkept)]
of_new = [n["lookups_per_second"] / f["lookups_per_second"] for n, f in zip(new, fnew)]
print(header)
print(f"median of {rounds} rounds; each round: opentracker, then ferry kept and new connection, then the SwiftNIO floor")
row("", "per second", "p99", "vs opentracker scrape")
row("opentracker scrape (wrk, new conn)", "%.0f" % median(s["rps"] for s in scrape), "%.2f ms" % median(s["p99"] for s in scrape))
row("opentracker announce (wrk, new conn)", "%.0f" % ann_rps, "%.2f ms" % ann_p99, "%.2fx (one run)" % (ann_rps / median(s["rps"] for s in scrape)))
row("ferry SEND, kept connections", "%.0f" % median(k["lookups_per_second"] for k in kept), "%.2f ms" % median(k["p99_ms"] for k in kept),
    "%.2fx  (bar >= 2x, goal 4x)      %s" % (m_kept, verdict(m_kept >= 2)))
row("ferry SEND, new connection per lookup", "%.0f" % median(n["lookups_per_second"] for n in new), "%.2f ms" % median(n["p99_ms"] for n in new),
    "%.2fx  (bar >= 1x, goal 1.5x)    %s" % (m_new, verdict(m_new >= 1)))
row("floor: SwiftNIO, fixed reply, kept", "%.0f" % median(k["lookups_per_second"] for k in fkept),
    "%.2f ms" % median(k["p99_ms"] for k in fkept), "%.2fx  (ferry: %.0f %% of it)" % (median(rf_kept), 100 * median(of_kept)))
row("floor: SwiftNIO, fixed reply, new conn", "%.0f" % median(n["lookups_per_second"] for n in fnew),
    "%.2f ms" % median(n["p99_ms"] for n in fnew), "%.2fx  (ferry: %.0f %% of it)" % (median(rf_new), 100 * median(of_new)))
print("a new connection's p99 from the request's write (without the connect), as wrk times: ferry %.2f ms, floor %.2f ms"
      % (median(n.get("p99_from_write_ms", 0) for n in new), median(n.get("p99_from_write_ms", 0) for n in fnew)))
errors = f"errors: wrk scrape {sum(s['errors'] for s in scrape)}, wrk announce {ann_err}, ferry kept {sum(k['errors'] for k in kept)}, ferry new connection {sum(n['errors'] for n in new)}, floor {sum(f['errors'] for f in fkept + fnew)}"
if writes:
    w, after = load("writes.json"), load("kept-after.json")
    base = (kept[-1]["lookups_per_second"] + after["lookups_per_second"]) / 2
    share = 100 * w["lookups_per_second"] / base
    row(f"ferry SEND under writes ({w['registered_entries']} entries)", "%.0f" % w["lookups_per_second"], "%.2f ms" % w["p99_ms"],
        "%.0f %% of kept  (bar >= 75 %%)     %s" % (share, verdict(share >= 75)))
    print("  (of the mean of the kept runs just before and after it: %.0f and %.0f)" % (kept[-1]["lookups_per_second"], after["lookups_per_second"]))
    print("UPDATE of %d files answered in %.2f s (bar <= 1 s)   %s" % (w["big_update_files"], w["big_update_seconds"], verdict(w["big_update_seconds"] <= 1)))
    print("under writes: %d share replacements of 1000 files (p99 %.0f ms); registering the %d entries took %.1f s"
          % (w["share_replacements"], w["share_replacement_p99_ms"], w["registered_entries"], w["setup_seconds"]))
    errors += f", ferry under writes {w['errors']}, ferry kept after {after['errors']}"
print(errors)
print("rounds (opentracker scrape/s; ferry kept/s and ratio; ferry new connection/s and ratio; floor kept, new connection):")
for i in range(rounds):
    print("  %d: %6.0f; %6.0f %.2fx; %6.0f %.2fx; floor %6.0f %.2fx, %6.0f %.2fx" % (
        i + 1, scrape[i]["rps"], kept[i]["lookups_per_second"], r_kept[i], new[i]["lookups_per_second"], r_new[i],
        fkept[i]["lookups_per_second"], rf_kept[i], fnew[i]["lookups_per_second"], rf_new[i]))
print(f"(wrk also read EOF {sum(s['closes'] for s in scrape)} + {ann_closes} times: opentracker closing after each reply, expected)")
measured = f"{run_seconds} s measured per run"
if writes:
    measured += f" ({write_seconds} s under writes)"
print(f"{measured}, after 2 s of warm-up for ferry; the script took {took} s")
PY
echo
cat "$WORK/table.txt"

if [ -n "$OUT" ]; then
    mkdir -p "$(dirname "$OUT")"
    {
        cat "$WORK/table.txt"
        echo
        for round in $(seq 1 "$ROUNDS"); do
            echo "== round $round: wrk $SCRAPE"; cat "$WORK/wrk-scrape-$round.txt"
            echo "== round $round: ferry-tracker-load (JSON lines: kept, new connection; floor kept, floor new connection)"
            cat "$WORK/kept-$round.json" "$WORK/new-$round.json" "$WORK/floor-kept-$round.json" "$WORK/floor-new-$round.json"
        done
        echo "== wrk $ANNOUNCE"; cat "$WORK/wrk-announce.txt"
        if [ "$WRITES" = 1 ]; then
            echo "== ferry-tracker-load (JSON lines: under writes, kept after)"
            cat "$WORK/writes.json" "$WORK/kept-after.json"
        fi
    } > "$OUT"
    echo "(written to $OUT)"
fi

#!/usr/bin/env bash
# Benchmark Ferry's swarm downloads (one file from several holders at once).
#
#   bench/swarm.sh                         RUNS=5 SIZE_MIB=1024 FLASH_MIB=256 by default
#   RUNS=1 SIZE_MIB=256 bench/swarm.sh     a quick run
#   SCENARIOS="6" bench/swarm.sh           only some scenarios (of 1 3 4 5 6; 1 includes 2 and 7)
#   nice -n 10 bench/swarm.sh              on a shared machine
#
# Everything runs inside a private network namespace. Its loopback gets an HTB root qdisc whose
# default class does not exist (so unclassified traffic is unshaped); each source address that is
# shaped gets its own HTB class (25 MB/s = 200 mbit, or 1 MB/s = 8 mbit for the slow source) and a
# `u32 match ip src ADDR/32` filter. Only what a source sends is shaped, so each holder uploads at
# most 25 MB/s whatever the downloader does.
#
# Scenarios, each RUNS times; medians and ratios come from the same invocation:
#   0. shaping check: curl from nginx on one shaped address (~25 MB/s) and on the slow one (~1 MB/s)
#   1. TCP: 4 shaped holders vs one (--max-sources 1) -> ratio (bar >= 3.8x, goal 3.9x);
#      vs `aria2c -s4 -x1` from nginx mirrors on the same 4 shaped addresses (Ferry must be faster)
#   2. UDP: the same, 4 holders vs one (bar >= 3.6x)
#   3. 3 fast holders + one at 1 MB/s vs the 3 fast alone (bar: within 10 %, goal 5 %)
#   4. 3 good holders + one serving corrupt bytes under the announced hash: completes, and the bad
#      holder's bad_chunks from --json (bar <= 2)
#   5. one unshaped holder over TCP (SHA-256 verified) vs `curl -o` from nginx (no hash)
#      (bar >= 1.0x, goal 1.2x)
#   6. flash crowd: one shaped seeder and 8 `ferry peer`s on 8 shaped addresses, each sharing its
#      download folder, told `Send flash.bin` at once (FLASH_MIB file): the last finisher's time vs
#      one such peer alone (bar <= 2.5x, goal 1.5x). The peers serve each other the chunks they
#      have verified (partial holders). Each peer's time runs from the command to its file taking
#      its final name (polled every 50 ms).
#   7. peak RSS of `ferry get` for the 4-holder TCP downloads of scenario 1, /usr/bin/time -v
#      (bar <= 48 MiB, goal 32 MiB)
# Times are wall-clock, process start to exit. MB = 10^6 bytes. Files live in /dev/shm.
# Needs root (apt-get, ip netns, tc). Not part of `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

SCRIPT_START=$(date +%s)
RUNS=${RUNS:-5}
SIZE_MIB=${SIZE_MIB:-1024}
FLASH_MIB=${FLASH_MIB:-256}
SCENARIOS=${SCENARIOS:-1 3 4 5 6}
want() { [[ " $SCENARIOS " == *" $1 "* ]]; }
FAST=200mbit    # 25,000,000 bytes/s
SLOW=8mbit      # 1,000,000 bytes/s
export PATH="/opt/swift/usr/bin:$PATH"

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
need nginx nginx
need aria2c aria2
need curl curl
need bc bc
need tc iproute2
need python3 python3
[ -x /usr/bin/time ] || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null; }

swift build -c release --product ferry >/dev/null
FERRY=$(swift build -c release --show-bin-path)/ferry

WORK=$(mktemp -d /dev/shm/ferry-swarm.XXXXXX)
NETNS=ferry-swarm-$$
IN=(ip netns exec "$NETNS")
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    if [ -f "$WORK/nginx.pid" ]; then kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true; fi
    ip netns pids "$NETNS" 2>/dev/null | xargs -r kill 2>/dev/null || true
    sleep 0.5
    ip netns pids "$NETNS" 2>/dev/null | xargs -r kill -9 2>/dev/null || true
    ip netns del "$NETNS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

chmod 755 "$WORK"   # nginx's workers run as another user
mkdir -p "$WORK"/{share,corrupt,flash,nginx,dl,ref}
echo "Making a ${SIZE_MIB} MiB and a ${FLASH_MIB} MiB file of random bytes..."
head -c "$((SIZE_MIB * 1048576))" /dev/urandom > "$WORK/share/big.bin"
head -c "$((FLASH_MIB * 1048576))" /dev/urandom > "$WORK/flash/flash.bin"
cp "$WORK/share/big.bin" "$WORK/corrupt/big.bin"
chmod 644 "$WORK/share/big.bin" "$WORK/flash/flash.bin"
BYTES=$(stat -c %s "$WORK/share/big.bin")
FLASH_BYTES=$(stat -c %s "$WORK/flash/flash.bin")

# --- Addresses ---------------------------------------------------------------------------------
# 127.0.0.1        trackers and the downloader (unshaped)
# 127.0.0.11-14    4 shaped holders, tracker 4601; nginx mirrors on :8080        (scenarios 1, 2, 7)
# 127.0.0.21-23    3 shaped holders, tracker 4602                                (scenario 3, alone)
# 127.0.0.24-26    3 shaped holders + 127.0.0.27 at 1 MB/s, tracker 4603         (scenario 3)
# 127.0.0.31-33    3 shaped holders + 127.0.0.34 serving corrupt bytes, 4604     (scenario 4)
# 127.0.0.50       an unshaped holder, tracker 4605; nginx on :8080              (scenario 5)
# 127.0.0.60       the shaped flash-crowd seeder, tracker 4606                   (scenario 6)
# 127.0.0.61-68    the 8 flash-crowd downloaders (shaped too, as their uploads would be)
SWARM=(127.0.0.11 127.0.0.12 127.0.0.13 127.0.0.14)
SLOWSRC=127.0.0.27
BADSRC=127.0.0.34
CROWD=(127.0.0.61 127.0.0.62 127.0.0.63 127.0.0.64 127.0.0.65 127.0.0.66 127.0.0.67 127.0.0.68)

ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
"${IN[@]}" tc qdisc add dev lo root handle 1: htb default 9999
shape() {   # address, rate: a class of its own and a filter on the source address
    local minor
    minor=$(printf '%x' "${1##*.}")
    "${IN[@]}" tc class add dev lo parent 1: classid "1:$minor" htb rate "$2" ceil "$2" burst 64k cburst 64k quantum 65536
    "${IN[@]}" tc filter add dev lo parent 1: protocol ip prio 1 u32 match ip src "$1/32" flowid "1:$minor"
}
for a in "${SWARM[@]}" 127.0.0.21 127.0.0.22 127.0.0.23 127.0.0.24 127.0.0.25 127.0.0.26 \
    127.0.0.31 127.0.0.32 127.0.0.33 "$BADSRC" 127.0.0.60 "${CROWD[@]}"; do
    shape "$a" "$FAST"
done
shape "$SLOWSRC" "$SLOW"

# nginx (sendfile) on the 4 swarm addresses (aria2c's mirrors), the slow one (the shaping check)
# and the unshaped one.
{
    echo "worker_processes 1; pid $WORK/nginx.pid; error_log $WORK/nginx/error.log;"
    echo "events { worker_connections 64; }"
    echo "http { access_log off; sendfile on; tcp_nopush on; server {"
    for a in "${SWARM[@]}" "$SLOWSRC" 127.0.0.50; do echo "  listen $a:8080;"; done
    echo "  root $WORK/share; } }"
} > "$WORK/nginx/nginx.conf"
"${IN[@]}" nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"

tracker() { "${IN[@]}" "$FERRY" server --host 127.0.0.1 --port "$1" --db :memory: --log-level error & PIDS+=($!); }
peer() {    # tracker port, address, share folder
    "${IN[@]}" "$FERRY" peer --server "127.0.0.1:$1" --host "$2" --port 5555 --share "$3" \
        --downloads "$WORK/peer-dl-$2" --cache :memory: --log-level error </dev/null & PIDS+=($!)
}
# The number of holders in the largest content group the tracker on port $1 lists for name $2
# (`210-FILE "name" size sha256 holder-count [root]`), asked from inside the namespace.
cat > "$WORK/holders.sh" <<'SH'
exec 3<>"/dev/tcp/127.0.0.1/$1" || { echo 0; exit 0; }
printf 'SEND %s\n' "$2" >&3
n=0
while IFS= read -r -t 5 line <&3; do
    line=${line%$'\r'}
    if [[ $line == 210-FILE* ]]; then
        read -r -a fields <<< "$line"
        count=${fields[-1]}
        [[ ${fields[-2]} =~ ^[0-9]+$ ]] && count=${fields[-2]}   # a root follows the count
        [ "$count" -gt "$n" ] && n=$count
    fi
    [[ ${line:3:1} == " " ]] && break
done
echo "$n"
SH
holders() { "${IN[@]}" bash "$WORK/holders.sh" "$1" "$2" 2>/dev/null || echo 0; }
wait_for_holders() {   # port, name, count
    for _ in $(seq 1 1500); do
        [ "$(holders "$1" "$2")" -ge "$3" ] && return 0
        sleep 0.2
    done
    echo "tracker $1 never listed $3 holders of $2" >&2
    exit 1
}

echo "Starting 6 trackers and 17 peers (each hashes its share)..."
for port in 4601 4602 4603 4604 4605 4606; do tracker "$port"; done
sleep 0.5
for a in "${SWARM[@]}"; do peer 4601 "$a" "$WORK/share"; done
for a in 127.0.0.21 127.0.0.22 127.0.0.23; do peer 4602 "$a" "$WORK/share"; done
for a in 127.0.0.24 127.0.0.25 127.0.0.26 "$SLOWSRC"; do peer 4603 "$a" "$WORK/share"; done
for a in 127.0.0.31 127.0.0.32 127.0.0.33; do peer 4604 "$a" "$WORK/share"; done
peer 4604 "$BADSRC" "$WORK/corrupt"
peer 4605 127.0.0.50 "$WORK/share"
peer 4606 127.0.0.60 "$WORK/flash"
wait_for_holders 4601 big.bin 4
wait_for_holders 4602 big.bin 3
wait_for_holders 4603 big.bin 4
wait_for_holders 4604 big.bin 4
wait_for_holders 4605 big.bin 1
wait_for_holders 4606 flash.bin 1

# The corrupt holder has announced the file's hash: now overwrite 4 KiB at every 2 MiB of its copy
# (1 chunk in 4 at 512 KiB chunks) and put the mtime back to the nanosecond (a peer rescans its share
# every 2 s and hashes again any file whose size or mtime changed), so it keeps serving under the old hash.
touch -r "$WORK/corrupt/big.bin" "$WORK/ref/mtime"
for ((off = 4096; off < BYTES; off += 2097152)); do
    dd if=/dev/urandom of="$WORK/corrupt/big.bin" bs=4096 count=1 seek="$((off / 4096))" conv=notrunc status=none
done
touch -r "$WORK/ref/mtime" "$WORK/corrupt/big.bin"
cmp -s "$WORK/corrupt/big.bin" "$WORK/share/big.bin" && { echo "the corrupt copy is not corrupt"; exit 1; }
sleep 3   # two rescans of its share: it must still list the file
[ "$(holders 4604 big.bin)" -ge 4 ] || { echo "the corrupt holder no longer lists the file under its old hash"; exit 1; }

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l; }
median() { sort -g | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
mbps() { echo "scale=1; $1 / $2 / 1000000" | bc -l; }
ratio() { echo "scale=2; $1 / $2" | bc -l; }
FAILED=999999   # the time recorded for a failed download, so that a failure cannot look fast

# One `ferry get` of $1 from tracker $2 into $3; extra options follow. Prints the seconds (or
# $FAILED) and leaves the JSON line in $3.json and /usr/bin/time -v's report in $3.time.
fget() {
    local name=$1 port=$2 dir=$3 start t
    shift 3
    rm -rf "$dir"; mkdir -p "$dir"
    start=$(now)
    if "${IN[@]}" /usr/bin/time -v -o "$dir.time" timeout 900 "$FERRY" get "$name" --server "127.0.0.1:$port" \
        --downloads "$dir" --json "$@" > "$dir.json" 2>"$dir.err" && grep -q '"status":"ok"' "$dir.json"; then
        t=$(since "$start")
    else
        t=$FAILED
        echo "    ferry get $name (tracker $port $*) failed: $(cat "$dir.json" "$dir.err" | head -c 600)" >&2
    fi
    rm -rf "$dir"
    echo "$t"
}
# "peer bytes/chunks/bad" for each source in the JSON line $1.
sources() {
    python3 -c 'import json, sys
try:
    d = json.loads(open(sys.argv[1]).readline())
except Exception:
    sys.exit(0)
print(" ".join("%s:%s=%dMB/%dch/%dbad" % (s["peer"], s["transport"], s["bytes"] // 1000000, s.get("chunks", 0), s.get("bad_chunks", 0))
               for s in d.get("sources", [])) or "(no sources)")' "$1"
}
# The bad_chunks of the source at address $2 in the JSON line $1 (-1 if no JSON, "absent" if not a source).
bad_chunks() {
    python3 -c 'import json, sys
try:
    d = json.loads(open(sys.argv[1]).readline())
except Exception:
    print(-1); sys.exit(0)
mine = [s.get("bad_chunks", 0) for s in d.get("sources", []) if s["peer"].rsplit(":", 1)[0].strip("[]") == sys.argv[2]]
print(sum(mine) if mine else "absent")' "$1" "$2"
}
rss_kib() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1" 2>/dev/null || echo 0; }
# Plain HTTP fetches, timed; $FAILED when the download is not byte for byte the file.
timed() {   # output file, command...
    local out=$1 start t
    shift
    rm -f "$out"
    start=$(now)
    if "${IN[@]}" "$@" >/dev/null 2>"$WORK/http.err"; then t=$(since "$start"); else t=$FAILED; cat "$WORK/http.err" >&2; fi
    if [ "$t" != "$FAILED" ] && ! cmp -s "$out" "$WORK/share/big.bin"; then t=$FAILED; echo "    $out: wrong bytes" >&2; fi
    rm -f "$out"
    echo "$t"
}

echo
echo "== 0. Shaping check (curl from nginx, one address at a time)"
start=$(now)
CHECK=$((BYTES < 100000000 ? BYTES : 100000000))   # bytes of the shaping checks (a small SIZE_MIB has fewer)
"${IN[@]}" curl -fsS -r "0-$((CHECK - 1))" -o /dev/null "http://${SWARM[0]}:8080/big.bin"
check_fast=$(mbps "$CHECK" "$(since "$start")")
start=$(now)
"${IN[@]}" curl -fsS -r 0-4999999 -o /dev/null "http://$SLOWSRC:8080/big.bin"
check_slow=$(mbps 5000000 "$(since "$start")")
start=$(now)
"${IN[@]}" curl -fsS -r "0-$((CHECK - 1))" -o /dev/null "http://127.0.0.50:8080/big.bin"
check_open=$(mbps "$CHECK" "$(since "$start")")
echo "  $CHECK bytes from ${SWARM[0]}: $check_fast MB/s (shaped to 25)   5 MB from $SLOWSRC: $check_slow MB/s (shaped to 1)   $CHECK bytes unshaped: $check_open MB/s"

echo
if want 1; then
echo "== 1, 2, 7. $BYTES bytes from 4 shaped holders vs 1, TCP and UDP, and aria2c -s4 -x1 from 4 nginx mirrors"
t4=(); t1=(); u4=(); u1=(); ta=(); rss=()
urls=(); for a in "${SWARM[@]}"; do urls+=("http://$a:8080/big.bin"); done
for run in $(seq 1 "$RUNS"); do
    t4+=("$(fget big.bin 4601 "$WORK/dl/t4" --host 127.0.0.1 --transport tcp)")
    rss+=("$(rss_kib "$WORK/dl/t4.time")"); s_t4=$(sources "$WORK/dl/t4.json")
    t1+=("$(fget big.bin 4601 "$WORK/dl/t1" --host 127.0.0.1 --transport tcp --max-sources 1)")
    s_t1=$(sources "$WORK/dl/t1.json")
    u4+=("$(fget big.bin 4601 "$WORK/dl/u4" --host 127.0.0.1 --transport udp)")
    s_u4=$(sources "$WORK/dl/u4.json")
    u1+=("$(fget big.bin 4601 "$WORK/dl/u1" --host 127.0.0.1 --transport udp --max-sources 1)")
    s_u1=$(sources "$WORK/dl/u1.json")
    ta+=("$(timed "$WORK/dl/aria/big.bin" aria2c -q -s4 -x1 --file-allocation=none --allow-overwrite=true \
        --auto-file-renaming=false -d "$WORK/dl/aria" -o big.bin "${urls[@]}")")
    echo "  run $run: TCP 4 holders ${t4[-1]} s (RSS $((rss[-1] / 1024)) MiB) [$s_t4]"
    echo "         TCP 1 holder  ${t1[-1]} s [$s_t1]"
    echo "         UDP 4 holders ${u4[-1]} s [$s_u4]"
    echo "         UDP 1 holder  ${u1[-1]} s [$s_u1]"
    echo "         aria2c -s4 -x1 ${ta[-1]} s"
done
fi

echo
if want 3; then
echo "== 3. 3 fast holders + 1 at 1 MB/s vs the 3 fast alone"
t3=(); t3s=()
for run in $(seq 1 "$RUNS"); do
    t3+=("$(fget big.bin 4602 "$WORK/dl/t3" --host 127.0.0.1)"); s_t3=$(sources "$WORK/dl/t3.json")
    t3s+=("$(fget big.bin 4603 "$WORK/dl/t3s" --host 127.0.0.1)"); s_t3s=$(sources "$WORK/dl/t3s.json")
    echo "  run $run: 3 fast ${t3[-1]} s [$s_t3]"
    echo "         3 fast + slow ${t3s[-1]} s [$s_t3s]"
done
fi

echo
if want 4; then
echo "== 4. 3 good holders + $BADSRC serving corrupt bytes"
tc4=(); bad=()
for run in $(seq 1 "$RUNS"); do
    tc4+=("$(fget big.bin 4604 "$WORK/dl/c4" --host 127.0.0.1)")
    bad+=("$(bad_chunks "$WORK/dl/c4.json" "$BADSRC")")
    echo "  run $run: ${tc4[-1]} s, $BADSRC bad_chunks ${bad[-1]} [$(sources "$WORK/dl/c4.json")]"
done
fi

echo
if want 5; then
echo "== 5. One unshaped holder (TCP, SHA-256 verified) vs curl -o from nginx (no hash)"
t5=(); tcurl=()
for run in $(seq 1 "$RUNS"); do
    tcurl+=("$(timed "$WORK/dl/curl.bin" curl -fsS -o "$WORK/dl/curl.bin" "http://127.0.0.50:8080/big.bin")")
    t5+=("$(fget big.bin 4605 "$WORK/dl/t5" --host 127.0.0.1)")
    echo "  run $run: curl ${tcurl[-1]} s, ferry ${t5[-1]} s [$(sources "$WORK/dl/t5.json")]"
done
fi

echo
if want 6; then
echo "== 6. Flash crowd: 1 shaped seeder, 8 peers at once, $FLASH_BYTES bytes"
# Starts a peer on each address given (tracker 4606), each sharing a fresh folder that is also its
# download folder and reading commands from a FIFO; tells them all `Send flash.bin` at once and
# prints each one's seconds until the file has its final name ($FAILED after 900 s).
crowd() {
    local i a dir start all left fds=() ppids=()
    i=0
    for a in "$@"; do
        dir="$WORK/dl/crowd$i"
        rm -rf "$dir" "$WORK/crowd$i.in"; mkdir -p "$dir"; mkfifo "$WORK/crowd$i.in"
        "${IN[@]}" "$FERRY" peer --server 127.0.0.1:4606 --host "$a" --port 5555 --share "$dir" --downloads "$dir" \
            --cache :memory: --log-level notice < "$WORK/crowd$i.in" > "$WORK/crowd$i.out" 2> "$WORK/crowd$i.log" &
        ppids+=($!); PIDS+=($!)
        exec {fd}>"$WORK/crowd$i.in"; fds+=("$fd")
        i=$((i + 1))
    done
    for ((i = 0; i < $#; i++)); do
        for _ in $(seq 1 600); do grep -q "connected to the tracker" "$WORK/crowd$i.log" && break; sleep 0.05; done
    done
    start=$(now)
    for fd in "${fds[@]}"; do echo "Send flash.bin" >&"$fd"; done
    all=(); for ((i = 0; i < $#; i++)); do all+=(""); done
    left=$#
    while [ "$left" -gt 0 ]; do
        for ((i = 0; i < $#; i++)); do
            if [ -z "${all[$i]}" ] && [ -f "$WORK/dl/crowd$i/flash.bin" ]; then all[$i]=$(since "$start"); left=$((left - 1)); fi
        done
        if [ "$(echo "$(since "$start") > 900" | bc -l)" = 1 ]; then
            for ((i = 0; i < $#; i++)); do [ -n "${all[$i]}" ] || all[$i]=$FAILED; done
            break
        fi
        sleep 0.05
    done
    for ((i = 0; i < $#; i++)); do
        if [ "${all[$i]}" != "$FAILED" ] && ! cmp -s "$WORK/dl/crowd$i/flash.bin" "$WORK/flash/flash.bin"; then
            all[$i]=$FAILED; echo "    peer $i: wrong bytes" >&2
        fi
    done
    for fd in "${fds[@]}"; do echo "quit" >&"$fd"; exec {fd}>&-; done
    wait "${ppids[@]}" 2>/dev/null || true
    printf '%s\n' "${all[@]}"
}
talone=(); tcrowd=()
for run in $(seq 1 "$RUNS"); do
    talone+=("$(crowd "${CROWD[0]}")")
    each=$(crowd "${CROWD[@]}" | sort -g | tr '\n' ' ')
    last=$(echo "$each" | tr ' ' '\n' | sed '/^$/d' | tail -1)
    tcrowd+=("$last")
    echo "  run $run: alone ${talone[-1]} s; 8 at once: last done after $last s (each: $each)"
done
fi

# --- Results ------------------------------------------------------------------------------------
m() { printf '%s\n' "$@" | median; }
ok() { if [ "$(echo "$1" | bc -l)" = 1 ]; then echo pass; else echo FAIL; fi; }   # a bc condition
done_all() { for t in "$@"; do [ "$t" != "$FAILED" ] || return 1; done; }

echo
echo "== Results: $BYTES-byte file ($FLASH_BYTES for the flash crowd), median of $RUNS run(s), MB = 10^6 bytes"
row() { printf '  %-44s %9s %8s  %-16s %-16s %s\n' "$@"; }
row "scenario" "median s" "MB/s" "ratio" "bar" "result"
row "0 shaping: one shaped address (curl)" "" "$check_fast" "" "22.5-25.5 MB/s" "$(ok "$check_fast >= 22.5 && $check_fast <= 25.5")"
row "0 shaping: the slow address (curl)" "" "$check_slow" "" "0.9-1.1 MB/s" "$(ok "$check_slow >= 0.9 && $check_slow <= 1.1")"
if want 1; then
    T4=$(m "${t4[@]}"); T1=$(m "${t1[@]}"); U4=$(m "${u4[@]}"); U1=$(m "${u1[@]}"); TA=$(m "${ta[@]}")
    R1=$(ratio "$T1" "$T4"); RA=$(ratio "$TA" "$T4"); R2=$(ratio "$U1" "$U4")
    RSS_MAX=$(printf '%s\n' "${rss[@]}" | sort -g | tail -1); RSS_MIB=$(echo "scale=1; $RSS_MAX / 1024" | bc -l)
    row "1 TCP, 4 shaped holders" "$T4" "$(mbps "$BYTES" "$T4")" "${R1}x vs 1" ">= 3.8x (3.9)" "$(ok "$R1 >= 3.8")"
    row "1 TCP, 1 shaped holder (--max-sources 1)" "$T1" "$(mbps "$BYTES" "$T1")" "" "" ""
    row "1 aria2c -s4 -x1, 4 nginx mirrors" "$TA" "$(mbps "$BYTES" "$TA")" "${RA}x ferry" "ferry faster" "$(ok "$T4 < $TA")"
    row "2 UDP, 4 shaped holders" "$U4" "$(mbps "$BYTES" "$U4")" "${R2}x vs 1" ">= 3.6x" "$(ok "$R2 >= 3.6")"
    row "2 UDP, 1 shaped holder (--max-sources 1)" "$U1" "$(mbps "$BYTES" "$U1")" "" "" ""
fi
if want 3; then
    T3=$(m "${t3[@]}"); T3S=$(m "${t3s[@]}"); R3=$(echo "scale=3; ($T3S - $T3) / $T3 * 100" | bc -l)
    row "3 3 fast holders alone" "$T3" "$(mbps "$BYTES" "$T3")" "" "" ""
    row "3 3 fast + 1 at 1 MB/s" "$T3S" "$(mbps "$BYTES" "$T3S")" "$(printf '%+.1f%%' "$R3")" "<= +10% (5%)" "$(ok "$R3 <= 10")"
fi
if want 4; then
    TC4=$(m "${tc4[@]}")
    BAD_MAX=$(printf '%s\n' "${bad[@]}" | sort -g | tail -1)
    for b in "${bad[@]}"; do [ "$b" = absent ] && BAD_MAX="absent (the corrupt holder was never used)"; done
    C4=$(if done_all "${tc4[@]}" && [[ $BAD_MAX =~ ^[0-9]+$ ]] && [ "$BAD_MAX" -le 2 ]; then echo pass; else echo FAIL; fi)
    row "4 3 good + 1 corrupt: bad_chunks (max)" "$TC4" "$(mbps "$BYTES" "$TC4")" "$BAD_MAX bad" "done, <= 2" "$C4"
fi
if want 5; then
    T5=$(m "${t5[@]}"); TCURL=$(m "${tcurl[@]}"); R5=$(ratio "$TCURL" "$T5")
    row "5 TCP, 1 unshaped holder (SHA-256)" "$T5" "$(mbps "$BYTES" "$T5")" "${R5}x curl" ">= 1.0x (1.2)" "$(ok "$R5 >= 1.0")"
    row "5 curl -o from nginx (no hash)" "$TCURL" "$(mbps "$BYTES" "$TCURL")" "" "" ""
fi
if want 6; then
    TALONE=$(m "${talone[@]}"); TCROWD=$(m "${tcrowd[@]}"); R6=$(ratio "$TCROWD" "$TALONE")
    row "6 flash crowd, 1 peer alone" "$TALONE" "$(mbps "$FLASH_BYTES" "$TALONE")" "" "" ""
    row "6 flash crowd, last of 8 peers at once" "$TCROWD" "$(mbps "$FLASH_BYTES" "$TCROWD")" "${R6}x alone" "<= 2.5x (1.5)" "$(ok "$R6 <= 2.5")"
fi
if want 1; then
    row "7 peak RSS, ferry get from 4 (max)" "" "" "$RSS_MIB MiB" "<= 48 (32) MiB" "$(ok "$RSS_MIB <= 48")"
fi
echo "  (the script took $(($(date +%s) - SCRIPT_START)) s)"

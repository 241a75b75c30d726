#!/usr/bin/env bash
# Benchmark Ferry's UDP transport.
#
#   bench/udp.sh [SIZE_MIB] [LOSSY_SIZE_MIB] [LOSSY_RUNS] [CLEAN_RUNS]   defaults: 1024, 256, 5 and 5
#
# 1. Clean loopback, the same SIZE_MIB file of random bytes, the median of CLEAN_RUNS runs of each
#    contender after a warm-up: Ferry UDP with 1200-byte datagrams (an unknown path), with 1472
#    (a 1500-byte path, and the datagram atftp's 1468-byte blocks make), and with the size path
#    MTU discovery finds on loopback (8192); Ferry TCP; `iperf3 -u -l 1400 -b 0` (the ceiling:
#    memory to memory, no file, no reliability); atftp against atftpd with RFC 2348 blksize 1468 and RFC 7440
#    windowsize 16.
# 2. Inside a network namespace (loopback with a 1500-byte MTU and offloads off) whose input hook
#    drops packets at random with nftables (`numgen random mod 100 < N drop`), at 0 %, 1 % and 5 %,
#    Ferry UDP with the datagram size it discovers there (1472; one datagram, one packet):
#    Ferry UDP against Ferry TCP on a LOSSY_SIZE_MIB file, the median of LOSSY_RUNS runs (each capped
#    at 120 s; a run that fails counts as 0).
# Files live in /dev/shm so the disk is not what is measured. Needs root (apt-get, ip netns, nft).
# Not part of `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${1:-1024}
LOSSY_MIB=${2:-256}
LOSSY_RUNS=${3:-5}
CLEAN_RUNS=${4:-5}
export PATH="/opt/swift/usr/bin:$PATH"

install() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >/dev/null; }; }
install iperf3 iperf3
install atftp atftp
install atftpd atftpd
install nft nftables
install ip iproute2
install bc bc
install ethtool ethtool

swift build -c release --product ferry >/dev/null
FERRY=$(swift build -c release --show-bin-path)/ferry

WORK=$(mktemp -d /dev/shm/ferry-udp-bench.XXXXXX)
chmod 755 "$WORK"
NETNS=ferry-bench-$$
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    ip netns pids "$NETNS" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$NETNS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

mkdir -p "$WORK/share" "$WORK/downloads" "$WORK/lossy"
echo "Making a ${SIZE_MIB} MiB file and a ${LOSSY_MIB} MiB file of random bytes..."
head -c "$((SIZE_MIB * 1048576))" /dev/urandom > "$WORK/share/big.bin"
head -c "$((LOSSY_MIB * 1048576))" /dev/urandom > "$WORK/lossy/lossy.bin"
chmod 644 "$WORK/share/big.bin" "$WORK/lossy/lossy.bin"
BYTES=$(stat -c %s "$WORK/share/big.bin")
LOSSY_BYTES=$(stat -c %s "$WORK/lossy/lossy.bin")

now() { date +%s.%N; }
mibps() { echo "scale=1; $1 / $2 / 1048576" | bc -l; }

# Runs `ferry get` for big.bin over $1 against the tracker at $2; prints seconds, or "failed".
ferry_get() {
    local transport=$1 server=$2 file=$3 prefix=${4:-} start end
    rm -f "$WORK/downloads/$file"
    start=$(now)
    if $prefix timeout 120 "$FERRY" get "$file" --server "$server" --host 127.0.0.1 --downloads "$WORK/downloads" \
        --transport "$transport" --json > "$WORK/get.json" 2>/dev/null \
        && grep -q "\"status\":\"ok\".*\"transport\":\"$transport\"" "$WORK/get.json"; then
        end=$(now)
        echo "$end - $start" | bc -l
    else
        echo failed
    fi
}

wait_for_file() {   # tracker port, file name, [netns prefix]
    for _ in $(seq 1 600); do
        if ${3:-} bash -c "exec 3<>/dev/tcp/127.0.0.1/$1 && printf 'SEND $2\n' >&3 && read -r line <&3 && [[ \$line == 210-* ]]" 2>/dev/null; then
            return 0
        fi
        sleep 0.1
    done
    echo "the peer never announced $2" >&2
    exit 1
}

echo
echo "== Clean loopback, $BYTES bytes, median of $CLEAN_RUNS"
# One tracker and one peer per datagram size, all sharing the same file: 1200 bytes (an unknown
# path), 1472 (a 1500-byte path; what atftp's 1468-byte blocks make) and whatever path MTU
# discovery finds (8192 on loopback, whose MTU is 64 KiB).
port=4491
for size in 1200 1472 auto; do
    "$FERRY" server --host 127.0.0.1 --port "$port" --db :memory: --log-level error & PIDS+=($!)
    size_option=(); [ "$size" != auto ] && size_option=(--udp-datagram-size "$size")
    "$FERRY" peer --server "127.0.0.1:$port" --host "127.0.0.$((port - 4489))" --share "$WORK/share" \
        --downloads "$WORK/peer-downloads" "${size_option[@]}" --cache :memory: --log-level error </dev/null & PIDS+=($!)
    wait_for_file "$port" big.bin
    port=$((port + 2))
done
median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
# The median time of $CLEAN_RUNS downloads over $1 from the tracker at $2 ("failed" counts as 999).
ferry_median() {
    local runs=() t
    for _ in $(seq 1 "$CLEAN_RUNS"); do
        t=$(ferry_get "$1" "$2" big.bin)
        runs+=("$([ "$t" = failed ] && echo 999 || echo "$t")")
    done
    printf '%s\n' "${runs[@]}" | median
}
ferry_get udp 127.0.0.1:4491 big.bin >/dev/null   # warm-up
udp=$(ferry_median udp 127.0.0.1:4491)
udp_ethernet=$(ferry_median udp 127.0.0.1:4493)
udp_loopback=$(ferry_median udp 127.0.0.1:4495)
tcp=$(ferry_median tcp 127.0.0.1:4491)

iperf_runs=()
for _ in $(seq 1 "$CLEAN_RUNS"); do
    iperf3 -s -B 127.0.0.20 -p 5299 -1 >/dev/null 2>&1 & iperf_pid=$!
    sleep 0.5
    iperf_runs+=("$(iperf3 -c 127.0.0.20 -p 5299 -u -l 1400 -b 0 -n "$BYTES" --json 2>/dev/null \
        | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d["end"]["sum"]["bytes"] * 8 / d["end"]["sum"]["seconds"] * (1 - d["end"]["sum"]["lost_percent"] / 100))')")
    wait "$iperf_pid" 2>/dev/null || true
done
iperf_bps=$(printf '%s\n' "${iperf_runs[@]}" | median)

atftpd --daemon --no-fork --port 6999 --bind-address 127.0.0.30 --user root.root --logfile /dev/null "$WORK/share" & PIDS+=($!)
sleep 0.5
tftp_runs=()
for _ in $(seq 1 "$CLEAN_RUNS"); do
    start=$(now)
    atftp --option "blksize 1468" --option "windowsize 16" -g -r big.bin -l "$WORK/tftp.bin" 127.0.0.30 6999 >/dev/null 2>&1
    t=$(echo "$(now) - $start" | bc -l)
    cmp -s "$WORK/tftp.bin" "$WORK/share/big.bin" || t=999
    rm -f "$WORK/tftp.bin"
    tftp_runs+=("$t")
done
tftp=$(printf '%s\n' "${tftp_runs[@]}" | median)

printf '  %-46s %8s s  %8s MiB/s\n' "Ferry UDP, 1200-byte datagrams (verified)" "$udp" "$(mibps "$BYTES" "$udp")"
printf '  %-46s %8s s  %8s MiB/s\n' "Ferry UDP, 1472-byte datagrams (verified)" "$udp_ethernet" "$(mibps "$BYTES" "$udp_ethernet")"
printf '  %-46s %8s s  %8s MiB/s\n' "Ferry UDP, discovered size (8192 on loopback)" "$udp_loopback" "$(mibps "$BYTES" "$udp_loopback")"
printf '  %-46s %8s s  %8s MiB/s\n' "Ferry TCP (verified)" "$tcp" "$(mibps "$BYTES" "$tcp")"
printf '  %-46s %8s    %8s MiB/s\n' "iperf3 -u -l 1400 -b 0 (received, no file)" "" "$(echo "scale=1; $iperf_bps / 8 / 1048576" | bc -l)"
printf '  %-46s %8s s  %8s MiB/s\n' "atftp blksize 1468 windowsize 16 (1472 bytes)" "$tftp" "$(mibps "$BYTES" "$tftp")"
ratio() { echo "scale=2; $1 / $2" | bc -l; }
echo "  Ferry UDP vs Ferry TCP: $(ratio "$tcp" "$udp")x at 1200 bytes, $(ratio "$tcp" "$udp_ethernet")x at 1472, $(ratio "$tcp" "$udp_loopback")x at 8 KiB (goal >= 0.6x)"
echo "  Ferry UDP vs TFTP at the same datagram size (1472 bytes): $(ratio "$tftp" "$udp_ethernet")x (goal >= 4x); at 1200: $(ratio "$tftp" "$udp")x"
for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
PIDS=()

echo
echo "== Random loss in a network namespace (nftables on the input hook), $LOSSY_BYTES bytes, median of $LOSSY_RUNS"
ip netns add "$NETNS"
ip -n "$NETNS" link set lo up
# Packets as on an Ethernet path: a 1500-byte MTU and no offloads, so that TCP's segments and Ferry's
# datagrams are each one packet that the rule may drop. Loopback's 64 KiB TCP segments would hide
# loss, and with tx-udp-segmentation on, a GSO write of up to 45 datagrams crosses lo as one packet
# and is dropped whole (a burst loss no real path has): the kernel must split it before lo.
ip -n "$NETNS" link set lo mtu 1500
IN="ip netns exec $NETNS"
$IN ethtool -K lo tso off gso off gro off tx-udp-segmentation off >/dev/null 2>&1 || true
$IN nft add table inet ferryloss
$IN nft add chain inet ferryloss input '{ type filter hook input priority 0; policy accept; }'
$IN "$FERRY" server --host 127.0.0.1 --port 4492 --db :memory: --log-level error & PIDS+=($!)
$IN "$FERRY" peer --server 127.0.0.1:4492 --host 127.0.0.2 --share "$WORK/lossy" --downloads "$WORK/peer-downloads" \
    --cache :memory: --log-level error </dev/null & PIDS+=($!)
wait_for_file 4492 lossy.bin "$IN"
declare -A clean
for loss in 0 1 5; do
    $IN nft flush chain inet ferryloss input
    if [ "$loss" -gt 0 ]; then
        $IN nft add rule inet ferryloss input numgen random mod 100 "<" "$loss" drop
    fi
    us=(); ts=()
    for _ in $(seq 1 "$LOSSY_RUNS"); do
        u=$(ferry_get udp 127.0.0.1:4492 lossy.bin "$IN")
        t=$(ferry_get tcp 127.0.0.1:4492 lossy.bin "$IN")
        us+=("$([ "$u" = failed ] && echo 0 || mibps "$LOSSY_BYTES" "$u")")
        ts+=("$([ "$t" = failed ] && echo 0 || mibps "$LOSSY_BYTES" "$t")")
    done
    ur=$(printf '%s\n' "${us[@]}" | median)
    tr=$(printf '%s\n' "${ts[@]}" | median)
    [ "$loss" = 0 ] && clean[udp]=$ur && clean[tcp]=$tr
    printf '  %2s %% loss: Ferry UDP %8s MiB/s (%s of clean)   Ferry TCP %8s MiB/s (%s of clean)\n' "$loss" "$ur" \
        "$(echo "scale=2; $ur / ${clean[udp]}" | bc -l)" "$tr" "$(echo "scale=2; $tr / ${clean[tcp]}" | bc -l)"
done
echo "  goal: at 5 % loss UDP keeps >= 0.50 of its clean goodput"

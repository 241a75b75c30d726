#!/usr/bin/env bash
# Does Ferry's UDP congestion control share a bottleneck with TCP?
#
#   bench/udp-fairness.sh [RATE_MBIT] [SECONDS]      defaults: 200 Mbit/s, 15 s
#
# In a network namespace whose loopback (MTU 1500, offloads off) is shaped by a token bucket
# (`tc qdisc … tbf rate RATE_MBIT`), an iperf3 TCP flow runs for SECONDS alone, then again while a
# Ferry UDP download (the 1472-byte datagrams it discovers on the 1500-byte link) runs beside it; the Ferry download also runs alone. It
# prints each flow's goodput alone and together: a fair controller leaves TCP about half the link.
# Needs root (apt-get, ip netns, tc). Not part of `swift test`.
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${1:-200}
SECONDS_RUN=${2:-15}
export PATH="/opt/swift/usr/bin:$PATH"
for tool in iperf3 ethtool bc; do
    command -v "$tool" >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$tool" >/dev/null; }
done
swift build -c release --product ferry >/dev/null
FERRY=$(swift build -c release --show-bin-path)/ferry

WORK=$(mktemp -d /dev/shm/ferry-fair.XXXXXX)
NETNS=ferry-fair-$$
cleanup() {
    ip netns pids "$NETNS" 2>/dev/null | xargs -r kill 2>/dev/null || true
    ip netns del "$NETNS" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT
mkdir -p "$WORK/share" "$WORK/downloads"
# Big enough to outlast the TCP flow at the full link rate.
SIZE=$((RATE * 125000 * (SECONDS_RUN + 5)))
head -c "$SIZE" /dev/urandom > "$WORK/share/big.bin"

ip netns add "$NETNS"
IN="ip netns exec $NETNS"
ip -n "$NETNS" link set lo up
ip -n "$NETNS" link set lo mtu 1500
$IN ethtool -K lo tso off gso off gro off tx-udp-segmentation off >/dev/null 2>&1 || true
$IN tc qdisc add dev lo root tbf rate "${RATE}mbit" burst 64kb latency 20ms

$IN "$FERRY" server --host 127.0.0.1 --port 4494 --db :memory: --log-level error &
$IN "$FERRY" peer --server 127.0.0.1:4494 --host 127.0.0.2 --share "$WORK/share" --downloads "$WORK/peer" \
    --cache :memory: --log-level error </dev/null &
$IN iperf3 -s -B 127.0.0.3 -p 5301 >/dev/null 2>&1 &
sleep 3

tcp_alone=$($IN iperf3 -c 127.0.0.3 -p 5301 -t "$SECONDS_RUN" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6)')

start=$(date +%s.%N)
$IN timeout 300 "$FERRY" get big.bin --server 127.0.0.1:4494 --host 127.0.0.1 --downloads "$WORK/downloads" --transport udp --json >/dev/null
udp_alone=$(echo "$SIZE * 8 / ($(date +%s.%N) - $start) / 1000000" | bc -l)
rm -f "$WORK/downloads/big.bin"

$IN timeout 300 "$FERRY" get big.bin --server 127.0.0.1:4494 --host 127.0.0.1 --downloads "$WORK/downloads" --transport udp --json >/dev/null &
UDP_PID=$!
sleep 1
tcp_shared=$($IN iperf3 -c 127.0.0.3 -p 5301 -t "$SECONDS_RUN" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["end"]["sum_received"]["bits_per_second"] / 1e6)')
wait "$UDP_PID"

printf 'Link: %s Mbit/s token bucket, MTU 1500, %s s TCP flows\n' "$RATE" "$SECONDS_RUN"
printf '  iperf3 TCP alone:                %7.1f Mbit/s\n' "$tcp_alone"
printf '  Ferry UDP alone:                 %7.1f Mbit/s\n' "$udp_alone"
printf '  iperf3 TCP beside Ferry UDP:     %7.1f Mbit/s (%.0f %% of the link)\n' "$tcp_shared" "$(echo "$tcp_shared * 100 / $RATE" | bc -l)"

#!/usr/bin/env bash
# Benchmark: a 1 GiB file peer to peer over loopback with Ferry (TCP, SHA-256 verified), against
# curl fetching the same file from nginx with sendfile, bare and followed by `openssl dgst -sha256`.
# Prints the throughputs, the ratios and the downloading process's peak RSS.
#
#   bench/tcp-vs-curl.sh [SIZE_MIB] [RUNS]      defaults: 1024 MiB, 3 runs (the median is reported)
#
# Downloads land in /dev/shm (tmpfs) for every contender, so the disk is not what is measured.
# Not part of `swift test`; needs root for apt-get when nginx is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${1:-1024}
RUNS=${2:-3}
export PATH="/opt/swift/usr/bin:$PATH"

need() { command -v "$1" >/dev/null 2>&1 || { apt-get update -qq && apt-get install -y -qq "$2" >/dev/null; }; }
need nginx nginx
need curl curl
need openssl openssl
need bc bc
[ -x /usr/bin/time ] || { apt-get update -qq && apt-get install -y -qq time >/dev/null; }

swift build -c release --product ferry >/dev/null
FERRY=$(swift build -c release --show-bin-path)/ferry

WORK=$(mktemp -d /dev/shm/ferry-bench.XXXXXX)
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    [ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null || true
    rm -rf "$WORK"
}
trap cleanup EXIT

chmod 755 "$WORK"   # nginx's workers run as another user
mkdir -p "$WORK/share" "$WORK/downloads" "$WORK/curl" "$WORK/nginx"
echo "Making a ${SIZE_MIB} MiB file of random bytes..."
head -c "$((SIZE_MIB * 1048576))" /dev/urandom > "$WORK/share/big.bin"
BYTES=$(stat -c %s "$WORK/share/big.bin")

# nginx with sendfile on 127.0.0.10:8080.
cat > "$WORK/nginx/nginx.conf" <<CONF
worker_processes 1;
pid $WORK/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 64; }
http {
    access_log off;
    sendfile on;
    tcp_nopush on;
    server { listen 127.0.0.10:8080; root $WORK/share; }
}
CONF
nginx -c "$WORK/nginx/nginx.conf" -p "$WORK/nginx"

# A tracker on 127.0.0.1:4490 and a peer on 127.0.0.2:5555 sharing the file.
"$FERRY" server --host 127.0.0.1 --port 4490 --db :memory: --log-level error & PIDS+=($!)
"$FERRY" peer --server 127.0.0.1:4490 --host 127.0.0.2 --share "$WORK/share" \
    --downloads "$WORK/peer-downloads" --cache :memory: --log-level error </dev/null & PIDS+=($!)

echo "Waiting for the peer to hash and announce the file..."
for _ in $(seq 1 600); do
    if exec 3<>/dev/tcp/127.0.0.1/4490 2>/dev/null; then
        printf 'SEND big.bin\n' >&3
        read -r line <&3 || line=""
        exec 3>&-
        [[ "$line" == 210-* ]] && break
    fi
    sleep 0.1
done

median() { sort -n | awk '{ a[NR] = $1 } END { print a[int((NR + 1) / 2)] }'; }
seconds() { local start=$1 end; end=$(date +%s.%N); echo "$end - $start" | bc -l; }

curl_bare=(); curl_hash=(); ferry_times=(); ferry_rss=()
for run in $(seq 1 "$RUNS"); do
    rm -f "$WORK/curl/big.bin"
    start=$(date +%s.%N)
    curl -fsS -o "$WORK/curl/big.bin" http://127.0.0.10:8080/big.bin
    curl_bare+=("$(seconds "$start")")

    rm -f "$WORK/curl/big.bin"
    start=$(date +%s.%N)
    curl -fsS -o "$WORK/curl/big.bin" http://127.0.0.10:8080/big.bin
    openssl dgst -sha256 "$WORK/curl/big.bin" >/dev/null
    curl_hash+=("$(seconds "$start")")

    [ "$(stat -c %s "$WORK/curl/big.bin")" = "$BYTES" ] || { echo "curl fetched the wrong size"; exit 1; }
    rm -f "$WORK/downloads/big.bin"
    start=$(date +%s.%N)
    /usr/bin/time -f "%M" -o "$WORK/rss" "$FERRY" get big.bin --server 127.0.0.1:4490 --host 127.0.0.1 \
        --downloads "$WORK/downloads" --json > "$WORK/get.json"
    ferry_times+=("$(seconds "$start")")
    ferry_rss+=("$(cat "$WORK/rss")")
    grep -q '"status":"ok"' "$WORK/get.json" || { echo "ferry get failed:"; cat "$WORK/get.json"; exit 1; }
    echo "run $run: curl ${curl_bare[-1]} s, curl+openssl ${curl_hash[-1]} s, ferry ${ferry_times[-1]} s (peak RSS $((ferry_rss[-1] / 1024)) MiB)"
done

cb=$(printf '%s\n' "${curl_bare[@]}" | median)
ch=$(printf '%s\n' "${curl_hash[@]}" | median)
fe=$(printf '%s\n' "${ferry_times[@]}" | median)
rss=$(printf '%s\n' "${ferry_rss[@]}" | sort -n | tail -1)
rate() { echo "scale=1; $BYTES / $1 / 1048576" | bc -l; }

echo
echo "File: $BYTES bytes over loopback, median of $RUNS runs"
printf '  %-34s %8.3f s  %8s MiB/s\n' "curl (nginx sendfile), bare" "$cb" "$(rate "$cb")"
printf '  %-34s %8.3f s  %8s MiB/s\n' "curl + openssl dgst -sha256" "$ch" "$(rate "$ch")"
printf '  %-34s %8.3f s  %8s MiB/s\n' "ferry get (TCP, SHA-256 verified)" "$fe" "$(rate "$fe")"
echo "  ferry vs curl+openssl: $(echo "scale=2; $ch / $fe" | bc -l)x   (goal >= 1.0x)"
echo "  ferry vs bare curl:    $(echo "scale=2; $cb / $fe" | bc -l)x   (goal >= 0.8x)"
echo "  ferry get peak RSS:    $((rss / 1024)) MiB   (goal <= 64 MiB)"

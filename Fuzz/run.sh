#!/usr/bin/env bash
# Builds the libFuzzer targets (address sanitizer on) and runs each for SECONDS, two at a time.
#
#   Fuzz/run.sh [SECONDS] [TARGET ...]     default: 60 seconds, every target
#
# Each run starts from the committed seeds in Fuzz/Corpus/<target>/ and writes what it learns to
# Fuzz/.build-runs/<stamp>/<target>/corpus; crashes, leaks and timeouts land in …/artifacts/ and make
# the script exit 1. MERGE=1 folds the new inputs back into Fuzz/Corpus/<target>/ (minimized), to be
# committed. JOBS=N runs N fuzzers at once (default 2: one per core on the CI machine).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
seconds="${1:-60}"
shift || true
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
    targets=(FuzzTrackerRequest FuzzTrackerConversation FuzzFileRequest FuzzTrackerReply FuzzUDPServer)
fi
jobs="${JOBS:-2}"
export PATH="/opt/swift/usr/bin:$PATH"

# SwiftPM names a path dependency after its folder: a checkout folder named "fuzz" would clash with
# this package's own folder.
if [ "$(basename "$(dirname "$here")" | tr '[:upper:]' '[:lower:]')" = "fuzz" ]; then
    echo "Fuzz/run.sh: the repository folder must not be named 'fuzz' (SwiftPM package identity clash)" >&2
    exit 64
fi

cd "$here"
# A crash is libFuzzer's to report: the Swift runtime's own backtracer would trip the address sanitizer.
export SWIFT_BACKTRACE=enable=no
# swiftc's -sanitize=fuzzer alone leaves Swift code without coverage counters (measured: 544 counters,
# none from Ferry, and no fuzzer ever grew its corpus); ask for them explicitly, for every module,
# Ferry's included, with comparison tracing so that libFuzzer learns the keywords.
build_flags=(--sanitize=fuzzer --sanitize=address -Xswiftc -sanitize-coverage=edge,inline-8bit-counters,pc-table,trace-cmp)
build_log="$(mktemp)"
if ! swift build "${build_flags[@]}" >"$build_log" 2>&1; then
    grep -E "error|warning:" "$build_log" | head -40 >&2 || tail -40 "$build_log" >&2
    exit 1
fi
rm -f "$build_log"
bin="$(swift build "${build_flags[@]}" --show-bin-path)"

runs="$here/.build-runs/$(date +%Y%m%d-%H%M%S)"
run_one() {
    local target="$1"
    local folder="$runs/$target"
    mkdir -p "$folder/corpus" "$folder/artifacts"
    local status=0
    # -rss_limit_mb: a leak or an unbounded buffer shows as a finding; -timeout: one input over 30 s is a hang
    # (FuzzUDPServer simulates whole transfers: up to 2.5 s for one input on a busy 2-core machine).
    "$bin/$target" -max_total_time="$seconds" -timeout=30 -rss_limit_mb=2048 -print_final_stats=1 \
        -artifact_prefix="$folder/artifacts/" "$folder/corpus" "$here/Corpus/$target" >"$folder/log" 2>&1 || status=$?
    echo "$status" >"$folder/status"
}

pids=()
for target in "${targets[@]}"; do
    while [ "$(jobs -rp | wc -l)" -ge "$jobs" ]; do wait -n || true; done
    run_one "$target" &
    pids+=("$!")
done
for pid in "${pids[@]}"; do wait "$pid" || true; done

failed=0
printf '%-26s %8s %10s %7s %7s %6s %s\n' target seconds executions exec/s cov ft findings
for target in "${targets[@]}"; do
    folder="$runs/$target"
    log="$folder/log"
    executions="$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | awk '{print $2}' || true)"
    rate="$(grep -o 'stat::average_exec_per_sec: [0-9]*' "$log" | awk '{print $2}' || true)"
    last="$(grep -E '^#[0-9]+' "$log" | tail -1 || true)"
    cov="$(echo "$last" | grep -o 'cov: [0-9]*' | awk '{print $2}' || true)"
    ft="$(echo "$last" | grep -o 'ft: [0-9]*' | awk '{print $2}' || true)"
    findings="$(find "$folder/artifacts" -type f | wc -l)"
    printf '%-26s %8s %10s %7s %7s %6s %s\n' "$target" "$seconds" "${executions:-?}" "${rate:-?}" "${cov:-?}" "${ft:-?}" "$findings"
    if [ "$findings" -ne 0 ] || [ "$(cat "$folder/status")" -ne 0 ]; then
        failed=1
        echo "  $target: exit $(cat "$folder/status"); see $log" >&2
        grep -E "ERROR|invariant|Fatal error|SUMMARY" "$log" | head -5 >&2 || true
        find "$folder/artifacts" -type f | head -5 >&2
    fi
    if [ "${MERGE:-0}" = 1 ]; then
        "$bin/$target" -merge=1 "$here/Corpus/$target" "$folder/corpus" >"$folder/merge.log" 2>&1 || true
    fi
done
echo "logs: $runs"
exit "$failed"

#!/usr/bin/env bash
# The chaos test (bench/chaos.py): a tracker and 4 peers on loopback, 20 downloads kept going over TCP
# and UDP while peers are SIGKILLed and restarted, the tracker is restarted and every port gets
# garbage; then the end checks. Builds the release binary first unless --ferry names one.
#
#   bench/chaos.sh [--seconds 600] [--max-size 256MiB] [--peers 4] [--downloads 20] [--seed N] [--keep]
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="/opt/swift/usr/bin:$PATH"
case " $* " in
    *" --ferry "*) ;;
    *)
        swift build -c release --product ferry >/dev/null
        set -- --ferry .build/release/ferry "$@"
        ;;
esac
exec python3 bench/chaos.py "$@"

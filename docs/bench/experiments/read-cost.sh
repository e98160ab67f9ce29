#!/usr/bin/env bash
# What reading costs the load generator: the same 5000-member live room (200 msg/s,
# 20 s, server on core 0, load generator on core 1) read with the default 4 KiB buffer,
# with a 16 KiB buffer, and over MessagePack. Writes read-cost-<variant>.json here.
#
#   docs/bench/experiments/read-cost.sh [THRONG_BINARY]
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
bin="${1:-$here/../../../target/release/throng}"
work="$(mktemp -d)"
server_pid=""
trap 'if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi; rm -rf "$work"' EXIT

for variant in default rb16k msgpack; do
    case "$variant" in
    default) extra=() ;;
    rb16k) extra=(--read-buffer-bytes 16384) ;;
    msgpack) extra=(--msgpack) ;;
    esac
    rm -rf "$work/throng-data"
    (cd "$work" && exec taskset -c 0 "$bin" serve >"$work/serve.log" 2>&1) &
    server_pid=$!
    for _ in $(seq 150); do
        [[ -f "$work/throng-data/server.json" ]] && break
        sleep 0.2
    done
    echo "== $variant" >&2
    taskset -c 1 "$bin" bench live-room --data-dir "$work/throng-data" --members 5000 \
        --rate 200 --duration 20 --no-progress --json "$here/read-cost-$variant.json" "${extra[@]}"
    kill "$server_pid"
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
    sleep 4
done

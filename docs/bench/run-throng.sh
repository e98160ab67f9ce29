#!/usr/bin/env bash
# Runs the Throng series shown in docs/benchmarks.md, each against a fresh `throng serve`
# (release build), then writes the comparison table and charts with `throng bench report`.
#
#   docs/bench/run-throng.sh [--duration S] [--out DIR] [--report DIR] [--no-pin]
#                            [--throng-bin PATH] [--only "NAME …"] [--repeat N]
#
# --only runs just the named runs (names below, e.g. "live-room-18000 connections-18000");
# the report is then written from every JSON in the output folder. --repeat N runs each
# N times (files NAME-r1.json … NAME-rN.json); the charts take the median per room size.
#
# By default the server runs on core 0 and the load generator on core 1 (taskset), as
# shared/BENCHMARKING.md asks for comparisons; --no-pin lets both use every core and adds
# -allcores to the file names. Run it as root with the sysctls of that
# file set for the 18000-member runs; it does not change them itself.
set -euo pipefail

repo="$(cd "$(dirname "$0")/../.." && pwd)"
duration=30
out="$repo/docs/bench/runs"
report="$repo/docs/bench"
pin=1
bin=""
only=""
repeat=1
while (($#)); do
    case "$1" in
    --duration) duration="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --report) report="$2"; shift 2 ;;
    --no-pin) pin=0; shift ;;
    --throng-bin) bin="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --repeat) repeat="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
    esac
done

cd "$repo"
if [[ -z "$bin" ]]; then
    cargo build --release -p throng >&2
    bin="$repo/target/release/throng"
fi
mkdir -p "$out"
server_cpu=()
load_cpu=()
if ((pin)); then
    server_cpu=(taskset -c 0)
    load_cpu=(taskset -c 1)
fi

work="$(mktemp -d)"
server_pid=""
stop_server() {
    if [[ -n "$server_pid" ]]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}
trap 'stop_server; rm -rf "$work"' EXIT

# One run: a fresh server in its own data directory, the scenario, the server stopped.
run() {
    local name="$1"
    shift
    if [[ -n "$only" && " $only " != *" $name "* ]]; then
        return
    fi
    local k file
    for k in $(seq "$repeat"); do
        file="$out/$name"
        ((pin)) || file="$file-allcores"
        ((repeat == 1)) || file="$file-r$k"
        file="$file.json"
        rm -rf "$work/throng-data"
        (cd "$work" && exec "${server_cpu[@]}" "$bin" serve >"$work/serve-$name.log" 2>&1) &
        server_pid=$!
        for _ in $(seq 150); do
            [[ -f "$work/throng-data/server.json" ]] && break
            sleep 0.2
        done
        [[ -f "$work/throng-data/server.json" ]] || { echo "throng serve did not start" >&2; exit 1; }
        echo "== $name ($k/$repeat): throng bench $*" >&2
        "${load_cpu[@]}" "$bin" bench "$@" --data-dir "$work/throng-data" --no-progress \
            --json "$file"
        stop_server
        # Let the closed connections leave TIME_WAIT-heavy state before the next run.
        sleep 5
    done
}

run live-room-1000 live-room --members 1000 --rate 200 --payload 100 --duration "$duration"
run live-room-5000 live-room --members 5000 --rate 200 --payload 100 --duration "$duration"
run live-room-18000 live-room --members 18000 --rate 200 --payload 100 --duration "$duration"
run live-room-mixed-5000 live-room --members 5000 --rate 200 --payload 100 --duration "$duration" \
    --gift-share 0.1 --low-share 0.2 --slow-share 0.05
# The live-room operations goal: 200 text messages and 10 reliable gifts per second.
run live-room-gifts-5000 live-room --members 5000 --rate 210 --payload 100 --duration "$duration" \
    --gift-share 0.0476
run connections-18000 connections --members 18000 --duration "$duration"
run join-storm-1000 join-storm --members 1000 --join-rate 100 --hold 2 --rate 20 --duration "$duration"
run rooms-1500x10 rooms --rooms 1500 --members-per-room 10 --rate-per-room 1 --duration "$duration"

"$bin" bench report --inputs "$out"/*.json --out "$report"

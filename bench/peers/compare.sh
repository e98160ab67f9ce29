#!/usr/bin/env bash
# Runs the same `throng bench live-room` against Throng and each peer server, one at a
# time, for a list of room sizes, then writes the comparison (Markdown and charts).
#
#   bench/peers/compare.sh [options] [-- extra throng bench live-room flags]
#
# Options:
#   --targets "throng socketio …"  systems to run, in order (default: all; see below)
#   --sizes "1000 5000 18000"      room sizes (members) to run each system at
#   --duration S                   seconds of publishing per run (default 30)
#   --rate R                       messages per second into the room (default 200)
#   --payload B                    payload bytes (default 100)
#   --pin                          server on core 0, load generator on core 1 (taskset)
#   --tune-sysctl                  raise somaxconn, SYN backlog and the local port range
#                                  for the run, and restore them afterwards
#   --out DIR                      where the per-run JSON goes (default out)
#   --report DIR                   where the comparison goes (default docs/bench)
#   --throng-bin PATH              use this throng binary instead of a release build
#   --no-install                   do not run the install scripts
#
# Installs what is missing (apt and npm, plus cargo for Sockudo), starts each system in
# turn on loopback (Throng: `throng serve` in a temporary data directory), runs the
# scenario once per size with a fresh server each time, stops it, and finally runs
# `throng bench report`. Every run's JSON is out/<target>-<size>.json.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$here/lib.sh"

all_targets="throng socketio mosquitto nchan nats ejabberd sockudo"
targets="$all_targets"
sizes="1000 5000 18000"
duration=30
rate=200
payload=100
pin=0
tune_sysctl=0
out="out"
report="docs/bench"
throng_bin=""
install=1
extra=()

while (($#)); do
    case "$1" in
    --targets) targets="$2"; shift 2 ;;
    --sizes) sizes="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --payload) payload="$2"; shift 2 ;;
    --pin) pin=1; shift ;;
    --tune-sysctl) tune_sysctl=1; shift ;;
    --out) out="$2"; shift 2 ;;
    --report) report="$2"; shift 2 ;;
    --throng-bin) throng_bin="$2"; shift 2 ;;
    --no-install) install=0; shift ;;
    --) shift; extra=("$@"); break ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) peers_die "unknown option $1 (see --help)" ;;
    esac
done

cd "$repo"
mkdir -p "$out"
for target in $targets; do
    [[ "$target" == throng || -x "$here/$target/ctl.sh" ]] || peers_die "unknown target $target (known: $all_targets)"
done

# Pinning: servers on core 0 (peers' ctl.sh read BENCH_PEERS_SERVER_CPUS), load on core 1.
load_prefix=()
server_prefix=()
if ((pin)); then
    export BENCH_PEERS_SERVER_CPUS=0
    server_prefix=(taskset -c 0)
    load_prefix=(taskset -c 1)
fi

# sysctls, restored on any exit.
declare -A saved_sysctl=()
restore_sysctls() {
    local key
    for key in "${!saved_sysctl[@]}"; do
        sysctl -q -w "$key=${saved_sysctl[$key]}" >/dev/null || peers_log "could not restore $key"
    done
}
if ((tune_sysctl)); then
    for setting in net.core.somaxconn=65535 net.ipv4.tcp_max_syn_backlog=65535 \
        "net.ipv4.ip_local_port_range=1024 65000" net.ipv4.tcp_tw_reuse=1; do
        key="${setting%%=*}"
        saved_sysctl[$key]="$(sysctl -n "$key" | tr '\t' ' ')"
        sysctl -q -w "$setting" >/dev/null
    done
fi

# Whatever is running when the script stops (an error, Ctrl-C) is stopped too.
current_stop=""
cleanup() {
    if [[ -n "$current_stop" ]]; then
        eval "$current_stop" || true
    fi
    restore_sysctls
}
trap cleanup EXIT

if ((install)); then
    for target in $targets; do
        [[ "$target" == throng ]] || bash "$here/$target/install.sh"
    done
fi

if [[ -z "$throng_bin" ]]; then
    peers_log "building throng (release)"
    cargo build --release -p throng >&2
    throng_bin="$repo/target/release/throng"
fi
[[ -x "$throng_bin" ]] || peers_die "no throng binary at $throng_bin"
throng_bin="$(realpath "$throng_bin")"

# Lets the previous run's sockets leave TIME_WAIT-heavy state and the server's memory
# settle before the next system starts.
pause_between_runs() {
    sleep "${BENCH_COMPARE_PAUSE_S:-5}"
}

run_bench() {
    local target="$1" size="$2" json="$out/$1-$2.json"
    shift 2
    peers_log "$target, $size members"
    # A system that fails at a size (refuses connections, falls over) is recorded and
    # the comparison goes on with the next run.
    if "${load_prefix[@]}" "$throng_bin" bench live-room "$@" \
        --members "$size" --rate "$rate" --payload "$payload" --duration "$duration" \
        --no-progress --json "$json" "${extra[@]}"; then
        inputs+=("$json")
    else
        peers_log "$target at $size members failed"
        failed+=("$target-$size")
    fi
}

throng_data=""
stop_throng() {
    if [[ -n "$throng_data" && -f "$throng_data/pid" ]]; then
        peers_stop_pid_file "$throng_data/pid"
    fi
}

inputs=()
failed=()
for target in $targets; do
    for size in $sizes; do
        if [[ "$target" == throng ]]; then
            throng_data="$(mktemp -d)"
            # On failure the data directory stays, for its log.
            current_stop="stop_throng"
            peers_raise_file_limit
            (cd "$throng_data" && exec "${server_prefix[@]}" "$throng_bin" serve >"$throng_data/log" 2>&1) &
            echo $! >"$throng_data/pid"
            waited=0
            until [[ -f "$throng_data/throng-data/server.json" ]]; do
                kill -0 "$(cat "$throng_data/pid")" 2>/dev/null || peers_die "throng serve exited; see $throng_data/log"
                sleep 0.2
                waited=$((waited + 1))
                ((waited < 150)) || peers_die "throng serve wrote no server.json in 30 s"
            done
            run_bench throng "$size" --data-dir "$throng_data/throng-data"
            stop_throng
            rm -rf "$throng_data"
        else
            current_stop="bash '$here/$target/ctl.sh' stop"
            started="$(bash "$here/$target/ctl.sh" start)"
            pid="$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$started")"
            port="$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$started")"
            run_bench "$target" "$size" --target "$target" --peer-port "$port" --peer-pid "$pid"
            bash "$here/$target/ctl.sh" stop
        fi
        current_stop=""
        pause_between_runs
    done
done

((${#inputs[@]})) || peers_die "no run succeeded"
"$throng_bin" bench report --inputs "${inputs[@]}" --out "$report"
if ((${#failed[@]})); then
    peers_log "runs that failed (no report): ${failed[*]}"
fi

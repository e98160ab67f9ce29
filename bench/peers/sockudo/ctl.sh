#!/usr/bin/env bash
# Starts or stops the Sockudo peer (Pusher protocol over WebSocket, HTTP publish API).
# Usage: ctl.sh start|stop|status   (port: BENCH_PEER_PORT, default 6001)
# start prints "pid=<sockudo pid> port=<port>".
source "$(dirname "$0")/../lib.sh"
port="${BENCH_PEER_PORT:-6001}"
run="$(peers_run_dir sockudo)"

case "${1:-}" in
start)
    peers_pid_alive "$run/pid" && peers_die "sockudo already running (pid $(cat "$run/pid"))"
    binary="$(peers_sockudo_binary)" || peers_die "run sockudo/install.sh first"
    sed -e "s|@PORT@|$port|g" "$PEERS_DIR/sockudo/config.toml.in" >"$run/config.toml"
    # Run from the run directory: Sockudo also looks for config/ relative to it. Its
    # environment variables override the file, so the usual suspects are cleared.
    cd "$run"
    unset HOST PORT DEBUG APP_MODE
    peers_spawn "$run" "$binary" --config "$run/config.toml"
    peers_started "$run" "$port"
    ;;
stop) peers_stop "$run" ;;
status) peers_status "$run" ;;
*) peers_die "usage: $0 start|stop|status" ;;
esac

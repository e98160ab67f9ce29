#!/usr/bin/env bash
# Starts or stops the Socket.IO peer (server.js under NODE_ENV=production).
# Usage: ctl.sh start|stop|status   (port: BENCH_PEER_PORT, default 3001)
# start prints "pid=<node pid> port=<port>".
source "$(dirname "$0")/../lib.sh"
port="${BENCH_PEER_PORT:-3001}"
run="$(peers_run_dir socketio)"

case "${1:-}" in
start)
    peers_pid_alive "$run/pid" && peers_die "socketio already running (pid $(cat "$run/pid"))"
    [[ -d "$PEERS_DIR/socketio/node_modules" ]] || peers_die "run socketio/install.sh first"
    export NODE_ENV=production HOST=127.0.0.1 PORT="$port"
    peers_spawn "$run" node "$PEERS_DIR/socketio/server.js"
    peers_started "$run" "$port"
    ;;
stop) peers_stop "$run" ;;
status) peers_status "$run" ;;
*) peers_die "usage: $0 start|stop|status" ;;
esac

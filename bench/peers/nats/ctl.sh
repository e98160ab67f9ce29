#!/usr/bin/env bash
# Starts or stops the NATS peer (NATS protocol over WebSocket).
# Usage: ctl.sh start|stop|status   (WebSocket port: BENCH_PEER_PORT, default 9222;
# plain client port: BENCH_PEER_CLIENT_PORT, default 14222)
# start prints "pid=<nats-server pid> port=<websocket port>".
source "$(dirname "$0")/../lib.sh"
port="${BENCH_PEER_PORT:-9222}"
client_port="${BENCH_PEER_CLIENT_PORT:-14222}"
run="$(peers_run_dir nats)"

case "${1:-}" in
start)
    peers_pid_alive "$run/pid" && peers_die "nats already running (pid $(cat "$run/pid"))"
    command -v nats-server >/dev/null || peers_die "run nats/install.sh first"
    sed -e "s|@PORT@|$port|g" -e "s|@CLIENT_PORT@|$client_port|g" \
        "$PEERS_DIR/nats/nats.conf.in" >"$run/nats.conf"
    peers_spawn "$run" nats-server -c "$run/nats.conf"
    peers_started "$run" "$port"
    ;;
stop) peers_stop "$run" ;;
status) peers_status "$run" ;;
*) peers_die "usage: $0 start|stop|status" ;;
esac

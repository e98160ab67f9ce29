#!/usr/bin/env bash
# Starts or stops the Mosquitto peer (MQTT over WebSocket).
# Usage: ctl.sh start|stop|status   (WebSocket port: BENCH_PEER_PORT, default 9001;
# plain MQTT port: BENCH_PEER_MQTT_PORT, default 11883)
# start prints "pid=<mosquitto pid> port=<websocket port>".
source "$(dirname "$0")/../lib.sh"
port="${BENCH_PEER_PORT:-9001}"
mqtt_port="${BENCH_PEER_MQTT_PORT:-11883}"
run="$(peers_run_dir mosquitto)"

case "${1:-}" in
start)
    peers_pid_alive "$run/pid" && peers_die "mosquitto already running (pid $(cat "$run/pid"))"
    command -v mosquitto >/dev/null || peers_die "run mosquitto/install.sh first"
    sed -e "s|@PORT@|$port|g" -e "s|@MQTT_PORT@|$mqtt_port|g" \
        "$PEERS_DIR/mosquitto/mosquitto.conf.in" >"$run/mosquitto.conf"
    peers_spawn "$run" mosquitto -c "$run/mosquitto.conf"
    peers_started "$run" "$port"
    ;;
stop) peers_stop "$run" ;;
status) peers_status "$run" ;;
*) peers_die "usage: $0 start|stop|status" ;;
esac

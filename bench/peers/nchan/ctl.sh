#!/usr/bin/env bash
# Starts or stops the Nchan peer (nginx with one worker).
# Usage: ctl.sh start|stop|status   (port: BENCH_PEER_PORT, default 8090)
# start prints "pid=<worker pid> port=<port>": the worker does the work, so it is the
# process to sample; stop signals the master.
source "$(dirname "$0")/../lib.sh"
port="${BENCH_PEER_PORT:-8090}"
run="$(peers_run_dir nchan)"

case "${1:-}" in
start)
    peers_pid_alive "$run/pid" && peers_die "nchan already running (pid $(cat "$run/pid"))"
    command -v nginx >/dev/null || peers_die "run nchan/install.sh first"
    sed -e "s|@PORT@|$port|g" -e "s|@RUN@|$run|g" "$PEERS_DIR/nchan/nginx.conf.in" >"$run/nginx.conf"
    nginx -t -q -c "$run/nginx.conf" -e "$run/error.log" || peers_die "nginx rejected $run/nginx.conf"
    peers_spawn "$run" nginx -c "$run/nginx.conf" -e "$run/error.log"
    peers_wait_port "$port" "$(cat "$run/pid")"
    worker_pid="$(pgrep -P "$(cat "$run/pid")" | head -1)"
    [[ -n "$worker_pid" ]] || peers_die "nginx started no worker; see $run/error.log"
    peers_started "$run" "$port" "$worker_pid"
    ;;
stop) peers_stop "$run" ;;
status) peers_status "$run" ;;
*) peers_die "usage: $0 start|stop|status" ;;
esac

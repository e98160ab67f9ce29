#!/usr/bin/env bash
# Starts or stops the ejabberd peer (XMPP MUC over WebSocket).
# Usage: ctl.sh start|stop|status   (port: BENCH_PEER_PORT, default 5280; Erlang
# distribution port, loopback only: BENCH_PEER_DIST_PORT, default 5210)
# start prints "pid=<beam.smp pid> port=<port>": the Erlang VM is the process to sample.
source "$(dirname "$0")/../lib.sh"
port="${BENCH_PEER_PORT:-5280}"
dist_port="${BENCH_PEER_DIST_PORT:-5210}"
run="$(peers_run_dir ejabberd)"
ejabberdctl_args=(-f "$run/ejabberd.yml" -c "$run/ejabberdctl.cfg" -s "$run/spool" -l "$run/logs")

# ejabberdctl run by root switches to the ejabberd user through su, whose PAM session
# resets the open-file limit to 1024. Switching with setpriv keeps our raised limit,
# and ejabberdctl, already the ejabberd user, then starts the VM itself.
as_ejabberd=(env HOME="$(getent passwd ejabberd | cut -d: -f6)"
    setpriv --reuid=ejabberd --regid=ejabberd --init-groups)

# The Erlang VM under the ejabberdctl/erl chain.
beam_pid_under() {
    local pid="$1" child
    for child in $(pgrep -P "$pid"); do
        if [[ "$(ps -o comm= -p "$child")" == beam.smp ]]; then
            echo "$child"
            return 0
        fi
        beam_pid_under "$child" && return 0
    done
    return 1
}

case "${1:-}" in
start)
    peers_pid_alive "$run/pid" && peers_die "ejabberd already running (pid $(cat "$run/pid"))"
    command -v ejabberdctl >/dev/null || peers_die "run ejabberd/install.sh first"
    # A fresh spool each start: rooms and sessions never outlive a run.
    rm -rf "$run/spool" "$run/logs"
    mkdir -p "$run/spool" "$run/logs"
    sed -e "s|@PORT@|$port|g" "$PEERS_DIR/ejabberd/ejabberd.yml.in" >"$run/ejabberd.yml"
    sed -e "s|@DIST_PORT@|$dist_port|g" "$PEERS_DIR/ejabberd/ejabberdctl.cfg.in" >"$run/ejabberdctl.cfg"
    # The node runs as the ejabberd user, which must own its files.
    chown -R ejabberd: "$run"
    peers_spawn "$run" "${as_ejabberd[@]}" ejabberdctl "${ejabberdctl_args[@]}" foreground
    peers_wait_port "$port" "$(cat "$run/pid")" 60
    peers_check_loopback "$dist_port"
    beam_pid="$(beam_pid_under "$(cat "$run/pid")")" || peers_die "no beam.smp under pid $(cat "$run/pid")"
    peers_started "$run" "$port" "$beam_pid"
    ;;
stop)
    # A clean stop through ejabberdctl first; when the node is too busy to answer, the
    # VM gets TERM (which Erlang handles as a clean stop too), then KILL.
    if peers_pid_alive "$run/pid"; then
        "${as_ejabberd[@]}" ejabberdctl "${ejabberdctl_args[@]}" stop >>"$run/log" 2>&1 ||
            peers_log "ejabberdctl stop failed (see $run/log); stopping the VM by signal"
    fi
    peers_stop "$run"
    ;;
status) peers_status "$run" ;;
*) peers_die "usage: $0 start|stop|status" ;;
esac

# Shared helpers for the peer install and control scripts in bench/peers/.
# Sourced, not run. Every peer listens on loopback only and runs as a plain
# foreground process that we background ourselves, so its pid is known exactly.

set -euo pipefail

PEERS_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# Settings come from BENCH_* variables, never THRONG_*: `throng serve` reads every
# THRONG_* variable as configuration and refuses the ones it does not know.
# Generated configs, pid files and logs live here, never in the repository.
PEERS_RUN_ROOT="${BENCH_PEERS_RUN_DIR:-/tmp/throng-peers}"

peers_die() {
    echo "error: $*" >&2
    exit 1
}

peers_log() {
    echo "[peers] $*" >&2
}

# `apt-get update` once per comparison run: compare.sh exports the flag, so each
# peer's install script skips it when another already ran it.
peers_apt_update_once() {
    if [[ "${BENCH_PEERS_APT_UPDATED:-0}" != 1 ]]; then
        peers_log "apt-get update"
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        export BENCH_PEERS_APT_UPDATED=1
    fi
}

peers_packages_installed() {
    local package
    for package in "$@"; do
        dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || return 1
    done
}

# Installs Debian packages without letting their maintainer scripts start the
# system services: a freshly installed broker would otherwise listen on every
# interface with the distribution's config. A policy-rc.d that refuses starts is
# put in place only for the install when the machine has none.
# Usage: peers_apt_install "<services to keep stopped>" package...
peers_apt_install() {
    local services="$1"
    shift
    if peers_packages_installed "$@"; then
        peers_log "already installed: $*"
        return 0
    fi
    peers_apt_update_once
    local policy=/usr/sbin/policy-rc.d placed_policy=0
    if [[ ! -e "$policy" ]]; then
        printf '#!/bin/sh\nexit 101\n' > "$policy"
        chmod 755 "$policy"
        placed_policy=1
    fi
    local status=0
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" >&2 || status=$?
    if [[ "$placed_policy" == 1 ]]; then
        rm -f "$policy"
    fi
    [[ "$status" == 0 ]] || peers_die "apt-get install $* failed"
    peers_keep_services_stopped $services
}

peers_keep_services_stopped() {
    local service
    if [[ "$(ps -p 1 -o comm= 2>/dev/null)" == systemd ]]; then
        for service in "$@"; do
            systemctl disable --now "$service" >&2 2>/dev/null || true
        done
    fi
}

peers_run_dir() {
    local dir="$PEERS_RUN_ROOT/$1"
    mkdir -p "$dir"
    echo "$dir"
}

# Raises the soft open-file limit to the hard one (20000 on the bench machines) for
# the peer about to start, so every peer gets the same ceiling.
peers_raise_file_limit() {
    ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
}

# Optional CPU pinning: compare.sh sets BENCH_PEERS_SERVER_CPUS (e.g. "0").
peers_taskset() {
    if [[ -n "${BENCH_PEERS_SERVER_CPUS:-}" ]]; then
        echo "taskset -c $BENCH_PEERS_SERVER_CPUS"
    fi
}

peers_port_listening() {
    ss -Hltn "sport = :$1" 2>/dev/null | grep -q LISTEN
}

# Waits until something listens on the port, or fails after the timeout; also fails
# early when the process died.
peers_wait_port() {
    local port="$1" pid="$2" timeout_s="${3:-30}" waited=0
    while ! peers_port_listening "$port"; do
        kill -0 "$pid" 2>/dev/null || peers_die "process $pid exited before listening on $port"
        sleep 0.2
        waited=$((waited + 1))
        ((waited < timeout_s * 5)) || peers_die "nothing listens on port $port after ${timeout_s}s"
    done
}

# Loopback only: refuse to keep a peer that listens on any other address.
peers_check_loopback() {
    local port="$1" addresses
    addresses="$(ss -Hltn "sport = :$port" | awk '{print $4}')"
    if grep -qv '^127\.' <<<"$addresses"; then
        peers_die "port $port listens on a non-loopback address: $(tr '\n' ' ' <<<"$addresses")"
    fi
}

peers_pid_alive() {
    [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null
}

# Stops the process in the pid file: TERM, then KILL after 15 s.
peers_stop_pid_file() {
    local pid_file="$1" pid waited=0
    if ! peers_pid_alive "$pid_file"; then
        rm -f "$pid_file"
        return 0
    fi
    pid="$(cat "$pid_file")"
    kill -TERM "$pid" 2>/dev/null || true
    while kill -0 "$pid" 2>/dev/null; do
        sleep 0.2
        waited=$((waited + 1))
        if ((waited == 75)); then
            peers_log "pid $pid ignored TERM; sending KILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    done
    rm -f "$pid_file"
}

# The one line on stdout that compare.sh and people read: the process to sample
# (the one doing the work) and the port clients connect to.
peers_report() {
    echo "pid=$1 port=$2"
}

# Runs a peer's server in the background (optionally pinned), its output in
# <run dir>/log and its pid in <run dir>/pid. Usage: peers_spawn RUN_DIR CMD ARGS...
peers_spawn() {
    local run="$1"
    shift
    peers_raise_file_limit
    # shellcheck disable=SC2046 # the optional taskset prefix is meant to split
    nohup $(peers_taskset) "$@" >"$run/log" 2>&1 &
    echo $! >"$run/pid"
}

# Waits for the port, checks it is loopback only, records what start reports.
# Usage: peers_started RUN_DIR PORT [PID_TO_SAMPLE]
peers_started() {
    local run="$1" port="$2" sampled_pid="${3:-}"
    peers_wait_port "$port" "$(cat "$run/pid")"
    peers_check_loopback "$port"
    echo "${sampled_pid:-$(cat "$run/pid")}" >"$run/sampled_pid"
    echo "$port" >"$run/port"
    peers_report "$(cat "$run/sampled_pid")" "$port"
}

peers_status() {
    local run="$1"
    peers_pid_alive "$run/pid" || { echo "not running" >&2; return 1; }
    peers_report "$(cat "$run/sampled_pid")" "$(cat "$run/port")"
}

# Stops the spawned process, then the sampled one if it is another that outlived it
# (ejabberd's VM runs under a shell that does not pass signals on).
peers_stop() {
    local run="$1"
    peers_stop_pid_file "$run/pid"
    if [[ -f "$run/sampled_pid" ]]; then
        peers_stop_pid_file "$run/sampled_pid"
    fi
    rm -f "$run/port"
}

# The sockudo binary: on PATH, or where `cargo install` puts it.
peers_sockudo_binary() {
    local candidate
    for candidate in "$(command -v sockudo 2>/dev/null)" "${CARGO_HOME:-$HOME/.cargo}/bin/sockudo"; do
        if [[ -n "$candidate" && -x "$candidate" ]]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}

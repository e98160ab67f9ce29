#!/usr/bin/env bash
# Smoke check of peer adapters: installs each named peer (if missing), starts it, runs a
# small `throng bench live-room` against it, stops it, and fails unless every member
# joined and every message arrived exactly once.
#
#   bench/peers/smoke.sh [--members N] [--rate R] [--duration S] [--throng-bin PATH] peer...
#
# Defaults: 300 members, 20 messages/s, 5 s, the debug build (built if missing).
# Mosquitto, NATS, Nchan and Socket.IO install in seconds; ejabberd pulls in Erlang;
# Sockudo's install is a 10-minute cargo build.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
source "$here/lib.sh"

members=300
rate=20
duration=5
throng_bin=""
peers=()
while (($#)); do
    case "$1" in
    --members) members="$2"; shift 2 ;;
    --rate) rate="$2"; shift 2 ;;
    --duration) duration="$2"; shift 2 ;;
    --throng-bin) throng_bin="$2"; shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) peers+=("$1"); shift ;;
    esac
done
((${#peers[@]})) || peers_die "name at least one peer (see --help)"
command -v python3 >/dev/null || peers_die "python3 is needed to read the run reports"

cd "$repo"
if [[ -z "$throng_bin" ]]; then
    cargo build -p throng >&2
    throng_bin="$repo/target/debug/throng"
fi

results="$(mktemp -d)"
current_peer=""
trap '[[ -z "$current_peer" ]] || bash "$here/$current_peer/ctl.sh" stop; rm -rf "$results"' EXIT

failures=0
for peer in "${peers[@]}"; do
    [[ -x "$here/$peer/ctl.sh" ]] || peers_die "unknown peer $peer"
    bash "$here/$peer/install.sh"
    started="$(bash "$here/$peer/ctl.sh" start)"
    current_peer="$peer"
    pid="$(sed -n 's/.*pid=\([0-9]*\).*/\1/p' <<<"$started")"
    port="$(sed -n 's/.*port=\([0-9]*\).*/\1/p' <<<"$started")"
    json="$results/$peer.json"
    run_ok=1
    "$throng_bin" bench live-room --target "$peer" --peer-port "$port" --peer-pid "$pid" \
        --members "$members" --rate "$rate" --duration "$duration" --no-progress \
        --json "$json" || run_ok=0
    bash "$here/$peer/ctl.sh" stop
    current_peer=""
    if ((run_ok)) && python3 - "$json" "$members" "$peer" <<'EOF'; then
import json, sys
path, members, peer = sys.argv[1], int(sys.argv[2]), sys.argv[3]
report = json.load(open(path))
problems = []
if report["connections"] != members:
    problems.append(f"{report['connections']} of {members} members joined")
if report["lost"]["total"] or report["duplicates"] or report["unexpected"]:
    problems.append(f"lost {report['lost']['total']}, duplicates {report['duplicates']}, unexpected {report['unexpected']}")
if report["deliveries"] != report["expected_deliveries"] or report["deliveries"] == 0:
    problems.append(f"{report['deliveries']} of {report['expected_deliveries']} deliveries")
print(f"{peer}: {'FAIL ' + '; '.join(problems) if problems else 'ok'} "
      f"({report['connections']} members, {report['deliveries']} deliveries)")
sys.exit(1 if problems else 0)
EOF
        :
    else
        failures=$((failures + 1))
    fi
done
echo "$((${#peers[@]} - failures)) passed, $failures failed"
((failures == 0))

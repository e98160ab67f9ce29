#!/usr/bin/env bash
# Installs Mosquitto 2.0 from Debian. The system service stays stopped: ctl.sh runs
# the broker with our own config. Idempotent.
source "$(dirname "$0")/../lib.sh"
peers_apt_install mosquitto mosquitto
peers_log "mosquitto: $(mosquitto -h 2>&1 | head -1)"

#!/usr/bin/env bash
# Installs nats-server 2.9 from Debian. Idempotent.
source "$(dirname "$0")/../lib.sh"
peers_apt_install nats-server nats-server
peers_log "nats: $(nats-server --version)"

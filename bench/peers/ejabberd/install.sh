#!/usr/bin/env bash
# Installs ejabberd 23.01 from Debian. The system service stays stopped: ctl.sh runs a
# node of its own with our config. Idempotent.
source "$(dirname "$0")/../lib.sh"
peers_apt_install ejabberd ejabberd
peers_log "ejabberd: $(dpkg-query -W -f='${Version}' ejabberd)"

#!/usr/bin/env bash
# Installs nginx and the Nchan module from Debian. The system nginx service stays
# stopped: ctl.sh runs nginx with our own config. Idempotent.
source "$(dirname "$0")/../lib.sh"
peers_apt_install nginx nginx libnginx-mod-nchan
peers_log "nchan: $(nginx -v 2>&1), libnginx-mod-nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan)"

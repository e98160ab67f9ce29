#!/usr/bin/env bash
# Installs the Socket.IO peer: Node (20 or newer wanted) and the locked npm
# dependencies of server.js. Idempotent.
source "$(dirname "$0")/../lib.sh"
here="$PEERS_DIR/socketio"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    peers_apt_install "" nodejs npm
fi
node_major="$(node -p 'process.versions.node.split(".")[0]')"
if ((node_major < 20)); then
    peers_log "warning: node $(node --version) found; the comparison is meant for Node 20"
fi

# npm ci reinstalls from scratch; skip it when the installed tree matches the lock.
if [[ -f "$here/node_modules/.package-lock.json" && "$here/node_modules/.package-lock.json" -nt "$here/package-lock.json" ]]; then
    peers_log "socketio: node_modules up to date"
else
    (cd "$here" && npm ci --omit=dev --no-audit --no-fund >&2)
fi
peers_log "socketio: node $(node --version), socket.io $(node -p "require('$here/node_modules/socket.io/package.json').version")"

#!/usr/bin/env bash
# Installs Sockudo: protoc from Debian, then the sockudo crate with cargo (a build of
# about 10 minutes on 2 cores). Idempotent: skipped when a sockudo binary is found.
source "$(dirname "$0")/../lib.sh"
version="${BENCH_SOCKUDO_VERSION:-5.2.0}"

if binary="$(peers_sockudo_binary)"; then
    peers_log "sockudo: $("$binary" --version 2>/dev/null || echo "$binary")"
    exit 0
fi
command -v cargo >/dev/null || peers_die "cargo is needed to install sockudo"
peers_apt_install "" protobuf-compiler
# The crate's lock file first; without it if that fails to build.
if ! cargo install sockudo --version "$version" --locked >&2; then
    peers_log "sockudo: --locked build failed, trying without --locked"
    cargo install sockudo --version "$version" >&2
fi
binary="$(peers_sockudo_binary)" || peers_die "cargo install finished but no sockudo binary was found"
peers_log "sockudo: installed $binary"

#!/usr/bin/env bash
# Usage: deploy/join.sh https://SERVER:6443 TOKEN      (as root, on the new node)
#
# Adds this machine to a skiff cluster with nothing but the server's node token
# (`cat /var/lib/skiff/node-token` on the server): installs what a node needs (no Rust),
# takes the server's CA from the TLS handshake and keeps it only if its sha256 is the one
# the token pins, downloads the agent built for this machine (`uname -m`) from the server,
# checks its sha256, installs it and starts it with the systemd unit (or in the
# background with a pid file where there is no systemd), as the quickstart does.
# Idempotent: run it again to update the agent and restart it; pods are adopted.
#
# SKIFF_BUILD=1 builds the agent here from this clone instead (needs cargo).
# SKIFF_NODE_IP=ADDR passes --node-ip; SKIFF_AGENT_EXTRA_ARGS adds other agent flags.
# Paths and SKIFF_SKIP_PACKAGES / SKIFF_NO_SYSTEMD: see deploy/lib/node.sh.
set -euo pipefail
# shellcheck source=deploy/lib/node.sh
source "$(dirname "$0")/lib/node.sh"

[ $# -eq 2 ] || skiff_die "usage: $0 https://SERVER:6443 TOKEN"
SERVER=${1%/}
TOKEN=$2
skiff_require_root
[[ $SERVER =~ ^https://([^/:]+|\[[0-9a-fA-F:]+\]):([0-9]+)$ ]] ||
  skiff_die "$SERVER: expected https://HOST:PORT (the control plane's API, port 6443 by default)"
HOSTPORT=${SERVER#https://}
[[ $TOKEN =~ ^K10([0-9a-fA-F]{64})::node:[^[:space:]]+$ ]] ||
  skiff_die "the token is not a node token (K10<CA hash>::node:<secret>); copy /var/lib/skiff/node-token from the server"
CA_HASH=${BASH_REMATCH[1],,}

skiff_say "packages"
skiff_apt_install "${NODE_PACKAGES[@]}"

skiff_say "the server's CA, pinned by the token"
mkdir -p "$SKIFF_ETC"
chmod 0755 "$SKIFF_ETC"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
timeout 20 openssl s_client -connect "$HOSTPORT" -showcerts </dev/null >"$WORK/handshake" 2>"$WORK/handshake.err" ||
  skiff_die "no TLS handshake with $HOSTPORT: $(tail -n 3 "$WORK/handshake.err")"
# Every certificate of the chain the server sent, one file each.
awk -v dir="$WORK" '/-----BEGIN CERTIFICATE-----/ { n++; f = dir "/cert" n ".pem" }
  f { print > f } /-----END CERTIFICATE-----/ { f = "" }' "$WORK/handshake"
CA=
for cert in "$WORK"/cert*.pem; do
  [ -f "$cert" ] || continue
  hash=$(openssl x509 -in "$cert" -outform DER | sha256sum | cut -d' ' -f1)
  [ "$hash" = "$CA_HASH" ] && CA=$cert
done
[ -n "$CA" ] || skiff_die "no certificate $HOSTPORT sent has the sha256 the token pins ($CA_HASH): a wrong server, a wrong token, or someone in between"
install -m 0644 "$CA" "$SKIFF_ETC/ca.crt"
(umask 077 && printf '%s\n' "$TOKEN" >"$SKIFF_ETC/node-token")

ARCH=$(uname -m)
# A 64-bit kernel under a 32-bit userland (older Raspberry Pi OS) cannot run aarch64 binaries.
if [ "$ARCH" = aarch64 ] && command -v dpkg >/dev/null && [ "$(dpkg --print-architecture)" != arm64 ]; then
  skiff_die "this system's userland is $(dpkg --print-architecture), not arm64: install the 64-bit Raspberry Pi OS"
fi
if [ "${SKIFF_BUILD:-}" = 1 ]; then
  skiff_say "building skiff-agent here (SKIFF_BUILD=1)"
  export PATH="$HOME/.cargo/bin:$PATH"
  (cd "$SKIFF_DEPLOY/.." && cargo build --release --locked -p skiff-agent -p skiff)
  for name in skiff-agent skiff; do
    skiff_install_file "$SKIFF_DEPLOY/../target/release/$name" "$SKIFF_PREFIX/bin/$name"
  done
else
  skiff_say "downloading skiff-agent and skiff for $ARCH from $SERVER"
  # The token goes in a header file, not on curl's command line (visible in ps).
  (umask 077 && printf 'Authorization: Bearer %s\n' "$TOKEN" >"$WORK/auth")
  fetch=(curl -sS --fail-with-body --max-time 300 --cacert "$SKIFF_ETC/ca.crt" -H "@$WORK/auth")
  for name in skiff-agent skiff; do
    url=$SERVER/skiff/v1/binaries/$ARCH/$name
    "${fetch[@]}" -o "$WORK/$name" "$url" || skiff_die "downloading $url: $(head -c 600 "$WORK/$name" 2>/dev/null)"
    "${fetch[@]}" -o "$WORK/$name.sha256" "$url.sha256" || skiff_die "downloading $url.sha256"
    (cd "$WORK" && sha256sum --quiet -c "$name.sha256") || skiff_die "$name: sha256 mismatch; try again"
    skiff_install_file "$WORK/$name" "$SKIFF_PREFIX/bin/$name"
  done
fi
"$SKIFF_PREFIX/bin/skiff-agent" --version

# The demo app's images are in no registry: the server keeps the ones the quickstart
# built; the agent imports what lands in its images folder.
if [ -n "${fetch[*]:-}" ]; then
  skiff_say "demo images from $SERVER"
  mkdir -p "$SKIFF_AGENT_ROOT/images"
  for name in skiff-demo-httpd.tar skiff-demo-busybox.tar skiff-demo-hostname.tar; do
    url=$SERVER/skiff/v1/binaries/$ARCH/$name
    if "${fetch[@]}" -o "$WORK/$name" "$url" && "${fetch[@]}" -o "$WORK/$name.sha256" "$url.sha256" &&
      (cd "$WORK" && sha256sum --quiet -c "$name.sha256"); then
      # Under a hidden name first: the agent never imports half a file.
      install -m 0644 "$WORK/$name" "$SKIFF_AGENT_ROOT/images/.$name.tmp"
      mv -f "$SKIFF_AGENT_ROOT/images/.$name.tmp" "$SKIFF_AGENT_ROOT/images/$name"
    else
      echo "skiff: no demo image $name for $ARCH on the server; the demo's pods will not start on this node"
    fi
  done
fi

skiff_say "containerd"
skiff_start_containerd

skiff_say "skiff-agent (joining $SERVER)"
ARGS=(--server "$SERVER" --token-file "$SKIFF_ETC/node-token")
[ -n "${SKIFF_NODE_IP:-}" ] && ARGS+=(--node-ip "$SKIFF_NODE_IP")
# shellcheck disable=SC2206 # extra flags, split on spaces on purpose
ARGS+=(${SKIFF_AGENT_EXTRA_ARGS:-})
skiff_start_agent "${ARGS[@]}"
sleep 2
if skiff_have_systemd; then
  systemctl is-active --quiet skiff-agent || skiff_die "the agent stopped; see journalctl -u skiff-agent"
else
  kill -0 "$(cat "$SKIFF_RUN/skiff-agent.pid")" 2>/dev/null ||
    skiff_die "the agent stopped; see $SKIFF_LOGS/skiff-agent.log"
fi
echo "skiff: this node is joining $SERVER; on the server: skiff get nodes -o wide"

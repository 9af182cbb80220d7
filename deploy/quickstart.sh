#!/usr/bin/env bash
# Sets up a single-node skiff cluster on a fresh Debian/Ubuntu/Raspberry Pi OS machine, as
# root: installs dependencies, builds and installs skiff, starts containerd, the control
# plane and a node agent joined to it, and runs a demo app (three web servers behind a
# NodePort service) that answers `curl http://<node-ip>:30080/` from the host.
# Idempotent: run it again to rebuild and restart; running pods are adopted, the cluster's
# objects are kept (they live in /var/lib/skiff).
#
# SKIFF_NODE_IP=ADDR gives the node that address (a Vagrant VM's private network one).
# SKIFF_CROSS=aarch64 also cross-builds the binaries for Raspberry Pis, which the control
# plane then serves to deploy/join.sh on them (as it serves this machine's own).
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=deploy/lib/node.sh
source deploy/lib/node.sh

DATA=/var/lib/skiff
API=https://127.0.0.1:6443
ARCH=$(uname -m)

skiff_require_root
bash deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== building skiff (release; the first build takes a few minutes)"
# Only what the quickstart installs and runs: the three binaries and the demo images'
# builder (not the benchmarks and tests of the workspace).
# (`--bin` applies to every package named, hence each binary by name.)
cargo build --release --locked -p skiff -p skiff-agent -p skiff-control-plane -p skiff-e2e \
  --bin skiff --bin skiff-agent --bin skiff-control-plane --bin skiff_demo_images
for name in skiff skiff-agent skiff-control-plane; do
  skiff_install_file "target/release/$name" "$SKIFF_PREFIX/bin/$name"
done
# Kept for nodes that join with deploy/join.sh and have no Rust toolchain.
skiff_keep_binaries target/release "$DATA" "$ARCH"
if [ "${SKIFF_CROSS:-}" = aarch64 ] && [ "$ARCH" != aarch64 ]; then
  echo "== cross-building for aarch64 (Raspberry Pi)"
  cargo build --release --locked --target aarch64-unknown-linux-gnu \
    -p skiff-agent -p skiff -p skiff-control-plane
fi
if [ -x target/aarch64-unknown-linux-gnu/release/skiff-agent ] && [ "$ARCH" != aarch64 ]; then
  skiff_keep_binaries target/aarch64-unknown-linux-gnu/release "$DATA" aarch64
fi

skiff_say "containerd"
skiff_start_containerd

skiff_say "skiff-control-plane"
skiff_run_daemon skiff-control-plane
for _ in $(seq 100); do [ -s "$DATA/node-token" ] && [ -s "$DATA/admin.conf" ] && break; sleep 0.2; done
[ -s "$DATA/admin.conf" ] || { echo "the control plane did not start; see $SKIFF_LOGS or journalctl -u skiff-control-plane" >&2; exit 1; }
# admin.conf is a kubeconfig. The CLI reads ~/.skiff/config (or $SKIFF_CONFIG, or
# --config); kubectl and helm read ~/.kube/config, written only when there is none (an
# existing one may hold other clusters: `KUBECONFIG=$DATA/admin.conf kubectl ...` then).
mkdir -p /root/.skiff
install -m 0600 "$DATA/admin.conf" /root/.skiff/config
KUBE_CONFIG_NOTE="kubectl reads /root/.kube/config (a copy of $DATA/admin.conf)"
if [ ! -e /root/.kube/config ]; then
  install -d -m 0700 /root/.kube
  install -m 0600 "$DATA/admin.conf" /root/.kube/config
elif ! cmp -s "$DATA/admin.conf" /root/.kube/config; then
  KUBE_CONFIG_NOTE="/root/.kube/config is someone else's and was left alone: KUBECONFIG=$DATA/admin.conf kubectl get nodes"
fi
for _ in $(seq 100); do skiff get namespaces >/dev/null 2>&1 && break; sleep 0.2; done

echo "== demo images (built from busybox-static)"
# Kept beside the binaries too: nodes that join with deploy/join.sh fetch them from there
# (they are in no registry), so the demo's pods run on every node.
target/release/skiff_demo_images "$DATA/bin/$ARCH"
mkdir -p "$SKIFF_AGENT_ROOT/images"
for image in "$DATA/bin/$ARCH"/skiff-demo-*.tar; do
  skiff_install_file "$image" "$SKIFF_AGENT_ROOT/images/$(basename "$image")"
done

skiff_say "skiff-agent (joined to $API)"
ARGS=(--server "$API" --token-file "$DATA/node-token")
[ -n "${SKIFF_NODE_IP:-}" ] && ARGS+=(--node-ip "$SKIFF_NODE_IP")
skiff_start_agent "${ARGS[@]}"
for _ in $(seq 150); do
  skiff get nodes 2>/dev/null | grep -qw Ready && break
  sleep 0.2
done
skiff get nodes -o wide

echo "== the demo app: deployment/hello (3 replicas) behind service/hello (NodePort 30080)"
skiff apply -f deploy/examples/demo-app.yaml
for _ in $(seq 240); do
  ready=$(skiff get deployment hello 2>/dev/null | awk 'NR==2 { print $2 }')
  [ "$ready" = "3/3" ] && break
  sleep 0.5
done
skiff get pods -o wide
skiff get svc hello
NODE_IP=$(skiff get nodes -o wide | awk 'NR==2 { print $6 }')
echo
echo "From the host, through the NodePort: curl http://$NODE_IP:30080/"
# Ready in the API is not yet serving when the agent restarted (a re-run, a reboot):
# the pods' last status stays until their containers are back.
for _ in $(seq 120); do
  curl -fsS --max-time 2 -o /dev/null "http://$NODE_IP:30080/" 2>/dev/null && break
  sleep 0.5
done
for _ in 1 2 3 4 5 6; do
  curl -fsS --max-time 5 "http://$NODE_IP:30080/"
done
cat <<TXT

skiff is running on this node. Try:
  skiff get pods -o wide; skiff get svc
  skiff scale deployment hello --replicas 5
  skiff set image deployment/hello web=skiff-demo-httpd:1 && skiff rollout status deployment/hello
  skiff rollout undo deployment/hello
  skiff logs -f <pod>          skiff exec -it <pod> -- sh
  curl http://$NODE_IP:30080/
kubectl and helm work too: $KUBE_CONFIG_NOTE
  kubectl get nodes -o wide; kubectl get pods -o wide
  kubectl --server $API --certificate-authority $DATA/pki/ca.crt --token "\$(cat $DATA/admin-token)" get pods   # a bearer token instead of the certificate
Add a node: on it, from a clone of this repository (no Rust needed):
  sudo bash deploy/join.sh https://$NODE_IP:6443 $(cat "$DATA/node-token")
TXT

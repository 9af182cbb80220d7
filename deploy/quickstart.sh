#!/usr/bin/env bash
# Sets up a single-node skiff cluster on a fresh Debian/Ubuntu/Raspberry Pi OS machine, as
# root: installs dependencies, builds and installs skiff, starts containerd, the control
# plane and a node agent joined to it, and runs a demo app (three web servers behind a
# NodePort service) that answers `curl http://<node-ip>:30080/` from the host.
# Idempotent: run it again to rebuild and restart; running pods are adopted, the cluster's
# objects are kept (they live in /var/lib/skiff).
set -euo pipefail
cd "$(dirname "$0")/.."

DATA=/var/lib/skiff
ROOT=/var/lib/skiff-agent
MANIFESTS=/etc/skiff/manifests
SOCK=/run/containerd/containerd.sock
LOGS=/var/log/skiff
API=https://127.0.0.1:6443

bash deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== building skiff (release; the first build takes a few minutes)"
cargo build --release --workspace --locked
install -m 0755 target/release/skiff target/release/skiff-agent target/release/skiff-control-plane /usr/local/bin/
mkdir -p "$DATA" "$ROOT/images" "$MANIFESTS" "$LOGS" /etc/default

have_systemd() { [ -d /run/systemd/system ]; }

# Restarts a daemon: through systemd when there is one, else in the background with a pid
# file (containers and CI runners often have no systemd).
run_daemon() {
  local name=$1; shift
  if have_systemd; then
    install -m 0644 "deploy/systemd/$name.service" "/etc/systemd/system/$name.service"
    systemctl daemon-reload
    systemctl enable "$name" >/dev/null
    systemctl restart "$name"
  else
    if [ -f "/run/$name.pid" ] && kill -0 "$(cat "/run/$name.pid")" 2>/dev/null; then
      kill "$(cat "/run/$name.pid")"
      for _ in $(seq 50); do kill -0 "$(cat "/run/$name.pid")" 2>/dev/null || break; sleep 0.2; done
    fi
    nohup "$@" >>"$LOGS/$name.log" 2>&1 &
    echo $! >"/run/$name.pid"
  fi
}

echo "== containerd"
if ! ctr --address "$SOCK" version >/dev/null 2>&1; then
  if have_systemd; then
    systemctl enable --now containerd
  else
    nohup containerd >"$LOGS/containerd.log" 2>&1 &
    echo $! >/run/skiff-containerd.pid
  fi
  for _ in $(seq 50); do ctr --address "$SOCK" version >/dev/null 2>&1 && break; sleep 0.2; done
fi
ctr --address "$SOCK" version >/dev/null || { echo "containerd did not come up; see $LOGS/containerd.log" >&2; exit 1; }

echo "== skiff-control-plane"
run_daemon skiff-control-plane /usr/local/bin/skiff-control-plane --data-dir "$DATA" --listen 0.0.0.0:6443
for _ in $(seq 100); do [ -s "$DATA/node-token" ] && [ -s "$DATA/admin.conf" ] && break; sleep 0.2; done
[ -s "$DATA/admin.conf" ] || { echo "the control plane did not start; see $LOGS or journalctl -u skiff-control-plane" >&2; exit 1; }
# The CLI reads ~/.skiff/config (or $SKIFF_CONFIG, or --config).
mkdir -p /root/.skiff
install -m 0600 "$DATA/admin.conf" /root/.skiff/config
for _ in $(seq 100); do skiff get namespaces >/dev/null 2>&1 && break; sleep 0.2; done

echo "== demo images (built from busybox-static)"
target/release/skiff_demo_images "$ROOT/images"

echo "== skiff-agent (joined to $API)"
echo "SKIFF_AGENT_ARGS=\"--server $API --token-file $DATA/node-token\"" >/etc/default/skiff-agent
run_daemon skiff-agent /usr/local/bin/skiff-agent --root "$ROOT" --containerd "$SOCK" \
  --manifests "$MANIFESTS" --images "$ROOT/images" --server "$API" --token-file "$DATA/node-token"
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
Join more nodes with: skiff-agent --server https://$NODE_IP:6443 --token \$(cat $DATA/node-token)
TXT

#!/usr/bin/env bash
# Sets up a single skiff node on a fresh Debian/Ubuntu/Raspberry Pi OS machine, as root:
# installs dependencies, builds and installs skiff, starts containerd and skiff-agent, and
# runs a demo pod whose sidecar talks to its web server over 127.0.0.1.
# Idempotent: run it again to rebuild and restart the agent; running pods are adopted.
set -euo pipefail
cd "$(dirname "$0")/.."

ROOT=/var/lib/skiff-agent
MANIFESTS=/etc/skiff/manifests
SOCK=/run/containerd/containerd.sock
LOGS=/var/log/skiff

bash deploy/install-deps.sh
export PATH="$HOME/.cargo/bin:$PATH"

echo "== building skiff (release; the first build takes a few minutes)"
cargo build --release --workspace --locked
install -m 0755 target/release/skiff target/release/skiff-agent target/release/skiff-control-plane /usr/local/bin/
mkdir -p "$ROOT/images" "$MANIFESTS" "$LOGS"

have_systemd() { [ -d /run/systemd/system ]; }

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

echo "== demo images (built from busybox-static)"
target/release/skiff_demo_images "$ROOT/images"

echo "== skiff-agent"
if have_systemd; then
  install -m 0644 deploy/systemd/skiff-agent.service /etc/systemd/system/skiff-agent.service
  systemctl daemon-reload
  systemctl enable skiff-agent >/dev/null
  systemctl restart skiff-agent
else
  if [ -f /run/skiff-agent.pid ] && kill -0 "$(cat /run/skiff-agent.pid)" 2>/dev/null; then
    kill "$(cat /run/skiff-agent.pid)"; sleep 1
  fi
  nohup /usr/local/bin/skiff-agent --root "$ROOT" --containerd "$SOCK" \
    --manifests "$MANIFESTS" --images "$ROOT/images" >>"$LOGS/skiff-agent.log" 2>&1 &
  echo $! >/run/skiff-agent.pid
fi

for _ in $(seq 100); do
  ctr --address "$SOCK" -n skiff images ls -q 2>/dev/null | grep -q skiff-demo-busybox && break
  sleep 0.2
done
install -m 0644 deploy/examples/demo-pod.yaml "$MANIFESTS/demo-pod.yaml"

echo "== waiting for the demo pod"
for _ in $(seq 120); do
  skiff get pods demo 2>/dev/null | grep -q Running && break
  sleep 0.5
done
skiff get pods -o wide
echo
echo "The client container fetches the web container's page over 127.0.0.1:"
sleep 1
skiff logs demo -c client --tail 1
POD_IP=$(skiff get pods demo -o json | sed -n 's/.*"podIP": "\([0-9.]*\)".*/\1/p' | head -1)
echo
echo "And the node reaches the pod at its own IP: curl http://$POD_IP/"
curl -fsS --max-time 5 "http://$POD_IP/"
cat <<TXT

skiff is running on this node. Try:
  skiff get pods                     # pods from $MANIFESTS
  skiff logs -f demo -c client       # follow a container's log
  skiff describe pod demo
Drop more pod manifests into $MANIFESTS; remove a file to delete its pods.
TXT

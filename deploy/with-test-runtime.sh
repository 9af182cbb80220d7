#!/usr/bin/env bash
# Usage: deploy/with-test-runtime.sh CMD [ARGS...]   (as root)
#
# Runs CMD with a private containerd and a local registry, so the agent's real-system
# tests run instead of being skipped: exports SKIFF_TEST_CONTAINERD_SOCK,
# SKIFF_TEST_REGISTRY (127.0.0.1:PORT) and SKIFF_TEST_PRIVILEGED=1. Everything lives in
# one tempdir and is removed on exit (also on failure or interrupt): tasks, containerd,
# its shims, the registry, mounts. Exits with CMD's status (130/143 when interrupted;
# a SIGTERM to this script alone takes effect once CMD has exited, as CMD runs in the
# foreground to keep Ctrl-C working).
set -euo pipefail

if [ $# -eq 0 ]; then
  echo "usage: $0 CMD [ARGS...]" >&2
  exit 2
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "with-test-runtime: must run as root (containerd needs it)" >&2
  exit 1
fi
for tool in containerd ctr docker-registry curl ss; do
  command -v "$tool" >/dev/null || {
    echo "with-test-runtime: $tool not found; run deploy/install-deps.sh" >&2
    exit 1
  }
done

DIR=$(mktemp -d -t skiff-test-runtime.XXXXXX)
SOCK=$DIR/containerd.sock
CTRD_PID=
REG_PID=
CTRD_LOG=$DIR/containerd.log
REG_LOG=$DIR/registry.log

ctr_() { ctr --address "$SOCK" --connect-timeout 5s "$@"; }

# Running and not a zombie (inside a trap bash may not have reaped it yet).
alive() {
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ]
}

# SIGTERM, then SIGKILL after $2 seconds; only for our own children.
stop_pid() {
  local pid=$1 secs=$2 i
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < secs * 10; i++)); do
    alive "$pid" || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# Shims whose command line has exactly `-address $SOCK`: started by our containerd.
our_shims() {
  local p comm arg args
  for p in /proc/[0-9]*; do
    comm=$(cat "$p/comm" 2>/dev/null) || continue
    [[ $comm == containerd-shim* ]] || continue
    mapfile -d '' args <"$p/cmdline" 2>/dev/null || continue
    for arg in "${args[@]}"; do
      if [ "$arg" = "$SOCK" ]; then
        echo "${p#/proc/}"
        break
      fi
    done
  done
}

cleanup() {
  local status=$? ns id shim child mnt bundle addr
  set +e
  # A second Ctrl-C must not cut the cleanup short and leave mounts behind.
  trap '' INT TERM HUP
  if [ -n "$CTRD_PID" ] && alive "$CTRD_PID"; then
    # Tasks first, while containerd can still tear them down (and unmount rootfs) itself.
    for ns in $(ctr_ namespaces ls -q 2>/dev/null); do
      for id in $(ctr_ -n "$ns" tasks ls -q 2>/dev/null); do
        ctr_ -n "$ns" tasks kill -s KILL "$id" >/dev/null 2>&1
      done
      for id in $(ctr_ -n "$ns" containers ls -q 2>/dev/null); do
        ctr_ -n "$ns" tasks rm -f "$id" >/dev/null 2>&1
        ctr_ -n "$ns" containers rm "$id" >/dev/null 2>&1
      done
    done
  fi
  stop_pid "$CTRD_PID" 10
  stop_pid "$REG_PID" 3
  # Bundles still here mean containerd could not delete their tasks (it died). runc
  # keeps container state outside our dir (/run/containerd/runc/NS/ID, the shim
  # default), so delete it there, but only if it points into our dir.
  for bundle in "$DIR"/state/io.containerd.runtime.v2.task/*/*/; do
    [ -d "$bundle" ] || continue
    bundle=${bundle%/}
    id=${bundle##*/}
    ns=${bundle%/*}
    ns=${ns##*/}
    if grep -qF "\"$DIR/" "/run/containerd/runc/$ns/$id/state.json" 2>/dev/null; then
      runc --root "/run/containerd/runc/$ns" delete --force "$id" >/dev/null 2>&1
    fi
    # The shim's socket, left behind when the shim is killed below.
    addr=$(cat "$bundle/address" 2>/dev/null)
    addr=${addr#unix://}
    [ -n "$addr" ] && [ -S "$addr" ] && rm -f "$addr"
  done
  # Shims outlive containerd by design; ours (and the containers under them) go too.
  for shim in $(our_shims); do
    for child in $(pgrep -P "$shim"); do kill -KILL "$child" 2>/dev/null; done
    kill -KILL "$shim" 2>/dev/null
  done
  # Deepest first; lazy, so a busy mount cannot keep the tempdir alive.
  awk -v d="$DIR" '$5 == d || index($5, d "/") == 1 { print $5 }' /proc/self/mountinfo |
    sort -r | while read -r mnt; do umount -l "$mnt"; done
  rm -rf "$DIR"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# --- containerd: own root, state, sockets and plugin dir; no CRI (not needed, and it
# would fight a system containerd over /var/lib/cni and friends).
cat >"$DIR/config.toml" <<EOF
version = 2
root = "$DIR/root"
state = "$DIR/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]

[grpc]
  address = "$SOCK"

# The default ttrpc socket is the system containerd's; keep ours apart.
[ttrpc]
  address = "$SOCK.ttrpc"

[plugins."io.containerd.internal.v1.opt"]
  path = "$DIR/opt"
EOF
# setsid: a Ctrl-C reaches CMD, not containerd, which must still be up to clean up
# (Go programs catch SIGINT even though bash makes background jobs ignore it).
setsid containerd --config "$DIR/config.toml" </dev/null >"$CTRD_LOG" 2>&1 &
CTRD_PID=$!

for ((i = 0; ; i++)); do
  if ! alive "$CTRD_PID"; then
    echo "with-test-runtime: containerd exited; log:" >&2
    tail -n 30 "$CTRD_LOG" >&2
    exit 1
  fi
  [ -S "$SOCK" ] && ctr_ version >/dev/null 2>&1 && break
  if ((i >= 200)); then
    echo "with-test-runtime: containerd did not answer in 20s; log:" >&2
    tail -n 30 "$CTRD_LOG" >&2
    exit 1
  fi
  sleep 0.1
done

# --- registry on a free loopback port; another try if the port is taken meanwhile.
free_port() {
  local port used
  used=$(ss -Htan | awk '{ n = split($4, a, ":"); print a[n] }')
  while :; do
    port=$((20000 + RANDOM % 40000))
    grep -qx "$port" <<<"$used" || { echo "$port"; return; }
  done
}

for attempt in 1 2 3; do
  PORT=$(free_port)
  mkdir -p "$DIR/registry"
  cat >"$DIR/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $DIR/registry
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$PORT
EOF
  setsid docker-registry serve "$DIR/registry.yml" </dev/null >"$REG_LOG" 2>&1 &
  REG_PID=$!
  up=
  for ((i = 0; i < 150; i++)); do
    alive "$REG_PID" || break
    if curl -fsS -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/v2/" 2>/dev/null; then
      up=1
      break
    fi
    sleep 0.1
  done
  [ -n "$up" ] && break
  stop_pid "$REG_PID" 3
  REG_PID=
  if [ "$attempt" -eq 3 ]; then
    echo "with-test-runtime: registry did not come up; log:" >&2
    tail -n 20 "$REG_LOG" >&2
    exit 1
  fi
done

export SKIFF_TEST_CONTAINERD_SOCK=$SOCK
export SKIFF_TEST_REGISTRY=127.0.0.1:$PORT
export SKIFF_TEST_PRIVILEGED=1
echo "with-test-runtime: containerd at $SOCK, registry at $SKIFF_TEST_REGISTRY" >&2

set +e
"$@"
status=$?
set -e
exit "$status"

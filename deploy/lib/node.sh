# shellcheck shell=bash
# The set-up steps every skiff machine shares, sourced by deploy/quickstart.sh (the
# server) and deploy/join.sh (a node), so both install packages, start containerd and run
# daemons the same way.
#
# Settings, from the environment (the defaults are a real install; tests point them into
# a temporary directory):
#   SKIFF_PREFIX=/usr/local               binaries go to $SKIFF_PREFIX/bin
#   SKIFF_AGENT_ROOT=/var/lib/skiff-agent the agent's --root (images in $SKIFF_AGENT_ROOT/images)
#   SKIFF_ETC=/etc/skiff                  manifests/, the node token and the pinned CA
#   SKIFF_LOGS=/var/log/skiff             daemon logs when there is no systemd
#   SKIFF_RUN=/run                        pid files when there is no systemd
#   SKIFF_CONTAINERD_SOCK=/run/containerd/containerd.sock
#   SKIFF_SKIP_PACKAGES=1                 do not apt-get anything (CI installs packages itself)
#   SKIFF_NO_SYSTEMD=1                    run daemons in the background even under systemd

SKIFF_PREFIX=${SKIFF_PREFIX:-/usr/local}
SKIFF_AGENT_ROOT=${SKIFF_AGENT_ROOT:-/var/lib/skiff-agent}
SKIFF_ETC=${SKIFF_ETC:-/etc/skiff}
SKIFF_LOGS=${SKIFF_LOGS:-/var/log/skiff}
SKIFF_RUN=${SKIFF_RUN:-/run}
SKIFF_CONTAINERD_SOCK=${SKIFF_CONTAINERD_SOCK:-/run/containerd/containerd.sock}
SKIFF_DEPLOY=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# What a node needs at run time (no compiler: a Pi Zero cannot build skiff).
NODE_PACKAGES=(
  containerd runc          # container runtime (containerd >= 1.6)
  nftables iptables        # service proxy and egress masquerade
  conntrack                # proxy: forgets UDP flows of endpoints that left
  iproute2                 # ip netns / link, used by tests and diagnostics
  curl openssl ca-certificates # join.sh: CA pinning and the binaries download
)

skiff_say() { echo "== $*"; }
skiff_die() { echo "skiff: $*" >&2; exit 1; }

skiff_require_root() {
  [ "$(id -u)" -eq 0 ] || skiff_die "must run as root (try: sudo $0)"
}

# apt-get installs the packages not installed yet; nothing at all with SKIFF_SKIP_PACKAGES=1.
skiff_apt_install() {
  if [ "${SKIFF_SKIP_PACKAGES:-}" = 1 ]; then
    echo "skiff: SKIFF_SKIP_PACKAGES=1: not installing ${*}"
    return 0
  fi
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "skiff: all packages present"
    return 0
  fi
  echo "skiff: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
}

skiff_have_systemd() { [ "${SKIFF_NO_SYSTEMD:-}" != 1 ] && [ -d /run/systemd/system ]; }

# deploy/systemd/NAME.service with this install's paths in place of the defaults.
skiff_unit() {
  sed -e "s#/usr/local/bin/#$SKIFF_PREFIX/bin/#g" \
    -e "s#/var/lib/skiff-agent#$SKIFF_AGENT_ROOT#g" \
    -e "s#/etc/skiff/manifests#$SKIFF_ETC/manifests#g" \
    -e "s#/run/containerd/containerd.sock#$SKIFF_CONTAINERD_SOCK#g" \
    "$SKIFF_DEPLOY/systemd/$1.service"
}

# skiff_run_daemon NAME [ARGS...]: (re)starts NAME as its unit describes it, with ARGS in
# place of the unit's $SKIFF_*_ARGS: through systemd when there is one (ARGS go to
# /etc/default/NAME), else in the background with a pid file in $SKIFF_RUN (containers
# and CI runners often have no systemd). The unit's ExecStart is the one command line.
skiff_run_daemon() {
  local name=$1; shift
  local unit var exec_start word pidfile=$SKIFF_RUN/$name.pid
  unit=$(skiff_unit "$name")
  var=$(sed -n 's/^ExecStart=.*\$\(SKIFF_[A-Z_]*_ARGS\).*/\1/p' <<<"$unit")
  if skiff_have_systemd; then
    mkdir -p /etc/default
    [ -n "$var" ] && printf '%s="%s"\n' "$var" "$*" >"/etc/default/$name"
    printf '%s\n' "$unit" >"/etc/systemd/system/$name.service"
    systemctl daemon-reload
    systemctl enable "$name" >/dev/null
    systemctl restart "$name"
    return 0
  fi
  local cmd=()
  exec_start=$(sed -n 's/^ExecStart=//p' <<<"$unit")
  for word in $exec_start; do
    if [ -n "$var" ] && [ "$word" = "\$$var" ]; then cmd+=("$@"); else cmd+=("$word"); fi
  done
  skiff_stop_pidfile "$pidfile"
  mkdir -p "$SKIFF_LOGS" "$SKIFF_RUN"
  nohup "${cmd[@]}" </dev/null >>"$SKIFF_LOGS/$name.log" 2>&1 &
  echo $! >"$pidfile"
}

# Stops the process of a pid file (ours from an earlier run) and waits up to 10 s.
skiff_stop_pidfile() {
  local pid
  pid=$(cat "$1" 2>/dev/null) || return 0
  kill -0 "$pid" 2>/dev/null || return 0
  kill "$pid"
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || return 0; sleep 0.2; done
}

# Starts containerd unless it already answers on $SKIFF_CONTAINERD_SOCK.
skiff_start_containerd() {
  local ctr_=(ctr --address "$SKIFF_CONTAINERD_SOCK")
  "${ctr_[@]}" version >/dev/null 2>&1 && return 0
  if skiff_have_systemd; then
    systemctl enable --now containerd
  else
    mkdir -p "$SKIFF_LOGS" "$SKIFF_RUN"
    nohup containerd </dev/null >"$SKIFF_LOGS/containerd.log" 2>&1 &
    echo $! >"$SKIFF_RUN/skiff-containerd.pid"
  fi
  for _ in $(seq 50); do "${ctr_[@]}" version >/dev/null 2>&1 && break; sleep 0.2; done
  "${ctr_[@]}" version >/dev/null || skiff_die "containerd did not come up; see $SKIFF_LOGS/containerd.log"
}

# skiff_start_agent ARGS...: the agent, joined as ARGS say (--server, --token-file, ...).
skiff_start_agent() {
  mkdir -p "$SKIFF_AGENT_ROOT/images" "$SKIFF_ETC/manifests"
  skiff_run_daemon skiff-agent "$@"
}

# skiff_keep_binaries DIR DATA ARCH: copies the three binaries from DIR (a cargo target
# profile folder) to DATA/bin/ARCH, from where the control plane serves them to nodes.
skiff_keep_binaries() {
  local from=$1 to=$2/bin/$3 name
  mkdir -p "$to"
  for name in skiff-agent skiff skiff-control-plane; do
    skiff_install_file "$from/$name" "$to/$name"
  done
}

# Installs FILE as DEST (0755) by a rename, so a running binary is never overwritten.
skiff_install_file() {
  mkdir -p "$(dirname "$2")"
  install -m 0755 "$1" "$2.new"
  mv -f "$2.new" "$2"
}

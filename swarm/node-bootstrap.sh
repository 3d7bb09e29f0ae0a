#!/usr/bin/env bash
# Turns a machine with Docker into a Swarm node, unattended and idempotently.
# Used by cloud-cfg.txt on real VMs AND by `stacklab cluster up` on one machine
# (there each "VM" is a network namespace with its own dockerd; DOCKER_HOST
# points at it), so the same code path is what the tests exercise.
#
#   node-bootstrap.sh install-docker      (apt installs what is missing; OFFLINE=yes: only checks)
#   node-bootstrap.sh docker-config NODE_IP INSECURE_REGISTRIES [API_FROM]
#        /etc/docker/daemon.json; API_FROM set: dockerd also on tcp://NODE_IP:2375
#   node-bootstrap.sh firewall CLUSTER_SUBNET [API_FROM]
#   node-bootstrap.sh init --advertise-addr IP [--default-addr-pool CIDR] [--token-file FILE]
#                          [--dispatcher-heartbeat DURATION]
#   node-bootstrap.sh join --manager IP --advertise-addr IP
#        token: $SWARM_JOIN_TOKEN, else fetched over SSH from the manager with
#        $SWARM_JOIN_SSH_KEY (a key whose authorized_keys entry on the manager is
#        forced to `command="docker swarm join-token -q worker"`: it can print
#        the worker token and nothing else).
#   node-bootstrap.sh label NODE KEY=VALUE...        (on a manager)
#   node-bootstrap.sh label-wait TIMEOUT NODE=KEY=VALUE[,KEY=VALUE]...
#        (on the manager: labels each node as soon as it has joined)
#   node-bootstrap.sh from-env FILE      (what cloud-cfg.txt runs: all of the above,
#        driven by ROLE, NODE_IP, MANAGER_IP, CLUSTER_SUBNET, ADDR_POOL, NODE_LABELS,
#        OFFLINE, INSECURE_REGISTRIES, DOCKER_API_FROM, DISPATCHER_HEARTBEAT)
set -euo pipefail

SWARM_TCP_PORTS=(2377 7946)   # cluster management, node gossip
SWARM_UDP_PORTS=(7946 4789)   # node gossip, VXLAN overlay data
SWARM_ESP=50                  # IP protocol of encrypted overlays (IPsec ESP)
DOCKER_API_PORT=2375
say() { echo "node-bootstrap: $*" >&2; }
die() { say "error: $*"; exit 2; }

swarm_state() { docker info --format '{{.Swarm.LocalNodeState}}' 2>/dev/null || echo unreachable; }

# command:package pairs a node needs; OFFLINE=yes (an image that has it all)
# turns a missing one into an error instead of an apt-get that cannot work.
NEEDED=(dockerd:docker.io iptables:iptables ssh:openssh-client sshd:openssh-server)
install_docker() {
  local missing=() pair
  for pair in "${NEEDED[@]}"; do
    command -v "${pair%%:*}" >/dev/null || [ -x "/usr/sbin/${pair%%:*}" ] || missing+=("${pair#*:}")
  done
  if [ ${#missing[@]} -eq 0 ]; then say "docker, iptables, ssh already installed"; return; fi
  [ "${OFFLINE:-no}" != yes ] || die "OFFLINE=yes but ${missing[*]} not installed: use an image that has them or set OFFLINE=no"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
  say "installed ${missing[*]}"
}

# dockerd's settings, written only when they change (a restart drops the
# node's containers): pulls over HTTP from the cluster's own registry, and on
# request the API on the node's private address (Debian's unit reads
# DOCKER_OPTS from /etc/default/docker; "hosts" in daemon.json would clash
# with its -H fd://).
docker_config() {
  local ip=${1:?usage: docker-config NODE_IP INSECURE_REGISTRIES [API_FROM]} registries=${2:-} api_from=${3:-}
  local json opts="" changed=no list=""
  local reg
  for reg in ${registries//,/ }; do list+="${list:+, }\"$reg\""; done
  json=$(printf '{\n  "insecure-registries": [%s],\n  "log-opts": {"max-size": "10m", "max-file": "2"}\n}\n' "$list")
  [ -z "$api_from" ] || opts="DOCKER_OPTS=\"-H tcp://$ip:$DOCKER_API_PORT\""
  mkdir -p /etc/docker
  if [ "$(cat /etc/docker/daemon.json 2>/dev/null)" != "$json" ]; then
    printf '%s\n' "$json" > /etc/docker/daemon.json; changed=yes
  fi
  if [ -n "$opts" ] && ! grep -qxF "$opts" /etc/default/docker 2>/dev/null; then
    echo "$opts" >> /etc/default/docker; changed=yes
  fi
  # no `systemctl enable`: Debian's docker.io is enabled on install, and enable
  # runs update-rc.d for its SysV script (minutes of Perl on an emulated VM)
  if [ $changed = yes ]; then systemctl restart docker; else systemctl start docker; fi
  local try
  for try in $(seq 1 150); do docker info >/dev/null 2>&1 && break; sleep 2; done
  docker info >/dev/null 2>&1 || die "dockerd did not start: journalctl -u docker"
  say "dockerd: insecure registries [$registries]${api_from:+, API on tcp://$ip:$DOCKER_API_PORT for $api_from}"
}

# Swarm ports: accepted from the cluster subnet only, dropped from anywhere
# else. Everything else on the node is left as the image's policy had it.
firewall() {
  local subnet=${1:?usage: firewall CLUSTER_SUBNET [API_FROM]} api_from=${2:-}
  iptables -N STACKLAB-SWARM 2>/dev/null || iptables -F STACKLAB-SWARM
  if [ -n "$api_from" ]; then
    iptables -A STACKLAB-SWARM -p tcp --dport "$DOCKER_API_PORT" -s "$api_from" -j ACCEPT
    iptables -A STACKLAB-SWARM -p tcp --dport "$DOCKER_API_PORT" -j DROP
  fi
  local port
  for port in "${SWARM_TCP_PORTS[@]}"; do
    iptables -A STACKLAB-SWARM -p tcp --dport "$port" -s "$subnet" -j ACCEPT
    iptables -A STACKLAB-SWARM -p tcp --dport "$port" -j DROP
  done
  for port in "${SWARM_UDP_PORTS[@]}"; do
    iptables -A STACKLAB-SWARM -p udp --dport "$port" -s "$subnet" -j ACCEPT
    iptables -A STACKLAB-SWARM -p udp --dport "$port" -j DROP
  done
  # encrypted overlays: ESP from cluster nodes only
  iptables -A STACKLAB-SWARM -p "$SWARM_ESP" -s "$subnet" -j ACCEPT
  iptables -A STACKLAB-SWARM -p "$SWARM_ESP" -j DROP
  iptables -C INPUT -j STACKLAB-SWARM 2>/dev/null || iptables -I INPUT -j STACKLAB-SWARM
  say "firewall: swarm ports open to $subnet only${api_from:+, docker API to $api_from only}"
}

init() {
  local addr="" pool="" token_file="" heartbeat=""
  while [ $# -gt 0 ]; do
    case $1 in
      --advertise-addr) addr=$2; shift 2 ;;
      --dispatcher-heartbeat) heartbeat=$2; shift 2 ;;
      --default-addr-pool) pool=$2; shift 2 ;;
      --token-file) token_file=$2; shift 2 ;;
      *) die "init: unknown option $1" ;;
    esac
  done
  [ -n "$addr" ] || die "init: --advertise-addr IP is required"
  if [ "$(swarm_state)" = active ]; then
    say "already in a swarm"
  else
    local extra=()
    [ -z "$pool" ] || extra=(--default-addr-pool "$pool" --default-addr-pool-mask-length 24)
    [ -z "$heartbeat" ] || extra+=(--dispatcher-heartbeat "$heartbeat")
    docker swarm init --advertise-addr "$addr" --listen-addr "$addr:2377" "${extra[@]}" >/dev/null
    say "swarm initialised, manager at $addr"
  fi
  if [ -n "$token_file" ]; then
    # root-only file: the worker token lets any holder join the cluster.
    (umask 077 && docker swarm join-token -q worker > "$token_file")
  fi
}

join() {
  local manager="" addr=""
  while [ $# -gt 0 ]; do
    case $1 in
      --manager) manager=$2; shift 2 ;;
      --advertise-addr) addr=$2; shift 2 ;;
      *) die "join: unknown option $1" ;;
    esac
  done
  [ -n "$manager" ] && [ -n "$addr" ] || die "join: --manager IP and --advertise-addr IP are required"
  if [ "$(swarm_state)" = active ]; then say "already in a swarm"; return; fi
  local token=${SWARM_JOIN_TOKEN:-}
  if [ -z "$token" ]; then
    [ -n "${SWARM_JOIN_SSH_KEY:-}" ] || die "join: set SWARM_JOIN_TOKEN or SWARM_JOIN_SSH_KEY"
    local try
    for try in $(seq 1 60); do   # the manager may still be booting
      token=$(ssh -i "$SWARM_JOIN_SSH_KEY" -o BatchMode=yes -o StrictHostKeyChecking=accept-new \
              -o ConnectTimeout=5 "${SWARM_JOIN_SSH_USER:-root}@$manager" 2>/dev/null) && [ -n "$token" ] && break
      sleep 5
    done
    [ -n "$token" ] || die "join: could not fetch the join token from $manager over SSH"
  fi
  docker swarm join --token "$token" --advertise-addr "$addr" --listen-addr "$addr:2377" "$manager:2377" >/dev/null
  say "joined the swarm of $manager as $addr"
}

label() {
  local node=${1:?usage: label NODE KEY=VALUE...}; shift
  local args=() kv
  for kv in "$@"; do args+=(--label-add "$kv"); done
  docker node update "${args[@]}" "$node" >/dev/null
  say "labelled $node: $*"
}

label_wait() {
  local timeout=${1:?usage: label-wait TIMEOUT NODE=K=V[,K=V]...}; shift
  local deadline=$(( $(date +%s) + timeout )) spec node pending=("$@")
  while [ ${#pending[@]} -gt 0 ]; do
    local left=()
    for spec in "${pending[@]}"; do
      node=${spec%%=*}
      if docker node inspect "$node" >/dev/null 2>&1; then
        IFS=, read -ra kvs <<< "${spec#*=}"
        label "$node" "${kvs[@]}"
      else
        left+=("$spec")
      fi
    done
    pending=("${left[@]+"${left[@]}"}")
    [ ${#pending[@]} -eq 0 ] && break
    [ "$(date +%s)" -lt "$deadline" ] || die "label-wait: never joined: ${pending[*]}"
    sleep 5
  done
}

from_env() {
  local file=${1:?usage: from-env FILE}
  # shellcheck disable=SC1090
  . "$file"
  install_docker
  docker_config "${NODE_IP:?NODE_IP missing in $file}" "${INSECURE_REGISTRIES:-}" "${DOCKER_API_FROM:-}"
  firewall "${CLUSTER_SUBNET:?CLUSTER_SUBNET missing in $file}" "${DOCKER_API_FROM:-}"
  case ${ROLE:?ROLE missing in $file} in
    manager)
      init --advertise-addr "$NODE_IP" --default-addr-pool "${ADDR_POOL:-10.213.0.0/16}" \
        --dispatcher-heartbeat "${DISPATCHER_HEARTBEAT:-5s}"
      # Label the workers as they join, in the background: cloud-init must not
      # wait an hour for VMs that are created later.
      # shellcheck disable=SC2086
      [ -z "${NODE_LABELS:-}" ] || setsid bash "$0" label-wait "${LABEL_TIMEOUT:-3600}" $NODE_LABELS \
        >>/var/log/stacklab-label.log 2>&1 < /dev/null & ;;
    worker)
      SWARM_JOIN_SSH_KEY=${SWARM_JOIN_SSH_KEY:-/root/.ssh/swarm_join} \
        join --manager "${MANAGER_IP:?}" --advertise-addr "${NODE_IP:?}" ;;
    *) die "ROLE must be manager or worker, not $ROLE" ;;
  esac
}

cmd=${1:-}; shift || true
case $cmd in
  install-docker) install_docker ;;
  docker-config) docker_config "$@" ;;
  firewall) firewall "$@" ;;
  init) init "$@" ;;
  join) join "$@" ;;
  label) label "$@" ;;
  label-wait) label_wait "$@" ;;
  from-env) from_env "$@" ;;
  *) sed -n '2,27p' "$0" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# Several network hosts on one machine, for the multi-host topology (docs/deployment.md):
# one network namespace per role, each with one address on a private bridge that exists
# only on this machine. Nothing routes off the bridge: the namespaces get no default route,
# so every packet stays between them and the host's own end of the bridge.
#
#   ./deploy/hosts.sh up       create the bridge and every host (idempotent)
#   ./deploy/hosts.sh down     kill every process inside the hosts, remove hosts and bridge
#   ./deploy/hosts.sh status   list hosts, their addresses and process counts
#   ./deploy/hosts.sh addr ROLE    print a role's address
#   ./deploy/hosts.sh exec ROLE CMD...  run a command inside a role's host
#   ./deploy/hosts.sh cut ROLE | heal ROLE   take a role's link down / up again
#
# Env: REELFLOW_HOSTS_PREFIX (default "rf", at most 4 characters: interface names are
# limited to 15) names everything this script makes, so a test can build its own set
# beside a person's; REELFLOW_HOSTS_SUBNET (default 10.213.47) is the /24 on the bridge.
set -euo pipefail

PREFIX="${REELFLOW_HOSTS_PREFIX:-rf}"
SUBNET="${REELFLOW_HOSTS_SUBNET:-10.213.47}"
BRIDGE="${PREFIX}br0"
# role -> last octet; the bridge (this machine's side) is .1
ROLES=(temporal postgres s3 redis api-1 api-2 edge control media-1 media-2)
declare -A OCTET=(
  [temporal]=10 [postgres]=11 [s3]=12 [redis]=13
  [api-1]=21 [api-2]=22 [edge]=30
  [control]=40 [media-1]=41 [media-2]=42
)

die() { printf 'hosts.sh: %s\n' "$*" >&2; exit 1; }
[ "${#PREFIX}" -le 4 ] || die "REELFLOW_HOSTS_PREFIX must be at most 4 characters"
[[ "$SUBNET" =~ ^10\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || die "REELFLOW_HOSTS_SUBNET must look like 10.X.Y"
[ "$(id -u)" -eq 0 ] || die "needs root (network namespaces)"

ns() { echo "${PREFIX}-$1"; }
veth_host() { echo "${PREFIX}h${OCTET[$1]}"; }   # this machine's end, on the bridge
addr() { [ -n "${OCTET[$1]:-}" ] || die "unknown role $1 (have: ${ROLES[*]})"; echo "$SUBNET.${OCTET[$1]}"; }

up() {
  if ! ip link show "$BRIDGE" >/dev/null 2>&1; then
    ip link add "$BRIDGE" type bridge
    ip addr add "$SUBNET.1/24" dev "$BRIDGE"
  fi
  ip link set "$BRIDGE" up
  local role name vh
  for role in "${ROLES[@]}"; do
    name="$(ns "$role")"; vh="$(veth_host "$role")"
    ip netns list | grep -qx "$name\( (id: [0-9]*)\)\?" || ip netns add "$name"
    if ! ip link show "$vh" >/dev/null 2>&1; then
      ip link add "$vh" type veth peer name eth0 netns "$name"
      ip link set "$vh" master "$BRIDGE"
    fi
    ip link set "$vh" up
    ip -n "$name" link set lo up
    ip -n "$name" addr replace "$(addr "$role")/24" dev eth0
    ip -n "$name" link set eth0 up
  done
}

down() {
  local role name pid i
  for role in "${ROLES[@]}"; do
    name="$(ns "$role")"
    ip netns list | grep -q "^$name\b" || continue
    # A namespace outlives its deletion while a process holds it: end them first.
    for pid in $(ip netns pids "$name" 2>/dev/null); do kill -TERM "$pid" 2>/dev/null || true; done
    for i in $(seq 1 25); do [ -z "$(ip netns pids "$name" 2>/dev/null)" ] && break; sleep 0.2; done
    for pid in $(ip netns pids "$name" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
    ip netns delete "$name" 2>/dev/null || true
    ip link delete "$(veth_host "$role")" 2>/dev/null || true
  done
  ip link delete "$BRIDGE" 2>/dev/null || true
}

status() {
  local role name n
  ip link show "$BRIDGE" >/dev/null 2>&1 && echo "bridge $BRIDGE $SUBNET.1/24" || echo "bridge $BRIDGE absent"
  for role in "${ROLES[@]}"; do
    name="$(ns "$role")"
    if ip netns list | grep -q "^$name\b"; then
      n="$(ip netns pids "$name" 2>/dev/null | wc -l)"
      printf '%-9s %-14s %s processes\n' "$role" "$(addr "$role")" "$n"
    else
      printf '%-9s absent\n' "$role"
    fi
  done
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  addr) addr "${2:?role}" ;;
  exec) role="${2:?role}"; shift 2; addr "$role" >/dev/null; exec ip netns exec "$(ns "$role")" "$@" ;;
  cut) ip link set "$(veth_host "${2:?role}")" down ;;
  heal) ip link set "$(veth_host "${2:?role}")" up ;;
  *) echo "usage: $0 up | down | status | addr ROLE | exec ROLE CMD... | cut ROLE | heal ROLE" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# The multi-host topology for a person (docs/deployment.md, "Run the topology yourself"):
# deploy/hosts.sh namespaces with the whole stack inside, production settings, the same
# harness the tests use (tests/topology/harness.py).
#
#   sudo ./deploy/topology.sh up       start it (waits until every host answers)
#   sudo ./deploy/topology.sh status   addresses and process counts
#   sudo ./deploy/topology.sh down     stop every process, remove the hosts and the bridge
#
# Env: REELFLOW_HOSTS_PREFIX (default "rf"), REELFLOW_HOSTS_SUBNET (default 10.213.47).
# State: .reelflow/topology/ (pid, log, state.json: addresses, settings, the test IdP key).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" -eq 0 ] || { echo "topology.sh: needs root (network namespaces)" >&2; exit 1; }
PREFIX="${REELFLOW_HOSTS_PREFIX:-rf}"
SUBNET="${REELFLOW_HOSTS_SUBNET:-10.213.47}"
STATE_DIR=.reelflow/topology
PID="$STATE_DIR/serve.pid"
mkdir -p "$STATE_DIR"

up() {
  if [ -f "$PID" ] && kill -0 "$(cat "$PID")" 2>/dev/null; then
    echo "already up (pid $(cat "$PID")); see $STATE_DIR/state.json"; return
  fi
  rm -f "$STATE_DIR/state.json"
  PYTHONPATH="$PWD" setsid .venv/bin/python -m tests.topology.harness \
    "$STATE_DIR/state.json" "$PREFIX" "$SUBNET" >"$STATE_DIR/serve.log" 2>&1 &
  echo $! >"$PID"
  for _ in $(seq 1 240); do
    if grep -q '^ready$' "$STATE_DIR/serve.log"; then
      .venv/bin/python - "$STATE_DIR/state.json" <<'PY'
import json, sys
s = json.load(open(sys.argv[1]))
for role, addr in s["hosts"].items():
    print(f"{role:9} {addr}")
print("api    ", " ".join(s["api"]), "\nedge   ", s["edge"], "\nlogs   ", s["logs"])
PY
      return
    fi
    kill -0 "$(cat "$PID")" 2>/dev/null || { tail -30 "$STATE_DIR/serve.log" >&2; exit 1; }
    sleep 0.5
  done
  echo "topology.sh: not ready after 120 s; see $STATE_DIR/serve.log" >&2; exit 1
}

down() {
  if [ -f "$PID" ]; then
    pid="$(cat "$PID")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    rm -f "$PID"
  fi
  # Whatever the harness could not remove (it was killed, say): the hosts script cleans up.
  REELFLOW_HOSTS_PREFIX="$PREFIX" REELFLOW_HOSTS_SUBNET="$SUBNET" ./deploy/hosts.sh down
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) REELFLOW_HOSTS_PREFIX="$PREFIX" REELFLOW_HOSTS_SUBNET="$SUBNET" ./deploy/hosts.sh status ;;
  *) echo "usage: $0 up | status | down" >&2; exit 2 ;;
esac

#!/usr/bin/env bash
# reelflow's single entry point for a one-machine stack.
#   demo    install what is missing, start the stack, run a sample title through it
#   test    install test dependencies, run ruff, mypy, the import contracts, the unused-code check
#           and the whole pytest suite
#   up | down | status | logs [NAME] [-f]   manage the embedded stack
#   install [test]                          only install
# Idempotent: every step checks before it acts, so a second run is fast.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
export REELFLOW_HOME="${REELFLOW_HOME:-$ROOT/.reelflow}"
STATE="$REELFLOW_HOME"
RUN="$STATE/run"
LOGS="$STATE/logs"
VENV="$ROOT/.venv"
PY="$VENV/bin/python"
TEMPORAL_ADDRESS="${REELFLOW_TEMPORAL_ADDRESS:-127.0.0.1:7233}"
TEMPORAL_PORT="${TEMPORAL_ADDRESS##*:}"
TEMPORAL_UI_PORT="${REELFLOW_TEMPORAL_UI_PORT:-8233}"
REDIS_URL="${REELFLOW_REDIS_URL:-redis://127.0.0.1:6379/0}"
REDIS_PORT="$(sed -E 's#^redis://[^:/]+:([0-9]+).*#\1#' <<<"$REDIS_URL")"
API_PORT="${REELFLOW_API_PORT:-8000}"
# The events writer's /metrics (the QoE histograms the Grafana dashboard reads).
EVENTS_METRICS_PORT="${REELFLOW_EVENTS_METRICS_PORT:-9465}"
export REELFLOW_TEMPORAL_ADDRESS="$TEMPORAL_ADDRESS" REELFLOW_REDIS_URL="$REDIS_URL" REELFLOW_API_PORT="$API_PORT"

SERVICES=(temporal redis worker rq events api)

# One source of truth for what a reelflow host needs (also the Docker image's install step).
# shellcheck source=deploy/install.sh
source "$ROOT/deploy/install.sh"

# ---------------------------------------------------------------- services
pidfile() { echo "$RUN/$1.pid"; }
alive() { local f; f="$(pidfile "$1")"; [ -f "$f" ] && kill -0 "$(cat "$f")" 2>/dev/null; }

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

wait_port() {
  local port="$1" name="$2" i
  for i in $(seq 1 150); do
    port_busy "$port" && return 0
    alive "$name" || { tail -n 20 "$LOGS/$name.log" >&2; die "$name exited during start-up (log: $LOGS/$name.log)"; }
    sleep 0.2
  done
  die "$name did not listen on port $port within 30 s (log: $LOGS/$name.log)"
}

start() {  # start NAME PORT CMD...
  local name="$1" port="$2"; shift 2
  if alive "$name"; then return 0; fi
  if [ "$port" != "-" ] && port_busy "$port"; then
    die "port $port is already in use by a process this script did not start; stop it or move $name"
  fi
  # setsid: its own process group, so `down` stops the service and any children it spawned.
  setsid nohup "$@" >>"$LOGS/$name.log" 2>&1 </dev/null &
  echo $! >"$(pidfile "$name")"
  [ "$port" = "-" ] || wait_port "$port" "$name"
  say "started $name (pid $(cat "$(pidfile "$name")"))"
}

stop() {
  local name="$1" f pid i
  f="$(pidfile "$name")"
  [ -f "$f" ] || return 0
  pid="$(cat "$f")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    say "stopped $name"
  fi
  rm -f "$f"
}

cmd_up() {
  install_runtime
  mkdir -p "$RUN" "$LOGS" "$STATE/redis"
  start temporal "$TEMPORAL_PORT" "$VENV/bin/temporal" server start-dev --ip 127.0.0.1 \
    --port "$TEMPORAL_PORT" --db-filename "$STATE/temporal.db" --ui-port "$TEMPORAL_UI_PORT" \
    --ui-disable-news-fetch --log-level warn
  start redis "$REDIS_PORT" redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --save '' \
    --appendonly no --dir "$STATE/redis"
  "$VENV/bin/reelflow" db upgrade
  start worker - "$VENV/bin/reelflow" worker --queue control --queue media --queue live
  start rq - "$VENV/bin/reelflow" worker --queue rq
  # Viewer events: the stream's consumer group into Parquet on the object store; its
  # Prometheus metrics (QoE from the events it writes) on 127.0.0.1:$EVENTS_METRICS_PORT.
  start events "$EVENTS_METRICS_PORT" env REELFLOW_EVENTS_METRICS_BIND="127.0.0.1:$EVENTS_METRICS_PORT" \
    "$VENV/bin/reelflow" events writer
  start api "$API_PORT" "$VENV/bin/reelflow" api
  say "stack up: API http://127.0.0.1:$API_PORT  Temporal UI http://127.0.0.1:$TEMPORAL_UI_PORT"
}

cmd_down() {
  local i
  for ((i=${#SERVICES[@]}-1; i>=0; i--)); do stop "${SERVICES[$i]}"; done
}

cmd_status() {
  local s
  for s in "${SERVICES[@]}"; do
    if alive "$s"; then printf '%-9s running  pid %s\n' "$s" "$(cat "$(pidfile "$s")")";
    else printf '%-9s stopped\n' "$s"; fi
  done
  printf 'state    %s\nAPI      http://127.0.0.1:%s\nTemporal http://127.0.0.1:%s (UI)\n' \
    "$STATE" "$API_PORT" "$TEMPORAL_UI_PORT"
}

cmd_logs() {
  local name="${1:-}" follow="${2:-}"
  if [ -z "$name" ]; then tail -n 30 "$LOGS"/*.log; return; fi
  [ -f "$LOGS/$name.log" ] || die "no log for $name (have: $(ls "$LOGS" 2>/dev/null | tr '\n' ' '))"
  if [ "$follow" = "-f" ]; then tail -f "$LOGS/$name.log"; else tail -n 100 "$LOGS/$name.log"; fi
}

cmd_demo() {
  cmd_up
  "$VENV/bin/reelflow" demo
}

cmd_test() {
  install_test
  local rc=0
  say "ruff"
  "$VENV/bin/ruff" check reelflow tests bench || rc=1
  "$VENV/bin/ruff" format --check reelflow tests bench >/dev/null || { warn "ruff format: files need formatting"; "$VENV/bin/ruff" format --check reelflow tests bench | head -20; rc=1; }
  say "mypy"
  "$VENV/bin/mypy" || rc=1
  say "import contracts (import-linter, pyproject.toml)"
  "$VENV/bin/lint-imports" --no-cache || rc=1
  say "unused code (vulture)"
  "$VENV/bin/python" deploy/unused_code.py || rc=1
  say "pytest"
  local prc=0
  "$VENV/bin/python" -m pytest "$@" || prc=$?
  if [ "$prc" -eq 5 ]; then warn "pytest collected no tests"; fi
  [ "$prc" -eq 0 ] || rc=1
  return "$rc"
}

case "${1:-}" in
  demo) shift; cmd_demo "$@" ;;
  test) shift; cmd_test "$@" ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  logs) shift; cmd_logs "$@" ;;
  install) if [ "${2:-}" = test ]; then install_test; else install_runtime; fi ;;
  *) echo "usage: $0 demo | test [pytest args] | up | down | status | logs [NAME] [-f] | install [test]" >&2; exit 2 ;;
esac

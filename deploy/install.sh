#!/usr/bin/env bash
# What a reelflow host needs, in one place: Debian packages, the venv from the committed
# lock (requirements/runtime.lock or test.lock) and the npm packages (Shaka Packager and
# Player). Sourced by deploy/dev.sh; run directly by the Docker image (deploy/compose/):
#   deploy/install.sh runtime | test
# Idempotent: every step checks before it acts.
# Callers that source it set ROOT, VENV, PY and STATE first; run directly it sets them.
set -euo pipefail

if [ -z "${ROOT:-}" ]; then
  ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  VENV="$ROOT/.venv"
  PY="$VENV/bin/python"
  STATE="${REELFLOW_HOME:-$ROOT/.reelflow}"
fi

APT_RUNTIME=(ffmpeg redis-server nginx)
APT_TEST=(postgresql chromium wrk)

say() { printf '\033[1;34m==>\033[0m %s\n' "$*"; }
warn() { printf '\033[1;33m!!\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mxx\033[0m %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@";
  else die "need root (or sudo) to run: $*"; fi
}

# ---------------------------------------------------------------- install
apt_missing() {
  local p missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  echo "${missing[@]:-}"
}

ensure_apt() {
  local missing
  missing="$(apt_missing "$@")"
  [ -z "$missing" ] && return 0
  say "apt: installing $missing"
  # shellcheck disable=SC2086
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing \
    >/dev/null 2>"$ROOT/.apt-err.log" || {
      as_root apt-get update -q >/dev/null
      # shellcheck disable=SC2086
      as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $missing >/dev/null
    }
  rm -f "$ROOT/.apt-err.log"
}

hash_of() { cat "$@" 2>/dev/null | sha256sum | cut -c1-16; }

ensure_venv() {
  local extra="$1" stamp want
  command -v python3 >/dev/null || ensure_apt python3
  if [ ! -x "$PY" ]; then
    say "python: creating .venv"
    python3 -m venv "$VENV" 2>/dev/null || { ensure_apt python3-venv; rm -rf "$VENV"; python3 -m venv "$VENV"; }
  fi
  # Exact versions and hashes from the committed lock (refresh: ./deploy/lock.sh), then
  # reelflow itself, neither resolving anything again: the lock is complete, and it overrides
  # the numpy and pandas caps gbstats declares (pyproject.toml [tool.uv] says why).
  local lock="requirements/${extra:-runtime}.lock"
  [ -f "$lock" ] || die "missing $lock: run ./deploy/lock.sh"
  want="$(hash_of pyproject.toml "$lock")-$extra"
  stamp="$VENV/.reelflow-installed"
  if [ -f "$stamp" ] && grep -qx -- "$want" "$stamp"; then return 0; fi
  say "python: installing reelflow${extra:+[$extra]} into .venv from $lock"
  "$PY" -m pip install -q --disable-pip-version-check --upgrade pip >/dev/null
  mkdir -p "$STATE"
  { "$PY" -m pip install -q --disable-pip-version-check --require-hashes --no-deps -r "$lock" &&
    "$PY" -m pip install -q --disable-pip-version-check --no-deps -e .; } >"$STATE/pip.log" 2>&1 ||
    { tail -n 30 "$STATE/pip.log" >&2; die "pip install failed (log: $STATE/pip.log)"; }
  echo "$want" >>"$stamp"
}

ensure_node() {
  command -v npm >/dev/null || ensure_apt nodejs npm
  local want stamp="node_modules/.reelflow-installed"
  want="$(hash_of package.json package-lock.json)"
  if [ -f "$stamp" ] && grep -qx -- "$want" "$stamp"; then return 0; fi
  say "npm: installing shaka-packager and shaka-player"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
  echo "$want" >"$stamp"
}

install_runtime() { ensure_apt "${APT_RUNTIME[@]}"; ensure_venv ""; ensure_node; }
install_test() { ensure_apt "${APT_RUNTIME[@]}" "${APT_TEST[@]}"; ensure_venv test; ensure_node; }

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
  cd "$ROOT"
  case "${1:-runtime}" in
    runtime) install_runtime ;;
    test) install_test ;;
    *) echo "usage: $0 [runtime | test]" >&2; exit 2 ;;
  esac
fi

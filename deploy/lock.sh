#!/usr/bin/env bash
# Refresh the pinned, hashed Python dependency locks that ./deploy/dev.sh installs from:
#   requirements/runtime.lock  (what `demo` and the services need)
#   requirements/test.lock     (runtime + the test extra)
# Run after changing dependencies in pyproject.toml, and commit both files.
# --universal: one lock for every platform and Python >= 3.11 marker, with the hashes of
# every published file of each pinned version.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="$ROOT/.venv/bin/python"
[ -x "$PY" ] || python3 -m venv "$ROOT/.venv"
"$PY" -m uv --version >/dev/null 2>&1 || "$PY" -m pip install -q uv
mkdir -p requirements
for lock in runtime test; do
  extra=()
  [ "$lock" = test ] && extra=(--extra test)
  "$PY" -m uv pip compile pyproject.toml "${extra[@]}" --generate-hashes --universal \
    --python-version 3.11 --quiet --custom-compile-command "./deploy/lock.sh" \
    -o "requirements/$lock.lock"
done
echo "locks written: requirements/runtime.lock requirements/test.lock"

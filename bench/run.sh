#!/usr/bin/env bash
# One command for the benchmark: builds labctl, prepares the Python venvs (the aws CLI
# in its own, bench/.venv, since it pins its own botocore), and runs bench/run.py.
# Usage: bench/run.sh [ROUNDS]          (default 5)
#        bench/run.sh class [STUDENTS]  (class mode; default 200)
set -euo pipefail
source "$(dirname "$0")/../scripts/lib.sh"
cd "$ROOT"
ensure_venv
cargo build --quiet
if [ ! -x bench/.venv/bin/aws ]; then
  python3 -m venv bench/.venv
  bench/.venv/bin/pip install --quiet --disable-pip-version-check awscli==1.46.3
fi
if [ "${1:-}" = class ]; then
  exec "$VENV/bin/python" bench/class.py "${2:-200}"
fi
exec "$VENV/bin/python" bench/run.py "${1:-5}"

#!/usr/bin/env bash
# Every test: formatting and lints (Rust and Python), the Rust unit and integration
# tests against a moto server this script starts and stops, and the Lambda tests.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

ensure_venv
echo "==> cargo fmt --check"; cargo fmt --check
echo "==> cargo clippy --all-targets -- -D warnings"; cargo clippy --quiet --all-targets -- -D warnings
echo "==> ruff"; "$VENV/bin/ruff" check lambdas tests bench src/verify/local; "$VENV/bin/ruff" format --check lambdas tests bench src/verify/local

state=$(mktemp -d)
port=$(free_port)
trap 'stop_moto "$state/moto.pid"; rm -rf "$state"' EXIT
start_moto "$port" "$state/moto.pid" "$state/moto.log"
export LABCTL_TEST_ENDPOINT="http://127.0.0.1:$port"

echo "==> cargo test (moto on 127.0.0.1:$port)"; cargo test
echo "==> pytest lambdas"; "$VENV/bin/pytest" -q lambdas

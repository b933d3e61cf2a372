#!/usr/bin/env bash
# The fault tests at full strength: 20 seeds of throttling/5xx and of lost answers,
# 20 kill points across a cold apply. Prints a summary line per scenario.
# Usage: scripts/soak.sh [SEEDS] [KILL_POINTS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
ensure_venv
export LABCTL_FAULT_SEEDS=${1:-20} LABCTL_CRASH_POINTS=${2:-20}
state=$(mktemp -d); port=$(free_port)
trap 'stop_moto "$state/moto.pid"; rm -rf "$state"' EXIT
start_moto "$port" "$state/moto.pid" "$state/moto.log"
export LABCTL_TEST_ENDPOINT="http://127.0.0.1:$port"
start=$(date +%s)
cargo test --quiet --test it faults -- --test-threads 2 --nocapture 2>&1 | grep -oE 'SOAK.*|test result.*|panicked.*'
echo "soak: seeds=$LABCTL_FAULT_SEEDS kill_points=$LABCTL_CRASH_POINTS in $(( $(date +%s) - start )) s"

#!/usr/bin/env bash
# Fuzzes the lab-file parser and validator with proptest for a while (default 10 minutes
# of one core): random text and bytes, YAML token soup, and the shipped lab with spans
# replaced. Any failure is saved by proptest in proptest-regressions/ (commit it) and
# should get a file in tests/corpus/.  Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"
seconds=${1:-600}
cargo test --quiet --lib --no-run
start=$(date +%s); rounds=0; cases=0
while [ $(( $(date +%s) - start )) -lt "$seconds" ]; do
  # A new seed per round; 20000 cases per property.
  PROPTEST_CASES=20000 PROPTEST_RNG_SEED=$((RANDOM * 32768 + RANDOM)) cargo test --quiet --lib fuzz -- --test-threads 1 >/dev/null
  rounds=$((rounds + 1)); cases=$((cases + 4 * 20000))
done
echo "fuzz: $rounds rounds, $cases cases, $(( $(date +%s) - start )) s, no failure"

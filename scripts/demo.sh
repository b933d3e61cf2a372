#!/usr/bin/env bash
# The main job: build labctl and run the shipped lab.yaml through validate, plan,
# apply and verify. With no AWS endpoint or credentials configured it starts a local emulator
# (moto, on 127.0.0.1) and leaves it running so you can keep using it.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$ROOT"

echo "==> building labctl"
cargo build --quiet

has_aws_config() {
  [ -n "${AWS_ENDPOINT_URL:-}" ] || [ -n "${AWS_ACCESS_KEY_ID:-}" ] || [ -n "${AWS_PROFILE:-}" ] \
    || [ -f "${AWS_SHARED_CREDENTIALS_FILE:-$HOME/.aws/credentials}" ] || [ -f "${AWS_CONFIG_FILE:-$HOME/.aws/config}" ]
}

if has_aws_config; then
  echo "==> using your AWS configuration (endpoint: ${AWS_ENDPOINT_URL:-AWS})"
else
  ensure_venv
  port=${LABCTL_MOTO_PORT:-5055}
  state="$ROOT/.labctl"; mkdir -p "$state"
  if ! "$VENV/bin/python" -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
    echo "==> no AWS configuration found: starting a local emulator (moto) on 127.0.0.1:$port"
    start_moto "$port" "$state/moto.pid" "$state/moto.log"
  else
    echo "==> reusing the local emulator on 127.0.0.1:$port"
  fi
  export AWS_ENDPOINT_URL="http://127.0.0.1:$port" AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing \
    AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true NO_PROXY=127.0.0.1,localhost
fi

echo "==> labctl validate"; "$LABCTL" validate
echo "==> labctl plan"; "$LABCTL" plan
echo "==> labctl apply --auto-approve"; "$LABCTL" apply --auto-approve
echo "==> labctl plan --detailed-exitcode (0 = in sync)"; "$LABCTL" plan --detailed-exitcode
echo "==> labctl verify (the lab does its job: files and folders backed up, photos compressed)"; "$LABCTL" verify

if [ -n "${port:-}" ]; then
  cat <<MSG

The lab runs on a local emulator. To keep using it from this shell:
  export AWS_ENDPOINT_URL=http://127.0.0.1:$port AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true
  export PATH="$CARGO_TARGET_DIR/debug:\$PATH"
  labctl plan
Stop the emulator with: kill \$(cat .labctl/moto.pid)
MSG
fi

# Shared by the project's scripts: the Python venv and a local moto server.
# shellcheck shell=bash

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
VENV="$ROOT/.venv"
# Outside the clone, so a fresh clone (and CI) reuses earlier builds: a clean debug
# build of the AWS SDK takes ~5-10 minutes on 2 cores.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HOME/.cache/labctl/target}"
LABCTL="$CARGO_TARGET_DIR/debug/labctl"

# Creates .venv (moto server, boto3, Pillow, pytest, ruff; pinned) unless it is current.
ensure_venv() {
  local stamp="$VENV/.requirements.sha256" want
  want=$(sha256sum "$ROOT/requirements-dev.txt" | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
    return 0
  fi
  echo "==> creating the Python venv in .venv (moto, boto3, Pillow, pytest, ruff)"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --disable-pip-version-check -r "$ROOT/requirements-dev.txt"
  echo "$want" > "$stamp"
}

# start_moto PORT PIDFILE LOGFILE: starts moto on 127.0.0.1:PORT and waits until it answers.
start_moto() {
  local port=$1 pidfile=$2 log=$3
  MOTO_S3_ALLOW_CROSSACCOUNT_ACCESS=false nohup "$VENV/bin/python" "$ROOT/tests/support/moto_launcher.py" -H 127.0.0.1 -p "$port" >"$log" 2>&1 &
  echo $! > "$pidfile"
  for _ in $(seq 1 100); do
    if "$VENV/bin/python" -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then
      return 0
    fi
    if ! kill -0 "$(cat "$pidfile")" 2>/dev/null; then
      echo "moto failed to start; its log:" >&2; cat "$log" >&2; return 1
    fi
    sleep 0.2
  done
  echo "moto did not answer on 127.0.0.1:$port within 20 s" >&2
  return 1
}

stop_moto() {
  local pidfile=$1
  if [ -f "$pidfile" ]; then
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  fi
}

# A free TCP port on 127.0.0.1.
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

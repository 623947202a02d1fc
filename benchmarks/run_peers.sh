#!/usr/bin/env bash
# Run the online benchmark with zen-engine available, without making zen-engine a
# dependency of fengkong: a throw-away venv gets zen-engine and fengkong (editable,
# from this checkout), and bench_online.py runs with that venv's Python.
#
#   benchmarks/run_peers.sh              # full run
#   benchmarks/run_peers.sh --quick      # smoke run; any bench_online.py option works
#
# FENGKONG_PEERS_VENV overrides the venv location (default /tmp/fengkong-peers).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${FENGKONG_PEERS_VENV:-/tmp/fengkong-peers}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
fi
# Both installs are no-ops when already satisfied; pip's chatter goes to a log.
log="$venv/pip-install.log"
if ! "$venv/bin/python" -m pip install --quiet zen-engine -e "$repo" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
exec "$venv/bin/python" "$here/bench_online.py" "$@"

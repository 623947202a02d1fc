#!/usr/bin/env bash
# Run the anonymisation benchmark with anjana and pycanon available, without making
# them dependencies of fengkong (they pin pandas): a throw-away venv gets anjana,
# pycanon and fengkong (editable, from this checkout), and bench_anonymize.py runs
# with that venv's Python.
#
#   benchmarks/run_anon_peers.sh                       # 100,000 rows
#   benchmarks/run_anon_peers.sh --rows 20000 --quick  # smoke run; any bench_anonymize.py option
#
# FENGKONG_ANON_PEERS_VENV overrides the venv location (default /tmp/fengkong-anon-peers).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${FENGKONG_ANON_PEERS_VENV:-/tmp/fengkong-anon-peers}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
fi
# Both installs are no-ops when already satisfied; pip's chatter goes to a log.
log="$venv/pip-install.log"
if ! "$venv/bin/python" -m pip install --quiet anjana pycanon -e "$repo" >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
exec "$venv/bin/python" "$here/bench_anonymize.py" "$@"

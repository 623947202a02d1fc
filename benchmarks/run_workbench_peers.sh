#!/usr/bin/env bash
# Run the model-workbench benchmark side by side with optbinning, toad and scorecardpy,
# without making them dependencies of fengkong. They break on pandas 3 and
# scikit-learn >= 1.8, so they get a throw-away venv pinned to pandas<3 and
# scikit-learn<1.8 (plus pyarrow to read the Parquet splits). fengkong is NOT installed
# there: bench_workbench.py runs with the project's Python (.venv, current releases)
# and starts each peer in its own process with the peers' Python; the data go through
# Parquet files.
#
#   benchmarks/run_workbench_peers.sh                         # 1,000,000 rows, ~15 min
#   benchmarks/run_workbench_peers.sh --rows 100000 --quick   # smoke run; any bench_workbench.py option
#
# FENGKONG_WORKBENCH_PEERS_VENV overrides the venv location (default /tmp/fengkong-workbench-peers);
# FENGKONG_PYTHON the project's Python (default .venv/bin/python in this checkout).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
venv="${FENGKONG_WORKBENCH_PEERS_VENV:-/tmp/fengkong-workbench-peers}"
python="${FENGKONG_PYTHON:-$repo/.venv/bin/python}"
if [ ! -x "$venv/bin/python" ]; then
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
fi
# A no-op when already satisfied; pip's chatter goes to a log.
log="$venv/pip-install.log"
if ! "$venv/bin/python" -m pip install --quiet "pandas<3" "scikit-learn<1.8" optbinning toad \
        scorecardpy pyarrow >"$log" 2>&1; then
    cat "$log" >&2
    exit 1
fi
exec "$python" "$here/bench_workbench.py" --peers-python "$venv/bin/python" "$@"

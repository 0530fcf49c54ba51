#!/usr/bin/env bash
# Everything a GPU should be measured on, in one short run (under 8 minutes on one GPU), and one
# table with the card's name: MD throughput against the plain loop, the plan's probe, embedding and
# screening throughput. --quick runs small cases (a CPU; tests/test_benchmarks.py runs it so).
#   bash benchmarks/device_check.sh --out device-check        # results and rates.parquet in device-check/
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-$( [ -x .venv/bin/python ] && echo .venv/bin/python || command -v python3 )}"
export HF_HUB_OFFLINE=1 TQDM_DISABLE=1
exec "$PY" benchmarks/device_check.py "$@"

#!/usr/bin/env bash
# Every benchmark: first the three-column comparison (dreamer_lab | DataDreamer 0.46 | plain
# library) written to bench/results.md, then each detailed bench script's own table.
# Usage: bash bench/run_all.sh [compare.py options, e.g. --reps 3 --skip train]
# DD_VENV=path uses an existing DataDreamer venv; otherwise bench/dd_venv.sh makes one.
# DETAIL=0 skips the detailed scripts.
set -euo pipefail
cd "$(dirname "$0")/.."
PY="${PYTHON:-.venv/bin/python}"
if [ -z "${DD_VENV:-}" ]; then
  bash bench/dd_venv.sh || echo "no DataDreamer venv: its column will be empty"
fi
"$PY" bench/compare.py --out bench/results.md "$@"
if [ "${DETAIL:-1}" != "0" ]; then
  for b in core integrity lazy llm providers embed train sidebar; do
    echo; echo "### bench/bench_$b.py"
    "$PY" "bench/bench_$b.py" || echo "bench_$b.py failed (exit $?)"
  done
fi

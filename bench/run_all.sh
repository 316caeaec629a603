#!/usr/bin/env bash
# Every benchmark: first the three-column comparison (dreamer_lab | DataDreamer 0.46 | plain
# library) written to bench/results.md, then each detailed bench script's own table.
# Usage: bash bench/run_all.sh [compare.py options, e.g. --reps 3 --skip train]
# DD_VENV=path uses an existing DataDreamer venv; otherwise bench/dd_venv.sh makes one.
# DETAIL=0 skips the detailed scripts.
# BENCH_SCALING=1 adds the scaling curves (bench/bench_scaling_*.py: cache hit and memory for
# 10k-10M rows, API throughput at concurrency 1-256, sidebar for 50-2000 steps; ~30 minutes
# on 2 cores, 10M rows needs ~8 GB of free RAM), appends their tables to bench/results.md
# and redraws docs/images/scaling_*.png; BENCH_SCALING_BROWSER=1 also times the sidebar
# render in Chromium (the built lab extension and Playwright, as ui-tests/).
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
if [ "${BENCH_SCALING:-0}" = "1" ]; then
  printf '\n## Scaling curves (docs/performance.md)\n' >> bench/results.md
  for b in rows api sidebar; do
    extra=()
    [ "$b" = sidebar ] && [ "${BENCH_SCALING_BROWSER:-0}" = "1" ] && extra=(--browser)
    echo; echo "### bench/bench_scaling_$b.py"
    "$PY" "bench/bench_scaling_$b.py" "${extra[@]}" | tee -a bench/results.md \
      || echo "bench_scaling_$b.py failed (exit $?)"
  done
fi

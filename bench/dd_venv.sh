#!/usr/bin/env bash
# Make the venv the DataDreamer 0.46 arm of bench/compare.py runs in (its pins differ from
# dreamer_lab's: pyarrow<22, datasets 3.2). Usage: bash bench/dd_venv.sh [FOLDER]
# (default .bench-dd-venv; compare.py finds it there, or wherever DD_VENV points).
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-${DD_VENV:-.bench-dd-venv}}"
if [ -x "$VENV/bin/python" ] && "$VENV/bin/python" -c "import datadreamer" 2>/dev/null; then
  echo "DataDreamer venv ready: $VENV"
  exit 0
fi
python3 -m venv "$VENV"
"$VENV/bin/pip" install -q --upgrade pip
# The CPU torch wheel first: an unpinned torch would pull a multi-GB CUDA build.
"$VENV/bin/pip" install -q torch==2.13.0
"$VENV/bin/pip" install -q 'datadreamer.dev==0.46.0' 'pyarrow<22' 'datasets==3.2.0' \
  'outlines-core==0.1.26'
"$VENV/bin/python" -c "import datadreamer; print('DataDreamer', datadreamer.__version__)"

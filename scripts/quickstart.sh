#!/usr/bin/env bash
# Install everything, then run the main job: the quickstart workflow (no API key needed).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
dreamer-lab demo --workspace "${DREAMER_LAB_WORKSPACE:-dreamer_workspace}"

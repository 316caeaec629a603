#!/usr/bin/env bash
# Install everything, then run the main job: the quickstart notebook, headless, on the
# embedded SmolLM2 model (no API key). Prints where the report is written.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
dreamer-lab run notebooks/quickstart.ipynb "$@"

#!/usr/bin/env bash
# Install everything, then run the whole test suite (lint, pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
ruff check dreamer_lab tests bench
ruff format --check dreamer_lab tests bench
python -m pytest -q -p no:cacheprovider "$@"

#!/usr/bin/env bash
# Install everything, then run the whole test suite: lint, the Lab extension's build, lint and
# unit tests, pytest (Python tests and browser tests of a real JupyterLab in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
. .venv/bin/activate
ruff check dreamer_lab tests bench ui-tests
ruff format --check dreamer_lab tests bench ui-tests
# Builds js/ (npm ci, build, eslint, unit tests), installs Chromium and Playwright if missing.
UI_SETUP_ONLY=1 bash scripts/ui_tests.sh
python -m pytest -q -p no:cacheprovider tests ui-tests "$@"

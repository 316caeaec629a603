#!/usr/bin/env bash
# Install everything, then run the whole test suite: lint, the Lab extension's build, lint and
# unit tests, pytest (Python tests and browser tests of a real JupyterLab in Chromium).
set -euo pipefail
cd "$(dirname "$0")/.."
# The suite must leave the checkout as it found it (a report made afterwards records the
# tree's state): remember what git shows now and compare at the end.
before=""
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  before=$(git status --porcelain --untracked-files=all)
fi
bash scripts/install.sh
. .venv/bin/activate
ruff check dreamer_lab tests bench ui-tests
ruff format --check dreamer_lab tests bench ui-tests
# Builds js/ (npm ci, build, eslint, unit tests), installs Chromium and Playwright if missing.
UI_SETUP_ONLY=1 bash scripts/ui_tests.sh
python -m pytest -q -p no:cacheprovider tests ui-tests "$@"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1 \
  && ! grep -q "dreamer_lab/labextension" <<<"$before"; then
  # The build above rewrote the committed lab extension. Its hashed file names depend on the
  # folder the checkout is in (module ids), so a fresh clone elsewhere never reproduces them
  # byte for byte: put the committed build back (the browser tests above ran the fresh one).
  git checkout -q -- dreamer_lab/labextension
  git clean -fdq -- dreamer_lab/labextension
fi
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  after=$(git status --porcelain --untracked-files=all)
  if [ "$after" != "$before" ]; then
    echo "scripts/test.sh left the checkout modified (a build or a test wrote into tracked" >&2
    echo "or unignored paths):" >&2
    diff <(echo "$before") <(echo "$after") >&2 || true
    exit 1
  fi
fi

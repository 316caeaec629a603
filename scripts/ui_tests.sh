#!/usr/bin/env bash
# Browser tests of the lab extension: a real `jupyter lab` (started and stopped by the tests)
# driven by Debian Chromium through Python Playwright. Installs what is missing:
# npm dependencies (to build js/ when Node is present), Chromium (apt) and playwright (pip).
set -euo pipefail
cd "$(dirname "$0")/.."
. .venv/bin/activate
if command -v npm >/dev/null 2>&1; then
  [ -d node_modules ] || npm ci --no-audit --no-fund
  npm run build:prod
  npm run lint
  npm test
elif [ ! -f dreamer_lab/labextension/package.json ]; then
  echo "Node is needed to build the lab extension (dreamer_lab/labextension is missing)" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ] && [ -z "${CHROMIUM:-}" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
# Playwright's own browser download is not used: the tests launch Debian Chromium.
python -c "import playwright" 2>/dev/null || PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 \
  python -m pip install -q "playwright>=1.45"
[ "${UI_SETUP_ONLY:-0}" = 1 ] && exit 0
python -m pytest ui-tests -q -p no:cacheprovider --timeout 300 "$@"

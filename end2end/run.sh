#!/usr/bin/env bash
# End-to-end tests: Playwright driving Debian's Chromium against real leadline servers
# (the debug binary and site built by scripts/test). Screenshots land in artifacts/.
source "$(dirname "$0")/../scripts/toolchain.sh"
cd "$LEADLINE_ROOT/end2end"
command -v chromium >/dev/null || apt_install chromium
# Reinstall only when package-lock.json changed since the last install.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    npm ci --no-audit --no-fund >/dev/null
fi
export LEADLINE_BIN="${LEADLINE_BIN:-$CARGO_TARGET_DIR/debug/leadline}"
export LEADLINE_SITE_ROOT="${LEADLINE_SITE_ROOT:-$CARGO_TARGET_DIR/site}"
export CHROMIUM_PATH="${CHROMIUM_PATH:-$(command -v chromium)}"
exec npx playwright test "$@"

#!/usr/bin/env bash
# Installs Debian's Chromium and ChromeDriver for the browser test (llmfeedback_assets_tests/deploy/test_ops_ui.py).
# The test drives /usr/bin/chromium through the `playwright` Python package (dev extra) and never downloads
# a browser of its own. Idempotent: does nothing when Chromium is already there.
set -euo pipefail

if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    echo "install_browser: $(/usr/bin/chromium --version 2>/dev/null | head -1) already installed"
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install_browser: no apt-get here; install Chromium yourself and set LLMFEEDBACK_CHROMIUM=/path/to/chromium" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
APT=(-o DPkg::Lock::Timeout=300 -qq)
$SUDO apt-get "${APT[@]}" update || { sleep 10; $SUDO apt-get "${APT[@]}" update; }
$SUDO apt-get "${APT[@]}" install -y chromium chromium-driver
echo "install_browser: $(/usr/bin/chromium --version 2>/dev/null | head -1) installed"

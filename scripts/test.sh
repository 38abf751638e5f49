#!/usr/bin/env bash
# Runs every test of chatroom: unit and integration tests (real server,
# real sockets) and the browser tests in headless Chromium, which this
# script installs from Debian's packages when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --release --locked --workspace
scripts/browser-tests.sh

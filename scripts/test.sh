#!/usr/bin/env bash
# Runs every test of chatroom: unit and integration tests (real server,
# real sockets), the browser tests in headless Chromium, which this
# script installs from Debian's packages when it is missing, and the
# Socket.IO tests with the official socket.io-client.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --release --locked --workspace
scripts/browser-tests.sh
scripts/socketio-tests.sh

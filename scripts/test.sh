#!/usr/bin/env bash
# Runs every test of chatroom: unit and integration tests (real server,
# real sockets), the browser tests in headless Chromium, which this
# script installs from Debian's packages when it is missing, and the
# Socket.IO tests with the official socket.io-client.
#
# Everything is built once with the `testing` profile (release code without
# link-time optimisation; see Cargo.toml), and the Node suites run the
# server binary of that build.
set -euo pipefail
cd "$(dirname "$0")/.."

# Examples are left out: clippy (`--all-targets`) already checks that they
# build, and the library has no doc tests.
cargo test --profile testing --locked --workspace --lib --bins --tests
export CHATROOM_BIN="$PWD/target/testing/chatroom"
scripts/browser-tests.sh
scripts/socketio-tests.sh

#!/usr/bin/env bash
# Tests of the Socket.IO endpoint (tests/socketio/) with the official
# socket.io-client from npm, against the real release binary: a client
# written for the original Node Chatroom API must work unchanged.
# Assumes `cargo build --release` already ran. Works from any directory.
#
#   scripts/socketio-tests.sh               # all test files
#   scripts/socketio-tests.sh auth.test.js  # some of them
#
# CHATROOM_BIN overrides the binary (default target/release/chatroom).
set -euo pipefail

caller_dir="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/node-suite.sh
node_suite_prepare socketio "$caller_dir"

if [ "$#" -gt 0 ]; then files=("$@"); else files=(*.test.js); fi
# One file at a time: each starts its own server, and the machine may have
# only two cores.
exec node --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"

#!/usr/bin/env bash
# Runs every test of chatroom: unit and integration tests (real server,
# real sockets), the browser tests in headless Chromium, and the Socket.IO
# tests with the official socket.io-client. What the tests run beside
# chatroom comes from Debian's packages, installed when missing: Chromium
# (by scripts/browser-tests.sh), and PostgreSQL and nats-server for the
# cluster's store and bus.
#
# Everything is built once with the `testing` profile (release code without
# link-time optimisation; see Cargo.toml), and the Node suites run the
# server binary of that build.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/debian-package.sh
need_debian_package /usr/sbin/nats-server nats-server
need_debian_package '/usr/lib/postgresql/*/bin/postgres' postgresql

# Examples are left out: clippy (`--all-targets`) already checks that they
# build, and the library has no doc tests.
#
# Tests run twice as many at a time as there are cores: most integration
# tests wait on a server (a flush, a timer, a socket) rather than compute,
# and on two cores four at a time finish the suite in about 75 s instead
# of 125.
threads=$(( $(nproc) * 2 ))
# The cluster's tests run apart, in scripts/cluster-test.sh, once the
# rest passed.
cargo test --profile testing --locked --workspace --lib --bins --tests -- \
  --test-threads="$threads" --skip cluster_nodes::
scripts/cluster-test.sh
export CHATROOM_BIN="$PWD/target/testing/chatroom"
scripts/browser-tests.sh
scripts/socketio-tests.sh

#!/usr/bin/env bash
# Browser tests of the bundled web client (tests/browser/) against the real
# release binary, in Debian's headless Chromium driven by playwright-core.
# Assumes `cargo build --release` already ran. Works from any directory.
#
#   scripts/browser-tests.sh                 # all test files
#   scripts/browser-tests.sh history.test.js # some of them
#
# CHATROOM_BIN overrides the binary (default target/release/chatroom).
# Screenshots land in target/screenshots/.
set -euo pipefail

caller_dir="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

# Never download a browser: use the distribution's Chromium.
if [ ! -x /usr/bin/chromium ]; then
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  echo "browser-tests: installing chromium with apt-get" >&2
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null
fi

source scripts/node-suite.sh
node_suite_prepare browser "$caller_dir"

mkdir -p "$root/target/screenshots"
if [ "$#" -gt 0 ]; then files=("$@"); else files=(*.test.js); fi
# One file at a time: each starts its own server and browser, and the
# machine may have only two cores.
exec node --test --test-concurrency=1 --test-timeout=300000 "${files[@]}"

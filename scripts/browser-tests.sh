#!/usr/bin/env bash
# Browser tests of the bundled web client (tests/browser/) against the real
# release binary, in Debian's headless Chromium driven by playwright-core.
# Assumes `cargo build --release` already ran. Works from any directory.
#
#   scripts/browser-tests.sh                 # all test files
#   scripts/browser-tests.sh history.test.js # some of them
#
# CHATROOM_BIN overrides the binary (default target/release/chatroom);
# BROWSER_TEST_JOBS how many files run at once (default 2; the timed ones
# always run alone, first).
# Screenshots land in target/screenshots/.
set -euo pipefail

caller_dir="$PWD"
cd "$(dirname "${BASH_SOURCE[0]}")/.."
root="$PWD"

# Never download a browser: use the distribution's Chromium.
source scripts/debian-package.sh
need_debian_package /usr/bin/chromium chromium

source scripts/node-suite.sh
node_suite_prepare browser "$caller_dir"

mkdir -p "$root/target/screenshots"
if [ "$#" -gt 0 ]; then files=("$@"); else files=(*.test.js); fi

# The files that assert how long the page's work takes run first, alone:
# another file's server and browser beside them would slow their frames.
PERF_FILES=(big-room.test.js)
# The others two at a time (BROWSER_TEST_JOBS sets another number): each
# starts its own server and browser, and the machine may have only two cores.
jobs="${BROWSER_TEST_JOBS:-2}"
alone=()
rest=()
for f in "${files[@]}"; do
  case " ${PERF_FILES[*]} " in
    *" $(basename "$f") "*) alone+=("$f") ;;
    *) rest+=("$f") ;;
  esac
done
status=0
if [ "${#alone[@]}" -gt 0 ]; then
  node --test --test-concurrency=1 --test-timeout=300000 "${alone[@]}" || status=$?
fi
if [ "${#rest[@]}" -gt 0 ]; then
  node --test --test-concurrency="$jobs" --test-timeout=300000 "${rest[@]}" || status=$?
fi
exit "$status"

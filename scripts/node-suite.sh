# Sourced (not run) by the scripts that run a Node test suite of tests/
# against the release binary: browser-tests.sh and socketio-tests.sh.

# node_suite_prepare NAME CALLER_DIR, from the repository root: exports
# CHATROOM_BIN (default target/release/chatroom; a relative path is taken
# from CALLER_DIR, where the script was called from) and stops if it is
# missing, then enters tests/NAME and installs its pinned packages when
# they are missing or the lock changed.
node_suite_prepare() {
  local name="$1" caller_dir="$2"
  CHATROOM_BIN="${CHATROOM_BIN:-$PWD/target/release/chatroom}"
  case "$CHATROOM_BIN" in /*) ;; *) CHATROOM_BIN="$caller_dir/$CHATROOM_BIN" ;; esac
  export CHATROOM_BIN
  if [ ! -x "$CHATROOM_BIN" ]; then
    echo "$name-tests: $CHATROOM_BIN is missing; run 'cargo build --release' first" >&2
    exit 1
  fi

  cd "tests/$name"
  if [ ! -d node_modules ] || ! cmp -s package-lock.json node_modules/.installed-lock.json; then
    npm ci --no-audit --no-fund --loglevel=error
    cp package-lock.json node_modules/.installed-lock.json
  fi
}

#!/usr/bin/env bash
# The figures of docs/scaling.md, side by side in one run on this machine:
#
#   a. durable acks/s, 50 senders, one node on sled (spawned by the
#      generator);
#   b. the same on one node on PostgreSQL;
#   c. end-to-end latency at 20 messages/s with 1,000 receiving
#      connections: on one sled node, on one node of the cluster, and
#      across two nodes (senders on node A, receivers on node B);
#   d. fan-out throughput with the same 1,000 receivers, one sled node and
#      across the two nodes;
#   e. each node's memory (VmRSS) idle after start and with the 1,000
#      connections, and nats-server's.
#
# A throwaway PostgreSQL (fsync and synchronous_commit on, as a real
# deployment: an ack means the commit is on disk) and nats-server run on
# loopback on free ports, in a temporary directory that is removed at the
# end with everything this script started. Every wait is bounded.
#
# The servers (chatroom nodes, PostgreSQL, NATS) share CPU 0 and the
# generator runs on CPU 1 (`--pin`), as in the single-node figures of
# benches/chatroom-bench/README.md: the cluster gets the same one core as
# a single node, so the comparison shows the cost of the path, not of
# extra hardware.
#
# Not part of the test suite. Build first:
#
#   cargo build --release -p chatroom -p chatroom-bench
#   benches/cluster-figures.sh            # DURATION=10 by default
#
# Every run's full output stays in $FIGURES_OUT when that is set (a
# directory), else it is printed before the summary.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/debian-package.sh
need_debian_package '/usr/lib/postgresql/*/bin/postgres' postgresql
need_debian_package /usr/sbin/nats-server nats-server

CHATROOM=$(realpath target/release/chatroom)
BENCH=$(realpath target/release/chatroom-bench)
DURATION=${DURATION:-10}
# Seconds a node is given to settle before its idle memory is read.
SETTLE=3
# Seconds between two runs, so that one run's connections closing (in a
# cluster, their presence leaving every node) is not measured by the next.
PAUSE=5
# Bounds of the waits: a server to accept connections, one generator run,
# a server to exit after SIGTERM.
START_TIMEOUT=60
RUN_TIMEOUT=300
STOP_TIMEOUT=15
# The limits a load of few users with many connections would hit, turned
# off (benches/chatroom-bench/README.md).
NODE_LIMITS=(--message-rate 0 --registration-rate 0 --max-user-connections 1000000)
SERVER_CPU=0

for bin in "$CHATROOM" "$BENCH"; do
  [ -x "$bin" ] || { echo "missing $bin: cargo build --release -p chatroom -p chatroom-bench" >&2; exit 1; }
done
pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)

tmp=$(mktemp -d -t chatroom-figures.XXXXXX)
chmod 755 "$tmp"
out=${FIGURES_OUT:-$tmp/out}
mkdir -p "$out"
pids=()

# stop PID: SIGTERM (SIGINT for PostgreSQL: its fast shutdown), then
# SIGKILL if it has not exited within STOP_TIMEOUT.
stop() {
  local pid=$1 signal=${2:-TERM}
  kill -"$signal" "$pid" 2>/dev/null || return 0
  timeout "$STOP_TIMEOUT" tail --pid="$pid" -f /dev/null 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}

# Nodes first (they hold PostgreSQL's and NATS's connections), then the
# rest, in the reverse order of their start.
cleanup() {
  local i
  for (( i=${#pids[@]}-1; i>=0; i-- )); do
    if [ "${pids[i]}" = "${pg_pid:-}" ]; then stop "${pids[i]}" INT; else stop "${pids[i]}"; fi
  done
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# A TCP port on loopback that nothing listens on now.
free_port() {
  local port tries
  for tries in $(seq 1 100); do
    port=$(( 20000 + RANDOM % 40000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  echo "no free port found" >&2
  return 1
}

# Waits until something accepts connections on 127.0.0.1:$1.
wait_port() {
  local port=$1 what=$2 deadline=$(( SECONDS + START_TIMEOUT ))
  until (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do
    if (( SECONDS >= deadline )); then echo "$what did not listen on $port within ${START_TIMEOUT}s" >&2; return 1; fi
    sleep 0.2
  done
}

# PostgreSQL refuses to run as root: as root, its directory is nobody's
# and its programs run as nobody (what src/store/postgres/pg_server.rs
# does for the tests). Every server is started through setpriv, which
# replaces itself with the program (so $! is the server's PID), and whose
# --pdeathsig has the kernel kill the server if this script dies.
if [ "$(id -u)" -eq 0 ]; then
  as_pg_owner=(setpriv --reuid="$(id -u nobody)" --regid="$(id -g nobody)" --clear-groups --pdeathsig=KILL --)
else
  as_pg_owner=(setpriv --pdeathsig=KILL --)
fi

start_postgres() {
  pg_port=$(free_port)
  mkdir -p "$tmp/pg"
  if [ "$(id -u)" -eq 0 ]; then chown "$(id -u nobody):$(id -g nobody)" "$tmp/pg"; fi
  "${as_pg_owner[@]}" "$pg_bin/initdb" -D "$tmp/pg/data" -A trust -U chatroom -E UTF8 --locale=C \
    --no-instructions >"$tmp/pg/initdb.log" 2>&1 \
    || { cat "$tmp/pg/initdb.log" >&2; return 1; }
  "${as_pg_owner[@]}" taskset -c "$SERVER_CPU" "$pg_bin/postgres" -D "$tmp/pg/data" -k "$tmp/pg" \
    -c listen_addresses=127.0.0.1 -p "$pg_port" -c synchronous_commit=on \
    >"$tmp/pg/log" 2>&1 &
  pg_pid=$!
  pids+=("$pg_pid")
  local deadline=$(( SECONDS + START_TIMEOUT ))
  until "$pg_bin/pg_isready" -q -h 127.0.0.1 -p "$pg_port" -t 1; do
    if (( SECONDS >= deadline )); then cat "$tmp/pg/log" >&2; echo "postgres did not start" >&2; return 1; fi
    sleep 0.2
  done
  local db
  for db in durable cluster; do
    timeout 30 "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U chatroom -d postgres \
      -c "CREATE DATABASE $db" >/dev/null
  done
}

# What this PostgreSQL commits a second, measured with its own tools on
# the same disk: pg_test_fsync's one 8 kB write and fdatasync (the cost of
# one WAL flush), and pgbench with 100-byte rows (-c 1: one committer;
# -c 8: a node's pool, each commit independent, so WAL flushes are shared
# (group commit); -c 8 serial: each transaction also updates one counter
# row, as the message writer's batches do, so commits queue on its lock).
pg_figures() {
  local pgbench=("$pg_bin/pgbench" -n -h 127.0.0.1 -p "$pg_port" -U chatroom -T 5 pgbench)
  timeout 30 "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U chatroom -d postgres -c "CREATE DATABASE pgbench"
  timeout 30 "$pg_bin/psql" -q -h 127.0.0.1 -p "$pg_port" -U chatroom -d pgbench \
    -c "CREATE TABLE counter (n bigint); INSERT INTO counter VALUES (0); CREATE TABLE log (n bigint, body text)"
  printf '%s\n' "INSERT INTO log VALUES (1, repeat('x', 100));" >"$tmp/insert.sql"
  printf '%s\n' "BEGIN;" "UPDATE counter SET n = n + 1;" "INSERT INTO log VALUES (1, repeat('x', 100));" "END;" >"$tmp/serial.sql"
  {
    echo "max_connections: $("$pg_bin/psql" -At -h 127.0.0.1 -p "$pg_port" -U chatroom -d postgres -c 'SHOW max_connections')"
    echo "fdatasync_8k: $(timeout 120 "$pg_bin/pg_test_fsync" -s 1 -f "$tmp/fsync.out" | grep -m 1 -E '^ +fdatasync +[0-9]' | sed 's/^ *//; s/  */ /g')"
    echo "pgbench_insert_c1_tps: $(timeout 30 taskset -c 1 "${pgbench[@]}" -c 1 -f "$tmp/insert.sql" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)"
    echo "pgbench_insert_c8_tps: $(timeout 30 taskset -c 1 "${pgbench[@]}" -c 8 -j 2 -f "$tmp/insert.sql" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)"
    echo "pgbench_serial_c8_tps: $(timeout 30 taskset -c 1 "${pgbench[@]}" -c 8 -j 2 -f "$tmp/serial.sql" | sed -n 's/^tps = \([0-9.]*\).*/\1/p' | head -n 1)"
  } >"$out/postgres.txt"
}

start_nats() {
  nats_port=$(free_port)
  setpriv --pdeathsig=KILL -- taskset -c "$SERVER_CPU" /usr/sbin/nats-server \
    -a 127.0.0.1 -p "$nats_port" >"$tmp/nats.log" 2>&1 &
  nats_pid=$!
  pids+=("$nats_pid")
  wait_port "$nats_port" nats-server
}

# start_node NAME [serve options…]: a release node in a clean environment,
# its own data directory and working directory; sets node_url and
# node_pid once it prints its listening line.
start_node() {
  local name=$1; shift
  local dir="$tmp/$name"
  mkdir -p "$dir/data"
  : >"$dir/stdout"
  (cd "$dir" && exec env -i PATH="$PATH" HOME="$HOME" \
     setpriv --pdeathsig=KILL -- taskset -c "$SERVER_CPU" \
     "$CHATROOM" serve --bind 127.0.0.1:0 --data-dir "$dir/data" "${NODE_LIMITS[@]}" "$@" \
     >"$dir/stdout" 2>"$dir/log") &
  node_pid=$!
  pids+=("$node_pid")
  local deadline=$(( SECONDS + START_TIMEOUT ))
  node_url=""
  until [ -n "$node_url" ]; do
    node_url=$(sed -n 's/.*chatroom listening on \(http:[^ ]*\).*/\1/p' "$dir/stdout" | head -n 1)
    if [ -n "$node_url" ]; then break; fi
    if ! kill -0 "$node_pid" 2>/dev/null; then cat "$dir/log" >&2; echo "node $name exited" >&2; return 1; fi
    if (( SECONDS >= deadline )); then cat "$dir/log" >&2; echo "node $name did not listen within ${START_TIMEOUT}s" >&2; return 1; fi
    sleep 0.2
  done
}

rss_kib() {
  awk '/^VmRSS:/ {print $2}' "/proc/$1/status"
}

# CPU seconds (user + system) used so far by PID and its children that
# are still running (PostgreSQL's backends).
tree_cpu_s() {
  local pid total=0 ticks
  ticks=$(getconf CLK_TCK)
  for pid in "$1" $(pgrep -P "$1" || true); do
    total=$(( total + $(sed 's/.*) //' "/proc/$pid/stat" 2>/dev/null | awk '{print $12 + $13}' || echo 0) ))
  done
  awk -v t="$total" -v k="$ticks" 'BEGIN {printf "%.2f", t / k}'
}

# cores_since START_CPU_S START_SECONDS PID: CPU cores PID's tree used since.
cores_since() {
  awk -v a="$1" -v b="$(tree_cpu_s "$3")" -v s="$2" -v n="$(date +%s.%N)" \
    'BEGIN {printf "%.2f", (b - a) / (n - s)}'
}

# bench NAME ARGS…: one generator run, bounded, its output kept as NAME.
bench() {
  local name=$1; shift
  echo "== $name: chatroom-bench $*" >&2
  echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >"$out/$name.txt"
  timeout "$RUN_TIMEOUT" "$BENCH" "$@" --pin >>"$out/$name.txt" 2>"$out/$name.err" \
    || { echo "run $name failed:" >&2; tail -n 5 "$out/$name.err" >&2; }
  sleep "$PAUSE"
}

# field NAME KEY: the value of `KEY: value` in run NAME's output.
field() {
  sed -n "s/^$2: //p" "$out/$1.txt" | head -n 1
}

echo "machine: $(nproc) CPUs, $(uname -sr); load average at start: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
start_postgres
start_nats
pg_figures
versions="$("$pg_bin/postgres" --version), nats-server $(/usr/sbin/nats-server --version | sed 's/.*v//')"

# a. durable, sled.
bench durable-sled durable --senders 50 --duration "$DURATION" --spawn "$CHATROOM"

# b. durable, PostgreSQL (one node, no bus).
start_node pg --store "postgres://chatroom@127.0.0.1:$pg_port/durable"
pg_node_pid=$node_pid
pg_cpu=$(tree_cpu_s "$pg_pid") t=$(date +%s.%N)
bench durable-postgres durable --senders 50 --duration "$DURATION" --url "$node_url" --server-pid "$pg_node_pid"
echo "postgres_cpu_cores: $(cores_since "$pg_cpu" "$t" "$pg_pid")" >>"$out/durable-postgres.txt"
stop "$pg_node_pid"

# c, d, e. One sled node, and two nodes of one cluster.
start_node sled
sled_url=$node_url sled_pid=$node_pid
cluster=(--store "postgres://chatroom@127.0.0.1:$pg_port/cluster" --bus "nats://127.0.0.1:$nats_port")
start_node node-a "${cluster[@]}"
a_url=$node_url a_pid=$node_pid
start_node node-b "${cluster[@]}"
b_url=$node_url b_pid=$node_pid
sleep "$SETTLE"
sled_idle=$(rss_kib "$sled_pid") a_idle=$(rss_kib "$a_pid") b_idle=$(rss_kib "$b_pid") nats_idle=$(rss_kib "$nats_pid")

bench latency-sled latency --connections 1000 --senders 10 --rate 20 --duration "$DURATION" \
  --url "$sled_url" --server-pid "$sled_pid"
bench latency-one-node latency --connections 1000 --senders 10 --rate 20 --duration "$DURATION" \
  --url "$a_url" --server-pid "$a_pid"
bench latency-cross-node latency --connections 1000 --senders 10 --rate 20 --duration "$DURATION" \
  --url "$a_url" --server-pid "$a_pid" --receivers-url "$b_url" --receivers-pid "$b_pid"
nats_loaded=$(rss_kib "$nats_pid")
bench throughput-sled throughput --connections 1000 --senders 10 --duration "$DURATION" \
  --url "$sled_url" --server-pid "$sled_pid"
nats_cpu=$(tree_cpu_s "$nats_pid") t=$(date +%s.%N)
bench throughput-cross-node throughput --connections 1000 --senders 10 --duration "$DURATION" \
  --url "$a_url" --server-pid "$a_pid" --receivers-url "$b_url" --receivers-pid "$b_pid"

echo "nats_cpu_cores: $(cores_since "$nats_cpu" "$t" "$nats_pid")" >>"$out/throughput-cross-node.txt"

if [ -z "${FIGURES_OUT:-}" ]; then
  for f in "$out"/*.txt; do echo "### $(basename "$f" .txt)"; cat "$f"; done
fi

echo "--- summary ($(date -u +%Y-%m-%dT%H:%MZ), $(nproc) CPUs, duration ${DURATION}s; $versions) ---"
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
sed 's/^/postgres /' "$out/postgres.txt"
for run in durable-sled durable-postgres; do
  echo "$run: accepted_per_s $(field $run accepted_per_s), ack_latency p50 $(field $run ack_latency_p50_ms) ms p99 $(field $run ack_latency_p99_ms) ms, server_cpu_cores $(field $run server_cpu_cores)$(v=$(field $run postgres_cpu_cores); [ -z "$v" ] || echo ", postgres_cpu_cores $v") ($(field $run 'load average before'))"
done
for run in latency-sled latency-one-node latency-cross-node; do
  echo "$run: receiver_latency p50 $(field $run receiver_latency_p50_ms) ms p99 $(field $run receiver_latency_p99_ms) ms max $(field $run receiver_latency_max_ms) ms, lost $(field $run lost_messages), out_of_order $(field $run out_of_order) ($(field $run 'load average before'))"
done
for run in throughput-sled throughput-cross-node; do
  echo "$run: accepted_per_s $(field $run accepted_per_s), deliveries_per_s $(field $run deliveries_per_s), receiver_latency p50 $(field $run receiver_latency_p50_ms) ms p99 $(field $run receiver_latency_p99_ms) ms, lost $(field $run lost_messages), closed $(field $run connections_closed_by_server), server_cpu_cores $(field $run server_cpu_cores)$(v=$(field $run receivers_node_cpu_cores); [ -z "$v" ] || echo ", receivers_node_cpu_cores $v, nats_cpu_cores $(field $run nats_cpu_cores)"), generator_cpu_cores $(field $run generator_cpu_cores) ($(field $run 'load average before'))"
done
# The RSS "with connections" is read by the generator once the
# connections are open and joined, before the load; node B's is the
# cleanest figure: it has hashed no password (every user registered
# through node A).
echo "memory sled node: idle $sled_idle KiB, 1,010 connections $(field latency-sled server_rss_before_kib) KiB, after the load $(field latency-sled server_rss_loaded_kib) KiB"
echo "memory cluster node A: idle $a_idle KiB, 1,010 connections (one-node run) $(field latency-one-node server_rss_before_kib) KiB, after the load $(field latency-one-node server_rss_loaded_kib) KiB"
echo "memory cluster node B: idle $b_idle KiB, 1,000 receivers (cross-node run) $(field latency-cross-node receivers_node_rss_before_kib) KiB, after the load $(field latency-cross-node receivers_node_rss_loaded_kib) KiB"
echo "memory nats-server: idle $nats_idle KiB, after the latency runs $nats_loaded KiB"

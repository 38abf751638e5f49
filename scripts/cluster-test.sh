#!/usr/bin/env bash
# The cluster's tests: several chatroom nodes on one PostgreSQL and one
# NATS behave as one chatroom (tests/suite/cluster_nodes/). PostgreSQL and
# nats-server come from Debian's packages, installed when missing; each
# test starts its own NATS and its own database (or its own PostgreSQL, to
# stop it) on loopback in temporary directories, then its nodes: chat
# across nodes, three senders on three nodes checked for order, gaps and
# duplicates on every node, resume on another node after `kill -9`,
# presence when a node dies, limits across nodes, and PostgreSQL or NATS
# going away under load. Then the whole suite on the PostgreSQL store.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/debian-package.sh
need_debian_package /usr/sbin/nats-server nats-server
need_debian_package '/usr/lib/postgresql/*/bin/postgres' postgresql

threads=$(( $(nproc) * 2 ))
cargo test --profile testing --locked --test suite -- cluster_nodes:: --test-threads="$threads"

# Then the whole suite once more with every test server on the PostgreSQL
# store (CHATROOM_TEST_STORE: one database per data directory, on one
# PostgreSQL the run starts; the admin commands get the same --store).
# Left out: what only the embedded store has. Its database in the data
# directory missing or unreadable, its disk full or failing, and its own
# schema upgrades.
EMBEDDED_ONLY=(
  admin::export_of_a_missing_data_dir_is_an_error
  files_gc::gc_without_data_fails_with_one_line
  faults::a_message_whose_write_failed_on_a_full_disk_never_shows_even_after_restart
  schema::room_lists_survive_an_upgrade_a_crash_and_a_restore
)
skips=(--skip cluster_nodes::)
for t in "${EMBEDDED_ONLY[@]}"; do skips+=(--skip "$t"); done
CHATROOM_TEST_STORE=postgres cargo test --profile testing --locked --test suite -- \
  --test-threads="$threads" "${skips[@]}"

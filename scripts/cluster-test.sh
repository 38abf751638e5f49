#!/usr/bin/env bash
# The cluster's tests: several chatroom nodes on one PostgreSQL and one
# NATS behave as one chatroom (tests/suite/cluster_nodes/). PostgreSQL and
# nats-server come from Debian's packages, installed when missing; each
# test starts its own NATS and its own database (or its own PostgreSQL, to
# stop it) on loopback in temporary directories, then its nodes: chat
# across nodes, three senders on three nodes checked for order, gaps and
# duplicates on every node, resume on another node after `kill -9`,
# presence when a node dies, limits across nodes, and PostgreSQL or NATS
# going away under load.
set -euo pipefail
cd "$(dirname "$0")/.."

source scripts/debian-package.sh
need_debian_package /usr/sbin/nats-server nats-server
need_debian_package '/usr/lib/postgresql/*/bin/postgres' postgresql

threads=$(( $(nproc) * 2 ))
cargo test --profile testing --locked --test suite -- cluster_nodes:: --test-threads="$threads"

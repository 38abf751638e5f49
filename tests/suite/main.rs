//! The integration tests, one module per part of the product, in one test
//! binary: each binary links the whole server and the helpers of
//! `tests/common`, so one binary instead of fifteen saves most of the
//! suite's build time. The tests of a hostile caller (`clean_env`) run
//! this binary again as a child process with a hostile environment.
//!
//! Run one part with a filter, e.g. `cargo test --profile testing --test suite ws::`.

#[path = "../common/mod.rs"]
mod common;

mod accounts;
mod admin;
mod attachments;
mod auth;
mod backup_files;
mod clean_env;
mod cli;
mod client_ids;
mod cluster_nodes;
mod connections;
mod crash_conversations;
mod directory;
mod durability;
mod faults;
mod files;
mod files_gc;
mod fuzz;
mod history_around;
mod memory;
mod openapi;
mod push_notify;
mod push_send;
mod push_stand_in;
mod push_subscriptions;
mod reactions;
mod reads;
mod rest;
mod restore;
mod room_list;
mod schema;
mod search;
mod search_access;
mod search_burst;
mod search_filters;
mod search_index;
mod socketio;
mod thumbnails;
mod uploads;
mod write_limits;
mod ws;
mod ws_limits;

//! chatroom: a self-hosted chat server in one binary.
//!
//! The binary (`src/main.rs`) is a thin command-line front; everything it
//! runs lives in these modules, which the integration tests and the
//! benchmark also use.

pub mod admin;
pub mod app;
pub mod auth;
pub mod bus;
pub mod chat;
pub mod cli;
pub mod config;
pub mod disk;
pub mod error;
pub mod files;
pub mod http;
mod lines;
pub mod memory;
pub mod model;
pub mod push;
pub mod room_list;
pub mod search;
pub mod server;
pub mod store;
pub mod throttle;
pub mod validate;
pub mod web;

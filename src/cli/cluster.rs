//! The options that make a node of a cluster: where the shared store is,
//! and the bus the nodes fan out through. Without them the server is the
//! single binary it always was (sled in the data directory, in-process
//! fan-out).

use clap::Args;

#[derive(Debug, Args, Clone, Default)]
pub struct ClusterArgs {
    /// Keep users, rooms and messages in this PostgreSQL database
    /// (`postgres://user@host/db`) instead of the data directory: what the
    /// nodes of a cluster share [default: the data directory].
    #[arg(long, env = "CHATROOM_STORE", value_name = "URL")]
    pub store: Option<String>,

    /// Fan messages out to the other nodes through this NATS server
    /// (`nats://host:4222`); needs `--store postgres://…`
    /// [default: this process only].
    #[arg(long, env = "CHATROOM_BUS", value_name = "URL")]
    pub bus: Option<String>,
}

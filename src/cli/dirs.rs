//! Where a server keeps what it stores: the data directory, and the
//! files' bytes when they are kept elsewhere.

use std::path::PathBuf;

use clap::Args;

/// The data directory option shared by every command.
#[derive(Debug, Args, Clone)]
pub struct DataDirArg {
    /// Directory holding the database, the JWT secret and the admin socket.
    #[arg(
        long,
        env = "CHATROOM_DATA_DIR",
        default_value = "./chatroom-data",
        value_name = "DIR"
    )]
    pub data_dir: PathBuf,
}

/// Where uploaded files' bytes are kept, for `serve` and the commands
/// that read or write them.
#[derive(Debug, Args, Clone, Default)]
pub struct FilesDirArg {
    /// Keep uploaded files' bytes in this directory instead of the data
    /// directory's `files/`: the directory every node of a cluster shares
    /// (a network filesystem), or a bigger disk [default: DIR/files].
    #[arg(long, env = "CHATROOM_FILES_DIR", value_name = "DIR")]
    pub files_dir: Option<PathBuf>,
}

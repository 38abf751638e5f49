//! Modes of what `serve` keeps on disk: the data directory is 0700 and its
//! files (database, secret, admin socket) 0600 at every start, whatever
//! modes they had before.

use crate::common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::*;

fn mode(path: &Path) -> u32 {
    std::fs::symlink_metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

fn chmod(path: &Path, m: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(m)).expect("chmod");
}

/// Every directory and file under `dir` (not `dir` itself).
fn tree(dir: &Path) -> (Vec<PathBuf>, Vec<PathBuf>) {
    let (mut dirs, mut files) = (Vec::new(), Vec::new());
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).expect("read_dir") {
            let e = e.expect("entry");
            let t = e.file_type().expect("type");
            if t.is_dir() {
                dirs.push(e.path());
                stack.push(e.path());
            } else if t.is_file() {
                files.push(e.path());
            }
        }
    }
    (dirs, files)
}

fn assert_private(dir: &Path) {
    assert_eq!(mode(dir), 0o700, "data directory");
    let (dirs, files) = tree(dir);
    assert!(!files.is_empty());
    for d in dirs {
        assert_eq!(mode(&d), 0o700, "{}", d.display());
    }
    for f in files {
        assert_eq!(mode(&f), 0o600, "{}", f.display());
    }
    assert_eq!(mode(&dir.join("admin.sock")), 0o600, "admin.sock");
}

#[tokio::test]
async fn a_new_data_dir_holds_only_private_files() {
    let s = Server::start_process();
    register(&s, "alice").await;
    assert_private(&s.dir);
}

#[tokio::test]
async fn modes_are_narrowed_again_at_every_start() {
    let mut s = Server::start_process();
    register(&s, "alice").await;
    s.signal("TERM");
    assert_eq!(s.wait_exit(), Some(0));
    // As a copy with `cp -r` under umask 022, or an older version, leaves them.
    chmod(&s.dir, 0o755);
    let (dirs, files) = tree(&s.dir);
    for d in &dirs {
        chmod(d, 0o755);
    }
    for f in &files {
        chmod(f, 0o644);
    }
    assert_eq!(mode(&s.dir.join("jwt-secret")), 0o644);
    s.respawn();
    register(&s, "bob").await;
    assert_private(&s.dir);
}

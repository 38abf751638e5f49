//! The data directory: created if missing, narrowed to its owner (it
//! holds the secret and every private message), and the generated token
//! secret kept in it.

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

use super::ConfigError;

/// Name of the generated JWT secret's file inside the data directory.
const SECRET_FILE: &str = "jwt-secret";

/// Bytes of a generated secret: 256 bits, as HS256 wants.
pub(super) const SECRET_BYTES: usize = 32;

/// Mode of the data directory and of every directory inside it.
const DIR_MODE: u32 = 0o700;
/// Mode of every file inside the data directory (database, secret).
const FILE_MODE: u32 = 0o600;

/// Creates the data directory if needed, gives it mode 0700 (even if it
/// existed with a wider one: it holds the secret and every private
/// message), and checks that it is a writable directory.
pub fn ensure_data_dir(dir: &Path) -> Result<(), ConfigError> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| {
            ConfigError(format!(
                "cannot create the data directory {}: {e}; choose another with --data-dir",
                dir.display()
            ))
        })?;
    }
    if dir.is_dir() {
        set_mode(dir, DIR_MODE);
    }
    if !dir.is_dir() {
        return Err(ConfigError(format!(
            "the data directory {} is not a directory; choose another with --data-dir",
            dir.display()
        )));
    }
    let probe = dir.join(".write-test");
    std::fs::write(&probe, b"")
        .map_err(|e| ConfigError(format!("the data directory {} is not writable ({e}); fix its permissions or choose another with --data-dir", dir.display())))?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

/// Narrows the modes of what an older version, a copy or a restore left in
/// the data directory: directories 0700, files 0600. Files created from
/// now on get these modes from the process umask (set in `main`).
///
/// The whole tree is walked (database, secret, quarantine record, anything
/// a later version adds); links and the admin socket are left alone.
pub(super) fn secure_data_dir(dir: &Path) {
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        set_mode(&d, DIR_MODE);
        for e in entries.flatten() {
            match e.file_type() {
                Ok(t) if t.is_dir() => stack.push(e.path()),
                Ok(t) if t.is_file() => set_mode(&e.path(), FILE_MODE),
                _ => {}
            }
        }
    }
}

/// Sets a mode, warning (not failing) when it cannot: a directory owned by
/// another user may still be usable, and `serve` says what it could not fix.
fn set_mode(path: &Path, mode: u32) {
    let current = std::fs::symlink_metadata(path).map(|m| m.permissions().mode() & 0o7777);
    if current.is_ok_and(|m| m == mode) {
        return;
    }
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)) {
        tracing::warn!(path = %path.display(), error = %e, "cannot set mode {mode:o}");
    }
}

/// Reads the generated secret, or creates one of 256 random bits with
/// mode 0600 so that only the data's owner can mint tokens.
pub(super) fn load_or_create_secret(dir: &Path) -> Result<Vec<u8>, ConfigError> {
    let path = dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= SECRET_BYTES * 2 => {
            set_mode(&path, FILE_MODE);
            return Ok(s.trim().as_bytes().to_vec());
        }
        Ok(_) => {
            return Err(ConfigError(format!("the secret file {} is too short; delete it to generate a new one (existing tokens stop working)", path.display())));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(ConfigError(format!("cannot read {}: {e}", path.display()))),
    }
    let mut raw = [0u8; SECRET_BYTES];
    getrandom::getrandom(&mut raw)
        .map_err(|e| ConfigError(format!("no randomness from the OS: {e}")))?;
    let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
    write_new_private(&path, hex.as_bytes())?;
    Ok(hex.into_bytes())
}

/// Creates `path` (which must not exist) with mode 0600 from the start,
/// writes `bytes` and syncs them: a generated secret is readable only by
/// the data's owner at every moment, and on disk before it is used.
pub(crate) fn write_new_private(path: &Path, bytes: &[u8]) -> Result<(), ConfigError> {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(FILE_MODE)
        .open(path)
        .map_err(|e| ConfigError(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(bytes)
        .and_then(|_| f.sync_all())
        .map_err(|e| ConfigError(format!("cannot write {}: {e}", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_is_generated_once_with_mode_0600() {
        let dir = tempfile::tempdir().expect("tempdir");
        let s1 = load_or_create_secret(dir.path()).expect("create");
        let s2 = load_or_create_secret(dir.path()).expect("reload");
        assert_eq!(s1, s2);
        assert_eq!(s1.len(), 64);
        let mode = std::fs::metadata(dir.path().join(SECRET_FILE))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }

    #[test]
    fn data_dir_and_its_files_are_narrowed_at_start() {
        let dir = tempfile::tempdir().expect("tempdir");
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("db/blobs")).expect("mkdir");
        std::fs::write(data.join("db/conf"), b"x").expect("write");
        std::fs::write(data.join(SECRET_FILE), "ab".repeat(SECRET_BYTES)).expect("write");
        for (p, m) in [
            (data.clone(), 0o755),
            (data.join("db/blobs"), 0o777),
            (data.join("db/conf"), 0o644),
            (data.join(SECRET_FILE), 0o644),
        ] {
            std::fs::set_permissions(&p, std::fs::Permissions::from_mode(m)).expect("chmod");
        }
        ensure_data_dir(&data).expect("ensure");
        secure_data_dir(&data);
        let mode = |p: &Path| std::fs::metadata(p).expect("meta").permissions().mode() & 0o777;
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join("db")), 0o700);
        assert_eq!(mode(&data.join("db/blobs")), 0o700);
        assert_eq!(mode(&data.join("db/conf")), 0o600);
        assert_eq!(mode(&data.join(SECRET_FILE)), 0o600);
    }
}

//! Resolved settings of `serve`: parsed, checked and defaulted once at
//! start, so that a bad value fails at once with one clear line.

use std::io::Write;
use std::net::{SocketAddr, ToSocketAddrs};
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::{Registration, ServeArgs};

/// The default listening address: loopback only, so a fresh install is not
/// exposed to the network until its owner says so.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";

/// Name of the generated JWT secret's file inside the data directory.
const SECRET_FILE: &str = "jwt-secret";

/// Bytes of a generated secret: 256 bits, as HS256 wants.
const SECRET_BYTES: usize = 32;

/// A configuration problem, phrased for the person who typed the command.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct ConfigError(pub String);

/// Everything `serve` needs to know, resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub jwt_secret: Vec<u8>,
    /// Messages a second per user; `None` when the limit is off.
    pub message_rate: Option<f64>,
    pub message_burst: u32,
    pub registration_open: bool,
    /// Extra allowed origins, normalised (lowercase, no trailing slash).
    pub allowed_origins: Vec<String>,
    pub token_ttl: Duration,
    pub body_limit: u64,
    pub cache_bytes: u64,
    pub max_connections: usize,
    /// Whether `X-Forwarded-For` names the client (set by a trusted proxy).
    pub trust_forwarded_for: bool,
    /// Open TCP connections at most; 0 = derived from the descriptor limit
    /// when the listener starts.
    pub max_tcp_connections: usize,
    pub header_timeout: Duration,
    pub body_timeout: Duration,
    /// Failed logins verified per minute, per username and per address.
    pub login_failures: u32,
    /// Registrations per address per hour; `None` when the limit is off.
    pub registration_rate: Option<u32>,
    /// Password hashes that may wait for a slot.
    pub hash_queue: usize,
    pub max_user_connections: usize,
    /// Owned rooms per user; `None` when there is no quota.
    pub room_quota: Option<usize>,
    /// Rooms created per user per hour; `None` when the limit is off.
    pub room_create_rate: Option<u32>,
    /// joinRoom/leaveRoom frames a second per connection; `None` when off.
    pub join_rate: Option<f64>,
}

impl Settings {
    /// Resolves the serve options, creating the data directory and the
    /// secret file when they are missing.
    pub fn resolve(args: ServeArgs) -> Result<Settings, ConfigError> {
        let bind = resolve_bind(
            args.bind.as_deref(),
            env("CHATROOM_BIND").as_deref(),
            env("PORT").as_deref(),
        )?;
        if !(args.message_rate.is_finite() && args.message_rate >= 0.0) {
            return Err(ConfigError(format!(
                "--message-rate must be a number of messages a second, 0 or more (got {})",
                args.message_rate
            )));
        }
        if args.message_burst == 0 && args.message_rate > 0.0 {
            return Err(ConfigError(
                "--message-burst must be at least 1 (use --message-rate 0 to turn the limit off)"
                    .into(),
            ));
        }
        if args.token_ttl == 0 {
            return Err(ConfigError("--token-ttl must be at least 1 second".into()));
        }
        if args.body_limit < 1024 {
            return Err(ConfigError(
                "--body-limit must be at least 1024 bytes".into(),
            ));
        }
        if args.header_timeout == 0 || args.body_timeout == 0 {
            return Err(ConfigError(
                "--header-timeout and --body-timeout must be at least 1 second".into(),
            ));
        }
        if args.login_failures == 0 {
            return Err(ConfigError("--login-failures must be at least 1".into()));
        }
        if args.max_user_connections == 0 {
            return Err(ConfigError(
                "--max-user-connections must be at least 1".into(),
            ));
        }
        if !(args.join_rate.is_finite() && args.join_rate >= 0.0) {
            return Err(ConfigError(format!(
                "--join-rate must be a number of joins a second, 0 or more (got {})",
                args.join_rate
            )));
        }
        if args.cache_mb == 0 {
            return Err(ConfigError("--cache-mb must be at least 1".into()));
        }
        let mut allowed_origins = Vec::new();
        for o in &args.allowed_origins {
            let o = o.trim();
            if o.is_empty() {
                continue;
            }
            if !(o.starts_with("http://") || o.starts_with("https://")) {
                return Err(ConfigError(format!(
                    "--allowed-origin {o:?} must be an origin such as https://chat.example.org"
                )));
            }
            allowed_origins.push(normalize_origin(o));
        }
        let data_dir = args.data.data_dir;
        ensure_data_dir(&data_dir)?;
        let jwt_secret = match args.jwt_secret {
            Some(s) if !s.is_empty() => {
                if s.len() < SECRET_BYTES {
                    tracing::warn!(
                        "the JWT secret is shorter than 32 bytes; a longer one is safer"
                    );
                }
                s.into_bytes()
            }
            _ => load_or_create_secret(&data_dir)?,
        };
        Ok(Settings {
            bind,
            data_dir,
            jwt_secret,
            message_rate: (args.message_rate > 0.0).then_some(args.message_rate),
            message_burst: args.message_burst,
            registration_open: args.registration == Registration::Open,
            allowed_origins,
            token_ttl: Duration::from_secs(args.token_ttl),
            body_limit: args.body_limit,
            cache_bytes: args.cache_mb * 1024 * 1024,
            max_connections: args.max_connections.max(1),
            trust_forwarded_for: args.trust_forwarded_for,
            max_tcp_connections: args.max_tcp_connections,
            header_timeout: Duration::from_secs(args.header_timeout),
            body_timeout: Duration::from_secs(args.body_timeout),
            login_failures: args.login_failures,
            registration_rate: (args.registration_rate > 0).then_some(args.registration_rate),
            hash_queue: args.hash_queue,
            max_user_connections: args.max_user_connections,
            room_quota: (args.room_quota > 0).then_some(args.room_quota),
            room_create_rate: (args.room_create_rate > 0).then_some(args.room_create_rate),
            join_rate: (args.join_rate > 0.0).then_some(args.join_rate),
        })
    }
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// `--bind` wins over `CHATROOM_BIND`, which wins over `PORT` (meaning
/// `0.0.0.0:$PORT`, as platforms that set it expect), then the default.
pub fn resolve_bind(
    flag: Option<&str>,
    env_bind: Option<&str>,
    env_port: Option<&str>,
) -> Result<SocketAddr, ConfigError> {
    let (text, source) = match (flag, env_bind, env_port) {
        (Some(f), _, _) => (f.to_owned(), "--bind"),
        (None, Some(b), _) => (b.to_owned(), "CHATROOM_BIND"),
        (None, None, Some(p)) => {
            let port: u16 = p.trim().parse().map_err(|_| {
                ConfigError(format!(
                    "PORT={p:?} is not a port number (1-65535); fix or unset it"
                ))
            })?;
            return Ok(SocketAddr::from(([0, 0, 0, 0], port)));
        }
        (None, None, None) => (DEFAULT_BIND.to_owned(), "default"),
    };
    let text = text.trim();
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Ok(addr);
    }
    let bad = || {
        ConfigError(format!("{source} {text:?} is not an address to listen on; use HOST:PORT such as 127.0.0.1:3000 or 0.0.0.0:8080"))
    };
    let mut addrs = text.to_socket_addrs().map_err(|_| bad())?;
    addrs.next().ok_or_else(bad)
}

/// An origin as compared by the server: lowercase, without a trailing slash.
pub fn normalize_origin(o: &str) -> String {
    o.trim().trim_end_matches('/').to_ascii_lowercase()
}

/// Creates the data directory (mode 0700) if needed and checks that it is a
/// writable directory.
pub fn ensure_data_dir(dir: &Path) -> Result<(), ConfigError> {
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(|e| {
            ConfigError(format!(
                "cannot create the data directory {}: {e}; choose another with --data-dir",
                dir.display()
            ))
        })?;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
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

/// Reads the generated secret, or creates one of 256 random bits with
/// mode 0600 so that only the data's owner can mint tokens.
fn load_or_create_secret(dir: &Path) -> Result<Vec<u8>, ConfigError> {
    let path = dir.join(SECRET_FILE);
    match std::fs::read_to_string(&path) {
        Ok(s) if s.trim().len() >= SECRET_BYTES * 2 => {
            let _ = std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600));
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
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&path)
        .map_err(|e| ConfigError(format!("cannot create {}: {e}", path.display())))?;
    f.write_all(hex.as_bytes())
        .and_then(|_| f.sync_all())
        .map_err(|e| ConfigError(format!("cannot write {}: {e}", path.display())))?;
    Ok(hex.into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bind_precedence_is_flag_then_env_then_port_then_default() {
        let a = |f, b, p| {
            resolve_bind(f, b, p)
                .map(|s| s.to_string())
                .unwrap_or_else(|e| e.0)
        };
        assert_eq!(
            a(Some("127.0.0.1:1"), Some("127.0.0.1:2"), Some("3")),
            "127.0.0.1:1"
        );
        assert_eq!(a(None, Some("127.0.0.1:2"), Some("3")), "127.0.0.1:2");
        assert_eq!(a(None, None, Some("3")), "0.0.0.0:3");
        assert_eq!(a(None, None, None), DEFAULT_BIND);
        assert!(resolve_bind(Some("nonsense"), None, None).is_err());
        assert!(resolve_bind(None, None, Some("http")).is_err());
    }

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
    fn origins_are_normalised() {
        assert_eq!(
            normalize_origin("HTTPS://Chat.Example.org/"),
            "https://chat.example.org"
        );
    }
}

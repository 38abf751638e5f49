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

/// A secret (the JWT key): usable as bytes, but its `Debug` never shows
/// it, so logging a value that holds one (settings, parsed arguments)
/// cannot leak it.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::ops::Deref for Secret {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        &self.0
    }
}

/// Lets clap parse `--jwt-secret`/`JWT_SECRET` straight into a [`Secret`].
impl From<String> for Secret {
    fn from(s: String) -> Self {
        Secret(s.into_bytes())
    }
}

impl From<Vec<u8>> for Secret {
    fn from(v: Vec<u8>) -> Self {
        Secret(v)
    }
}

/// Everything `serve` needs to know, resolved.
#[derive(Clone, Debug)]
pub struct Settings {
    pub bind: SocketAddr,
    pub data_dir: PathBuf,
    pub jwt_secret: Secret,
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
    pub write_rates: crate::throttle::WriteRates,
    /// Engine.IO's ping interval and timeout on the Socket.IO door.
    pub socketio_ping_interval: Duration,
    pub socketio_ping_timeout: Duration,
}

impl Settings {
    /// Resolves the serve options, creating the data directory and the
    /// secret file when they are missing.
    pub fn resolve(args: ServeArgs) -> Result<Settings, ConfigError> {
        Settings::resolve_with(args, |name| std::env::var(name).ok())
    }

    /// [`Settings::resolve`] with `env` in place of the process's
    /// environment (see [`crate::cli::serve_args`]).
    pub fn resolve_with(
        args: ServeArgs,
        env: impl Fn(&str) -> Option<String>,
    ) -> Result<Settings, ConfigError> {
        let var = |name: &str| env(name).filter(|v| !v.trim().is_empty());
        let bind = resolve_bind(
            args.bind.as_deref(),
            var("CHATROOM_BIND").as_deref(),
            var("PORT").as_deref(),
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
        secure_data_dir(&data_dir);
        let jwt_secret = match args.jwt_secret {
            Some(s) if !s.is_empty() => {
                if s.len() < SECRET_BYTES {
                    tracing::warn!(
                        "the JWT secret is shorter than 32 bytes; a longer one is safer"
                    );
                }
                s
            }
            _ => Secret(load_or_create_secret(&data_dir)?),
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
            write_rates: crate::throttle::WriteRates::of(&args.write_limits)?,
            socketio_ping_interval: Duration::from_millis(args.socketio_ping_interval),
            socketio_ping_timeout: Duration::from_millis(args.socketio_ping_timeout),
        })
    }
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
fn secure_data_dir(dir: &Path) {
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
fn load_or_create_secret(dir: &Path) -> Result<Vec<u8>, ConfigError> {
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
    fn debug_of_settings_and_arguments_hides_the_secret() {
        use clap::Parser;
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = "do-not-print-this-secret-0123456789abcdef";
        let data = dir.path().join("data");
        let cli = crate::cli::Cli::try_parse_from([
            "chatroom",
            "serve",
            "--jwt-secret",
            secret,
            "--data-dir",
            data.to_str().expect("utf8 path"),
        ])
        .expect("parse");
        let shown = format!("{cli:?}");
        assert!(!shown.contains(secret), "{shown}");
        let crate::cli::Command::Serve(args) = cli.command else {
            panic!("serve");
        };
        assert!(!format!("{args:?}").contains(secret));
        let settings = Settings::resolve(args).expect("resolve");
        assert_eq!(&*settings.jwt_secret, secret.as_bytes());
        let shown = format!("{settings:?} {settings:#?}");
        assert!(!shown.contains(secret), "{shown}");
        assert!(shown.contains("redacted"));
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

    #[test]
    fn origins_are_normalised() {
        assert_eq!(
            normalize_origin("HTTPS://Chat.Example.org/"),
            "https://chat.example.org"
        );
    }
}

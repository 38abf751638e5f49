//! Resolved settings of `serve`: parsed, checked and defaulted once at
//! start, so that a bad value fails at once with one clear line.

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use crate::cli::{Registration, ServeArgs};

mod cluster;
mod data_dir;
mod uploads;

pub use cluster::{Address, Backends, StoreChoice};
pub use data_dir::ensure_data_dir;
pub(crate) use data_dir::write_new_private;
use data_dir::{load_or_create_secret, secure_data_dir, SECRET_BYTES};
pub use uploads::UploadLimits;

/// The default listening address: loopback only, so a fresh install is not
/// exposed to the network until its owner says so.
pub const DEFAULT_BIND: &str = "127.0.0.1:3000";

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
    /// Where uploaded files' bytes are kept when not in the data
    /// directory: a directory the nodes of a cluster share.
    pub files_dir: Option<PathBuf>,
    /// The store and the bus: the embedded ones, or a cluster's.
    pub backends: Backends,
    pub jwt_secret: Secret,
    /// Whether the secret was given (`--jwt-secret`), rather than read
    /// from the data directory: a cluster's nodes then share theirs.
    pub jwt_secret_given: bool,
    /// Messages a second per user; `None` when the limit is off.
    pub message_rate: Option<f64>,
    pub message_burst: u32,
    pub registration_open: bool,
    /// Extra allowed origins, normalised (lowercase, no trailing slash).
    pub allowed_origins: Vec<String>,
    pub token_ttl: Duration,
    pub body_limit: u64,
    pub cache_bytes: u64,
    /// Free space (percent of the data directory's filesystem) under which
    /// the server warns; `None` when the warning is off.
    pub low_disk_percent: Option<u8>,
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
    /// The bounds of uploaded files.
    pub uploads: UploadLimits,
    /// The server's VAPID key pair, kept in the data directory.
    pub vapid: crate::push::keys::VapidKeys,
    /// The contact push services are given (`--vapid-subject`).
    pub vapid_subject: String,
    /// Whether `http:` push endpoints are accepted (tests only).
    pub push_allow_http: bool,
    /// How long after its page was hidden a connection still holds back
    /// the pushes of the rooms it joined (30 s; shorter in tests).
    pub push_watch: Duration,
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
        let vapid_subject = crate::push::keys::subject(args.vapid_subject.as_deref())?;
        let backends = Backends::resolve(&args.cluster)?;
        let data_dir = args.data.data_dir;
        ensure_data_dir(&data_dir)?;
        secure_data_dir(&data_dir);
        let jwt_secret_given = args.jwt_secret.as_ref().is_some_and(|s| !s.is_empty());
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
        let vapid = crate::push::keys::VapidKeys::load_or_create(&data_dir)?;
        let files_dir = args.files.files_dir.filter(|d| !d.as_os_str().is_empty());
        if backends.shared_store() && files_dir.is_none() {
            tracing::warn!(
                "uploaded files stay in this node's data directory, where the other nodes \
                 cannot serve them: give every node the same --files-dir"
            );
        }
        Ok(Settings {
            bind,
            data_dir,
            files_dir,
            backends,
            jwt_secret,
            jwt_secret_given,
            message_rate: (args.message_rate > 0.0).then_some(args.message_rate),
            message_burst: args.message_burst,
            registration_open: args.registration == Registration::Open,
            allowed_origins,
            token_ttl: Duration::from_secs(args.token_ttl),
            body_limit: args.body_limit,
            cache_bytes: args.cache_mb * 1024 * 1024,
            low_disk_percent: Some(args.low_disk_percent).filter(|p| *p > 0),
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
            uploads: UploadLimits::of(&args.upload_limits)?,
            vapid,
            vapid_subject,
            push_allow_http: args.push_allow_http,
            push_watch: Duration::from_millis(args.push_watch_ms),
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
    fn origins_are_normalised() {
        assert_eq!(
            normalize_origin("HTTPS://Chat.Example.org/"),
            "https://chat.example.org"
        );
    }
}

//! Which store and which bus a node uses: the embedded defaults, or
//! PostgreSQL and NATS for a node of a cluster.

use super::ConfigError;
use crate::cli::ClusterArgs;

/// An address that may carry a password (`postgres://user:pw@host/db`):
/// its `Debug` and `Display` hide the password, so settings can be logged.
#[derive(Clone, PartialEq, Eq)]
pub struct Address(String);

impl Address {
    /// The address as given, password included: for connecting only.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The address with any password replaced by `***`.
    pub fn redacted(&self) -> String {
        let Some((scheme, rest)) = self.0.split_once("://") else {
            return "***".into();
        };
        // The userinfo ends at the last `@` before the host's path.
        let authority_end = rest.find('/').unwrap_or(rest.len());
        match rest[..authority_end].rfind('@') {
            Some(at) => match rest[..at].split_once(':') {
                Some((user, _)) => format!("{scheme}://{user}:***{}", &rest[at..]),
                None => self.0.clone(),
            },
            None => self.0.clone(),
        }
    }
}

impl std::fmt::Debug for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Address({})", self.redacted())
    }
}

impl std::fmt::Display for Address {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.redacted())
    }
}

/// Where users, rooms and messages are kept.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum StoreChoice {
    /// sled, in the data directory: the single binary.
    #[default]
    Embedded,
    /// A PostgreSQL database the nodes of a cluster share.
    Postgres(Address),
}

/// The store and the bus, resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Backends {
    pub store: StoreChoice,
    /// The NATS server the nodes fan out through; `None`: this process only.
    pub bus: Option<Address>,
}

impl Backends {
    /// Checks `--store` and `--bus`: each must be an address of its kind,
    /// and a bus needs the shared store (nodes on a bus that each kept
    /// their own data directory would tell each other of messages none of
    /// the others has).
    pub fn resolve(args: &ClusterArgs) -> Result<Backends, ConfigError> {
        let given = |v: &Option<String>| {
            v.as_deref()
                .map(str::trim)
                .filter(|v| !v.is_empty())
                .map(str::to_owned)
        };
        let store = match given(&args.store) {
            None => StoreChoice::Embedded,
            Some(url) if has_scheme(&url, &["postgres", "postgresql"]) => {
                StoreChoice::Postgres(Address(url))
            }
            Some(url) => {
                return Err(ConfigError(format!(
                    "--store must be a PostgreSQL address such as \
                     postgres://chatroom@db.example/chatroom (got {})",
                    Address(url).redacted()
                )))
            }
        };
        let bus = match given(&args.bus) {
            None => None,
            Some(url) if has_scheme(&url, &["nats"]) => Some(Address(url)),
            Some(url) => {
                return Err(ConfigError(format!(
                    "--bus must be a NATS address such as nats://127.0.0.1:4222 (got {})",
                    Address(url).redacted()
                )))
            }
        };
        if bus.is_some() && store == StoreChoice::Embedded {
            return Err(ConfigError(
                "--bus needs --store postgres://…: the nodes of a cluster share one database"
                    .into(),
            ));
        }
        Ok(Backends { store, bus })
    }

    /// Whether this node shares its store with others (PostgreSQL).
    pub fn shared_store(&self) -> bool {
        matches!(self.store, StoreChoice::Postgres(_))
    }
}

/// Whether `url` starts with one of `schemes` and `://`, in any case.
fn has_scheme(url: &str, schemes: &[&str]) -> bool {
    url.split_once("://")
        .is_some_and(|(s, _)| schemes.iter().any(|want| s.eq_ignore_ascii_case(want)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolve(store: Option<&str>, bus: Option<&str>) -> Result<Backends, String> {
        Backends::resolve(&ClusterArgs {
            store: store.map(str::to_owned),
            bus: bus.map(str::to_owned),
        })
        .map_err(|e| e.0)
    }

    #[test]
    fn the_default_is_the_single_binary() {
        assert_eq!(resolve(None, None), Ok(Backends::default()));
        assert_eq!(resolve(Some("  "), Some("")), Ok(Backends::default()));
    }

    #[test]
    fn a_cluster_node_names_postgres_and_nats() {
        let b = resolve(Some("postgres://c@db/chat"), Some("nats://127.0.0.1:4222")).expect("ok");
        assert!(b.shared_store());
        assert_eq!(
            b.bus.map(|a| a.expose().to_owned()).as_deref(),
            Some("nats://127.0.0.1:4222")
        );
        assert!(resolve(Some("PostgreSQL://c@db/chat"), None).is_ok());
    }

    #[test]
    fn wrong_addresses_and_a_bus_alone_are_refused_in_one_line() {
        for (store, bus, says) in [
            (
                Some("mysql://u:hunter2@db/x"),
                None,
                "--store must be a PostgreSQL address",
            ),
            (Some("db.example"), None, "--store must be"),
            (
                Some("postgres://db/x"),
                Some("redis://q"),
                "--bus must be a NATS address",
            ),
            (None, Some("nats://127.0.0.1:4222"), "--bus needs --store"),
        ] {
            let e = resolve(store, bus).expect_err("refused");
            assert!(e.contains(says), "{e}");
            assert!(!e.contains('\n') && !e.contains("hunter2"), "{e}");
        }
    }

    #[test]
    fn passwords_never_show() {
        let a = Address("postgres://chat:s3cret@db.example:5432/chat".into());
        assert_eq!(a.redacted(), "postgres://chat:***@db.example:5432/chat");
        assert!(!format!("{a:?} {a}").contains("s3cret"));
        let plain = Address("postgres://chat@db/x".into());
        assert_eq!(plain.redacted(), "postgres://chat@db/x");
    }
}

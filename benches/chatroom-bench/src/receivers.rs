//! The node the receiving connections of `throughput` and `latency` use.
//!
//! By default it is the server under test itself. With `--receivers-url`
//! it is a second node of the same cluster (one PostgreSQL, one NATS):
//! users register and the room is created once, through the first node,
//! since both nodes read the same database, and the senders stay on the
//! first node. Every delivery a receiver sees has then crossed the bus.
//! Send and receive times are both read on this process's clock, so a
//! cross-node latency needs no agreement between the nodes' clocks.

use crate::server::{normalize_base_url, Server};
use crate::sys;

/// Where the receiving connections connect, and what can be read of that
/// node.
#[derive(Debug, PartialEq, Eq)]
pub struct Receivers {
    base_url: String,
    /// The second node's PID (`--receivers-pid`), to read its memory and
    /// CPU time; never the first node's, which the server reports already.
    pid: Option<u32>,
    other_node: bool,
}

impl Receivers {
    /// The server's own node, or the second node `url` (with its `pid`).
    pub fn for_server(
        server: &Server,
        url: Option<&str>,
        pid: Option<u32>,
    ) -> Result<Receivers, String> {
        Receivers::resolve(server.base_url(), url, pid)
    }

    /// [`Receivers::for_server`] on the server's base URL. A second node
    /// that is the first one again is refused: the run would claim a
    /// crossing that never happened.
    fn resolve(server_url: &str, url: Option<&str>, pid: Option<u32>) -> Result<Receivers, String> {
        let Some(url) = url else {
            return Ok(Receivers {
                base_url: server_url.to_string(),
                pid: None,
                other_node: false,
            });
        };
        let base_url =
            normalize_base_url(url).map_err(|e| e.replace("--url", "--receivers-url"))?;
        if base_url == server_url {
            return Err(format!(
                "--receivers-url {base_url} is the server under test itself; \
                 give the address of another node of the same cluster"
            ));
        }
        Ok(Receivers {
            base_url,
            pid,
            other_node: true,
        })
    }

    /// `http://host:port` of the node, without a trailing slash.
    pub fn base_url(&self) -> &str {
        &self.base_url
    }

    /// The second node's PID, when given.
    pub fn pid(&self) -> Option<u32> {
        self.pid
    }

    /// The second node's resident memory in KiB, when its PID is known.
    pub fn rss_kib(&self) -> Option<u64> {
        self.pid.and_then(sys::rss_kib)
    }

    pub fn print_config(&self) {
        if !self.other_node {
            println!("receivers: same node as the senders");
            return;
        }
        println!("receivers_url: {}", self.base_url);
        match self.pid {
            Some(pid) => println!("receivers: second node, pid {pid}"),
            None => println!("receivers: second node, pid unknown (memory not measured)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_a_second_node_the_receivers_use_the_server() {
        let r = Receivers::resolve("http://127.0.0.1:3000", None, None).unwrap();
        assert_eq!(r.base_url(), "http://127.0.0.1:3000");
        assert!(!r.other_node);
        assert_eq!(r.pid(), None);
    }

    #[test]
    fn a_second_node_is_normalised_and_keeps_its_pid() {
        let r = Receivers::resolve(
            "http://127.0.0.1:3000",
            Some(" http://127.0.0.1:3001/ "),
            Some(42),
        )
        .unwrap();
        assert_eq!(r.base_url(), "http://127.0.0.1:3001");
        assert!(r.other_node);
        assert_eq!(r.pid(), Some(42));
    }

    #[test]
    fn the_server_itself_is_not_a_second_node() {
        let e = Receivers::resolve(
            "http://127.0.0.1:3000",
            Some("http://127.0.0.1:3000/"),
            None,
        )
        .unwrap_err();
        assert!(e.contains("itself"), "{e}");
    }

    #[test]
    fn a_second_node_must_speak_plain_http() {
        let e = Receivers::resolve("http://127.0.0.1:3000", Some("https://node-b:3000"), None)
            .unwrap_err();
        assert!(e.contains("--receivers-url"), "{e}");
    }
}

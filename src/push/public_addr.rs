//! Push requests go to the public internet only. A subscription's endpoint
//! is whatever a signed-in user posted, so without this check anyone with
//! an account could make the server send requests into its own network
//! (the router, a NAS, a local admin page). Browsers' push services are
//! public hosts, so nothing real is lost: an endpoint naming a private,
//! loopback or link-local address is refused when it is subscribed, and a
//! name that resolves only to such addresses is never connected to (the
//! check runs on every resolution, so a name that changes its answer
//! later is caught too).

use std::future::Future;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::pin::Pin;
use std::task::{Context, Poll};

use hyper_util::client::legacy::connect::dns::Name;

/// Whether `ip` is reachable on the public internet: not loopback,
/// private, shared (carrier-grade NAT), link-local, unspecified,
/// multicast, broadcast, documentation or otherwise reserved.
pub fn is_public(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => is_public_v4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => is_public_v4(v4),
            None => is_public_v6(v6),
        },
    }
}

fn is_public_v4(ip: Ipv4Addr) -> bool {
    let [a, b, c, _] = ip.octets();
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_private()
        || ip.is_link_local()
        || ip.is_broadcast()
        || ip.is_documentation()
        || ip.is_multicast()
        || a == 0
        || (a == 100 && (64..128).contains(&b))
        || (a == 192 && b == 0 && c == 0)
        || (a == 198 && (18..20).contains(&b))
        || a >= 240)
}

fn is_public_v6(ip: Ipv6Addr) -> bool {
    let first = ip.segments()[0];
    !(ip.is_unspecified()
        || ip.is_loopback()
        || ip.is_multicast()
        || (first & 0xfe00) == 0xfc00
        || (first & 0xffc0) == 0xfe80
        || (first == 0x2001 && ip.segments()[1] == 0x0db8)
        || ip.to_ipv4().is_some())
}

/// Whether an endpoint's host is fit to be sent to: a name (checked when
/// it is resolved), or a public address. `localhost` never is.
pub fn host_allowed(host: &str) -> bool {
    let bare = host.trim_start_matches('[').trim_end_matches(']');
    match bare.parse::<IpAddr>() {
        Ok(ip) => is_public(ip),
        Err(_) => {
            let name = bare.trim_end_matches('.').to_ascii_lowercase();
            name != "localhost" && !name.ends_with(".localhost")
        }
    }
}

/// The push client's resolver: the system's, keeping only public
/// addresses (all of them where `any` is set: tests with a local push
/// service stand-in).
#[derive(Clone, Copy, Debug)]
pub struct PublicResolver {
    pub any: bool,
}

type Resolving = Pin<Box<dyn Future<Output = io::Result<std::vec::IntoIter<SocketAddr>>> + Send>>;

impl tower_service::Service<Name> for PublicResolver {
    type Response = std::vec::IntoIter<SocketAddr>;
    type Error = io::Error;
    type Future = Resolving;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, name: Name) -> Resolving {
        let any = self.any;
        Box::pin(async move {
            let host = name.as_str().to_owned();
            let found: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0))
                .await?
                .filter(|a| any || is_public(a.ip()))
                .collect();
            if found.is_empty() {
                return Err(io::Error::other(format!(
                    "{host} resolves to no public address"
                )));
            }
            Ok(found.into_iter())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_public_addresses_and_names_pass() {
        for private in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.169.254",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::1",
            "fe80::1",
            "::ffff:192.168.1.1",
            "[::1]",
            "localhost",
            "LOCALHOST.",
            "push.localhost",
        ] {
            assert!(!host_allowed(private), "{private}");
        }
        for public in [
            "142.250.74.10",
            "2a00:1450:4001:82b::200a",
            "[2a00:1450:4001:82b::200a]",
            "fcm.googleapis.com",
            "updates.push.services.mozilla.com",
        ] {
            assert!(host_allowed(public), "{public}");
        }
    }

    #[tokio::test]
    async fn the_resolver_drops_private_answers_unless_told_not_to() {
        use tower_service::Service as _;
        let name: Name = "localhost".parse().expect("a name");
        let refused = PublicResolver { any: false }.call(name.clone()).await;
        assert!(refused.is_err(), "localhost resolves to loopback only");
        let local = PublicResolver { any: true }.call(name).await;
        assert!(local.expect("resolved").next().is_some());
    }
}

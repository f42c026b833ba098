//! Who sent a request: the client address (through trusted proxies), its user agent and the
//! request id, for audit events and the per-client limits (`extract::RequestOrigin`); and
//! which request ids are kept.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap, HeaderValue};

use super::AppState;
use crate::audit::Origin;
use crate::config::{TrustedProxy, is_trusted};

/// The client address: the peer, unless the peer is a trusted proxy — then the right-most
/// `X-Forwarded-For` entry that is not itself a trusted proxy. `xff` is every header line,
/// joined in order (see [`forwarded_for`]); `None` when there was none.
pub fn client_ip(
    peer: Option<IpAddr>,
    xff: Option<&str>,
    trusted: &[TrustedProxy],
) -> Option<IpAddr> {
    let peer = peer?.to_canonical();
    if !is_trusted(trusted, peer) {
        return Some(peer);
    }
    let Some(xff) = xff else { return Some(peer) };
    for hop in xff.rsplit(',') {
        match hop.trim().parse::<IpAddr>() {
            Ok(ip) if is_trusted(trusted, ip) => continue,
            Ok(ip) => return Some(ip.to_canonical()),
            // A malformed entry: stop believing the header there.
            Err(_) => return Some(peer),
        }
    }
    Some(peer)
}

/// Every `X-Forwarded-For` line, joined in order with `,` (RFC 9110 §5.3: several lines of a
/// list header are one list). A proxy that adds its own line (HAProxy's `option forwardfor`)
/// then still has the last word. A line that is not text makes the whole header unreadable:
/// `Some("")`, which [`client_ip`] reads as a malformed entry.
pub fn forwarded_for(headers: &HeaderMap) -> Option<String> {
    let mut lines = headers.get_all("x-forwarded-for").iter().peekable();
    lines.peek()?;
    let mut joined = Vec::new();
    for line in lines {
        match line.to_str() {
            Ok(text) => joined.push(text),
            Err(_) => return Some(String::new()),
        }
    }
    Some(joined.join(","))
}

/// The TCP peer, when the server recorded it.
pub fn peer(extensions: &Extensions) -> Option<IpAddr> {
    extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ci| ci.0.ip().to_canonical())
}

/// The client address of a request, as [`client_ip`] decides it.
pub fn client_addr(
    headers: &HeaderMap,
    extensions: &Extensions,
    trusted: &[TrustedProxy],
) -> Option<IpAddr> {
    client_ip(peer(extensions), forwarded_for(headers).as_deref(), trusted)
}

/// The audit's view of a request.
pub fn origin_of(headers: &HeaderMap, extensions: &Extensions, state: &AppState) -> Origin {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(|s| s.chars().take(256).collect::<String>())
    };
    Origin {
        source_ip: client_addr(headers, extensions, &state.config.trusted_proxies)
            .map(|ip| ip.to_string()),
        user_agent: header("user-agent"),
        request_id: header("x-request-id"),
    }
}

/// Whether an incoming `X-Request-Id` may stay: only from a trusted proxy (which made it),
/// and only 1..=64 characters of `[A-Za-z0-9-]`. Anything else is replaced by our own id, so
/// no client chooses the id that logs, audit rows and error pages carry.
pub fn keep_request_id(from_trusted_proxy: bool, id: &HeaderValue) -> bool {
    let id = id.as_bytes();
    from_trusted_proxy
        && (1..=64).contains(&id.len())
        && id.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn proxies(list: &[&str]) -> Vec<TrustedProxy> {
        list.iter().map(|p| p.parse().unwrap()).collect()
    }

    #[test]
    fn forwarded_for_is_believed_only_from_trusted_proxies() {
        let proxy = proxies(&["10.0.0.1"]);
        assert_eq!(
            client_ip(Some(ip("203.0.113.9")), Some("1.2.3.4"), &proxy),
            Some(ip("203.0.113.9"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("1.2.3.4"), &proxy),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            client_ip(
                Some(ip("10.0.0.1")),
                Some("6.6.6.6, 1.2.3.4, 10.0.0.1"),
                &proxy
            ),
            Some(ip("1.2.3.4"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), Some("garbage"), &proxy),
            Some(ip("10.0.0.1"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), None, &proxy),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn a_proxy_network_is_trusted_by_cidr_and_mapped_addresses_count_as_ipv4() {
        let nets = proxies(&["10.0.0.0/24", "fd00::/8"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.77")), Some("198.51.100.4, 10.0.0.3"), &nets),
            Some(ip("198.51.100.4"))
        );
        assert_eq!(
            client_ip(Some(ip("::ffff:10.0.0.9")), Some("198.51.100.5"), &nets),
            Some(ip("198.51.100.5"))
        );
        assert_eq!(
            client_ip(Some(ip("10.0.1.1")), Some("198.51.100.4"), &nets),
            Some(ip("10.0.1.1")),
            "outside the network"
        );
    }

    /// S-2: a proxy that adds a second `X-Forwarded-For` line (HAProxy's `option
    /// forwardfor`) behind a client that sent its own forged first line.
    #[test]
    fn every_forwarded_for_line_is_read_in_order() {
        let mut h = HeaderMap::new();
        assert_eq!(forwarded_for(&h), None);
        h.append("x-forwarded-for", HeaderValue::from_static("6.6.6.6"));
        h.append("x-forwarded-for", HeaderValue::from_static("198.51.100.7"));
        let joined = forwarded_for(&h);
        assert_eq!(joined.as_deref(), Some("6.6.6.6,198.51.100.7"));
        let proxy = proxies(&["10.0.0.1"]);
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), joined.as_deref(), &proxy),
            Some(ip("198.51.100.7")),
            "the proxy's own line, not the client's forged first line"
        );
        // A line that is not text: the header is not believed at all.
        h.append(
            "x-forwarded-for",
            HeaderValue::from_bytes(b"\xff1.2.3.4").unwrap(),
        );
        let joined = forwarded_for(&h);
        assert_eq!(
            client_ip(Some(ip("10.0.0.1")), joined.as_deref(), &proxy),
            Some(ip("10.0.0.1"))
        );
    }

    #[test]
    fn request_ids_are_kept_only_from_trusted_proxies_and_only_in_shape() {
        let v = |s: &str| HeaderValue::from_str(s).unwrap();
        assert!(keep_request_id(
            true,
            &v("0f3c9a7e5d2b41c8a6f0e1d2c3b4a596")
        ));
        assert!(keep_request_id(true, &v("req-1")));
        assert!(!keep_request_id(false, &v("req-1")), "from a client");
        assert!(!keep_request_id(true, &v("")));
        assert!(!keep_request_id(true, &v(&"a".repeat(65))));
        assert!(keep_request_id(true, &v(&"a".repeat(64))));
        for forged in ["a b", "x=1 user=admin", "a_b", "ä", "id;x"] {
            assert!(!keep_request_id(true, &v(forged)), "{forged}");
        }
    }
}

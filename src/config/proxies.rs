//! `trusted_proxies` entries: a single address (`10.0.0.5`, `2001:db8::5`) or a network in
//! CIDR form (`10.0.0.0/24`, `2001:db8::/48`). Old configs that list single addresses keep
//! working: an address is the network of just that address.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use serde::Deserialize;

/// One trusted reverse proxy, or a network of them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TrustedProxy {
    net: IpAddr,
    prefix: u8,
}

/// Why a `trusted_proxies` entry was refused (the entry is not secret: it is named).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{entry:?} is not an IP address or a CIDR network ({why})")]
pub struct ProxyParseError {
    entry: String,
    why: &'static str,
}

impl TrustedProxy {
    /// Whether `ip` is this proxy, or inside this network. An IPv4-mapped IPv6 address
    /// (`::ffff:10.0.0.5`, what a dual-stack socket reports) is compared as IPv4.
    #[must_use]
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.net, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                same_prefix(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

/// The first `prefix` bits of `a` and `b` are equal.
fn same_prefix(a: &[u8], b: &[u8], prefix: u8) -> bool {
    let mut left = usize::from(prefix);
    for (x, y) in a.iter().zip(b) {
        if left == 0 {
            return true;
        }
        let bits = left.min(8);
        // `bits` is 1..=8: the mask keeps the high `bits` bits of the byte.
        let mask = u8::MAX << (8 - bits);
        if x & mask != y & mask {
            return false;
        }
        left -= bits;
    }
    true
}

impl FromStr for TrustedProxy {
    type Err = ProxyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let refuse = |why| ProxyParseError {
            entry: s.to_string(),
            why,
        };
        let (addr, prefix) = match s.trim().split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (s.trim(), None),
        };
        let net = IpAddr::from_str(addr)
            .map_err(|_| refuse("not an address"))?
            .to_canonical();
        let max = if net.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| refuse("the prefix length is out of range"))?,
        };
        Ok(Self { net, prefix })
    }
}

impl fmt::Display for TrustedProxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.net, self.prefix)
    }
}

impl<'de> Deserialize<'de> for TrustedProxy {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// Whether `ip` is one of `proxies`.
#[must_use]
pub fn is_trusted(proxies: &[TrustedProxy], ip: IpAddr) -> bool {
    proxies.iter().any(|p| p.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn single_addresses_and_cidr_networks_are_both_accepted() {
        let one: TrustedProxy = "10.0.0.5".parse().unwrap();
        assert!(one.contains(ip("10.0.0.5")));
        assert!(!one.contains(ip("10.0.0.6")));
        assert!(one.contains(ip("::ffff:10.0.0.5")), "IPv4-mapped");
        let net: TrustedProxy = "10.1.0.0/16".parse().unwrap();
        assert!(net.contains(ip("10.1.255.3")));
        assert!(!net.contains(ip("10.2.0.1")));
        let odd: TrustedProxy = "192.0.2.128/25".parse().unwrap();
        assert!(odd.contains(ip("192.0.2.200")));
        assert!(!odd.contains(ip("192.0.2.127")));
        let v6: TrustedProxy = "2001:db8:1::/48".parse().unwrap();
        assert!(v6.contains(ip("2001:db8:1:ffff::1")));
        assert!(!v6.contains(ip("2001:db8:2::1")));
        assert!(!v6.contains(ip("10.1.0.1")));
        let all: TrustedProxy = "0.0.0.0/0".parse().unwrap();
        assert!(all.contains(ip("203.0.113.1")));
        assert_eq!(net.to_string(), "10.1.0.0/16");
    }

    #[test]
    fn bad_entries_are_refused_with_their_text() {
        for bad in [
            "",
            "proxy.example",
            "10.0.0.0/33",
            "::/129",
            "10.0.0.0/x",
            "10.0.0/8",
        ] {
            let e = bad.parse::<TrustedProxy>().unwrap_err();
            assert!(e.to_string().contains(&format!("{bad:?}")), "{e}");
        }
    }

    #[test]
    fn old_configs_with_single_addresses_still_load() {
        #[derive(Deserialize)]
        struct C {
            trusted_proxies: Vec<TrustedProxy>,
        }
        let c: C = toml::from_str(r#"trusted_proxies = ["10.0.0.5", "fd00::/8"]"#).unwrap();
        assert!(is_trusted(&c.trusted_proxies, ip("10.0.0.5")));
        assert!(is_trusted(&c.trusted_proxies, ip("fd12::1")));
        assert!(!is_trusted(&c.trusted_proxies, ip("10.0.0.4")));
        assert!(toml::from_str::<C>(r#"trusted_proxies = ["10.0.0.300"]"#).is_err());
    }
}

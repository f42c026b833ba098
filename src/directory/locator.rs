//! The DCs that searches and writes go to: the configured `urls`, then, with `dns_srv`, the
//! DCs that DNS names, found the way Windows' DC locator finds them.
//!
//! A client locates "a domain controller (DC) hosting NC N" through the SRV record
//! `_ldap._tcp.dc._msdcs.N` (MS-ADTS 6.3.6.1, DNS-Based Discovery); every DC registers it
//! (Samba too: `source4/dsdb/dns/dns_update_list`). The record is asked of the domain's own
//! DNS servers (`dns_servers`), or of the system's resolver, and the targets
//! are taken in RFC 2782 order: lowest priority first; within one priority, the higher weight
//! first. RFC 2782 picks among equal priorities at random by weight, to spread load; the portal
//! keeps one connection per DC and fails over in order, so it takes the heaviest first, every
//! time, and a restart does not move it to another DC. A target of "." means "no service".
//!
//! A located DC is reached by its host name, resolved through the same DNS servers, with the
//! first configured URL's scheme and port, else `ldaps://host:636` (StartTLS: `ldap://` on
//! the record's port); TLS verifies that host name against the CA as for any DC.
//!
//! The list is located again every `discovery_refresh_secs`. A failed lookup keeps the list in
//! use and is retried after `retry_after_secs`; with no list yet, the domain answers "no DC"
//! (its pages 503, `/readyz` degraded) until DNS answers.

use std::net::SocketAddr;
use std::sync::{Arc, PoisonError};
use std::time::{Duration, Instant};

use hickory_resolver::config::{ConnectionConfig, NameServerConfig, ResolverConfig};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::proto::rr::RData;
use hickory_resolver::{Resolver, TokioResolver};
use tokio::sync::{Mutex, OnceCell};
use url::Url;

use super::client::DcConnection;
use super::discovery::url_for;
use super::{Directory, DirectoryError};
use crate::config::LdapConfig;

/// A snapshot of the preferred DCs, in order.
pub(super) type DcList = Arc<Vec<Arc<DcConnection>>>;

/// The preferred DCs and how they are located.
pub(super) struct Preferred {
    list: std::sync::Mutex<DcList>,
    configured: Vec<String>,
    srv: Option<Srv>,
}

struct Srv {
    /// `_ldap._tcp.dc._msdcs.<dns_name>.`
    name: String,
    servers: Vec<SocketAddr>,
    starttls: bool,
    timeout: Duration,
    resolver: OnceCell<Arc<TokioResolver>>,
    /// When the records were last asked for, and why that failed, if it did.
    asked: Mutex<Option<(Instant, Option<String>)>>,
}

/// One SRV record's target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SrvTarget {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    /// Lower case, without the final dot.
    pub host: String,
}

/// The targets in the order they are tried (see the module's text), without "." targets and
/// without repeats.
pub fn srv_order(mut targets: Vec<SrvTarget>) -> Vec<SrvTarget> {
    for t in &mut targets {
        t.host = t.host.trim_end_matches('.').to_ascii_lowercase();
    }
    targets.retain(|t| !t.host.is_empty());
    targets.sort_by(|a, b| {
        (a.priority, std::cmp::Reverse(a.weight), &a.host).cmp(&(
            b.priority,
            std::cmp::Reverse(b.weight),
            &b.host,
        ))
    });
    let mut seen = std::collections::HashSet::new();
    targets.retain(|t| seen.insert(t.host.clone()));
    targets
}

/// The URL a located DC is reached at (see the module's text).
fn url_of(target: &SrvTarget, template: Option<&str>, starttls: bool) -> Option<String> {
    match template {
        Some(t) => url_for(t, &target.host),
        None if starttls => Some(format!("ldap://{}:{}", target.host, target.port)),
        None => Some(format!("ldaps://{}:636", target.host)),
    }
}

fn host_of(url: &str) -> Option<String> {
    Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
}

/// A TCP connection to the DC at `url`, with Nagle's algorithm off. A lookup's searches run
/// at once over one connection per DC (ldap3 multiplexes them). With Nagle on, a request
/// written while the one before is unacknowledged waits for that acknowledgement: a round trip
/// to a distant DC, or the DC's delayed ACK (40 ms on Linux), per extra request. ldap3 leaves
/// the socket as it is, so the portal opens it (`LdapConnSettings::set_std_stream`).
pub async fn open_tcp(url: &Url) -> std::io::Result<std::net::TcpStream> {
    let port = url
        .port()
        .unwrap_or(if url.scheme() == "ldaps" { 636 } else { 389 });
    let host = match url.host() {
        Some(url::Host::Domain(name)) => name.to_string(),
        Some(url::Host::Ipv4(ip)) => ip.to_string(),
        Some(url::Host::Ipv6(ip)) => ip.to_string(),
        None => {
            let e = "the LDAP URL names no host";
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidInput, e));
        }
    };
    nodelay(tokio::net::TcpStream::connect((host.as_str(), port)).await?)
}

/// [`open_tcp`] to the first of `addrs` that accepts: a host resolved through the domain's
/// own DNS servers (`locator.rs`).
pub(super) async fn open_tcp_to(
    addrs: &[std::net::SocketAddr],
) -> std::io::Result<std::net::TcpStream> {
    nodelay(tokio::net::TcpStream::connect(addrs).await?)
}

fn nodelay(stream: tokio::net::TcpStream) -> std::io::Result<std::net::TcpStream> {
    stream.set_nodelay(true)?;
    stream.into_std()
}

impl Preferred {
    pub(super) fn new(cfg: &LdapConfig) -> Self {
        let list = cfg
            .urls
            .iter()
            .map(|u| Arc::new(DcConnection::new(u.clone())))
            .collect();
        let srv = cfg.dns_srv.then(|| Srv {
            name: format!("_ldap._tcp.dc._msdcs.{}.", cfg.domain_dns()),
            servers: cfg
                .dns_servers
                .iter()
                .filter_map(|s| crate::config::dns_server(s))
                .collect(),
            starttls: cfg.starttls,
            timeout: Duration::from_secs(cfg.connect_timeout_secs),
            resolver: OnceCell::new(),
            asked: Mutex::new(None),
        });
        Preferred {
            list: std::sync::Mutex::new(Arc::new(list)),
            configured: cfg.urls.clone(),
            srv,
        }
    }

    /// The list as it stands, without asking DNS.
    pub(super) fn now(&self) -> DcList {
        self.list
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Srv {
    async fn resolver(&self) -> Result<Arc<TokioResolver>, String> {
        self.resolver
            .get_or_try_init(|| async {
                let builder = if self.servers.is_empty() {
                    TokioResolver::builder_tokio()
                        .map_err(|e| format!("the system's resolver: {e}"))?
                } else {
                    let servers = self
                        .servers
                        .iter()
                        .map(|a| {
                            let mut conns = vec![ConnectionConfig::udp(), ConnectionConfig::tcp()];
                            for c in &mut conns {
                                c.port = a.port();
                            }
                            let mut ns = NameServerConfig::udp_and_tcp(a.ip());
                            ns.connections = conns;
                            ns
                        })
                        .collect();
                    Resolver::builder_with_config(
                        ResolverConfig::from_name_servers(servers),
                        TokioRuntimeProvider::default(),
                    )
                };
                builder.build().map(Arc::new).map_err(|e| e.to_string())
            })
            .await
            .cloned()
    }

    /// The SRV targets, in order.
    async fn targets(&self) -> Result<Vec<SrvTarget>, String> {
        let resolver = self.resolver().await?;
        let lookup = tokio::time::timeout(self.timeout, resolver.srv_lookup(self.name.as_str()))
            .await
            .map_err(|_| format!("{}: DNS timed out", self.name))?
            .map_err(|e| format!("{}: {e}", self.name))?;
        let targets = lookup
            .answers()
            .iter()
            .filter_map(|r| match &r.data {
                RData::SRV(s) => Some(SrvTarget {
                    priority: s.priority,
                    weight: s.weight,
                    port: s.port,
                    host: s.target.to_ascii(),
                }),
                _ => None,
            })
            .collect();
        Ok(srv_order(targets))
    }
}

impl Directory {
    /// The preferred DCs, located again through DNS when due. Err when there are none.
    pub(super) async fn preferred(&self) -> Result<DcList, DirectoryError> {
        let p = &self.dcs;
        if let Some(srv) = &p.srv {
            let mut asked = srv.asked.lock().await;
            let due = asked.as_ref().is_none_or(|(at, error)| {
                let fresh_for = if error.is_some() {
                    self.retry_after
                } else {
                    self.discovery_refresh
                };
                at.elapsed() >= fresh_for
            });
            if due {
                let error = match srv.targets().await {
                    Ok(targets) => {
                        self.adopt(&targets, srv.starttls);
                        None
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "locating DCs through DNS failed; the DCs known so far stay in use");
                        Some(e)
                    }
                };
                *asked = Some((Instant::now(), error));
            }
            let list = p.now();
            if list.is_empty() {
                let why = asked.as_ref().and_then(|(_, e)| e.clone());
                return Err(DirectoryError::NoDc(why.unwrap_or_else(|| {
                    format!("DNS names no DC ({})", srv.name.trim_end_matches('.'))
                })));
            }
            return Ok(list);
        }
        let list = p.now();
        if list.is_empty() {
            return Err(DirectoryError::NoDc("no DC configured".into()));
        }
        Ok(list)
    }

    /// The configured DCs, then the located ones not configured; connections kept by URL.
    fn adopt(&self, targets: &[SrvTarget], starttls: bool) {
        let p = &self.dcs;
        let configured_hosts: Vec<String> =
            p.configured.iter().filter_map(|u| host_of(u)).collect();
        let mut urls = p.configured.clone();
        urls.extend(
            targets
                .iter()
                .filter(|t| !configured_hosts.contains(&t.host))
                .filter_map(|t| url_of(t, p.configured.first().map(String::as_str), starttls)),
        );
        let mut list = p.list.lock().unwrap_or_else(PoisonError::into_inner);
        let kept: Vec<Arc<DcConnection>> = urls
            .into_iter()
            .map(|u| match list.iter().find(|c| c.url == u) {
                Some(c) => c.clone(),
                None => Arc::new(DcConnection::new(u)),
            })
            .collect();
        *list = Arc::new(kept);
    }

    /// The preferred DCs' URLs (located first when due; none if none can be).
    pub async fn dc_urls(&self) -> Vec<String> {
        self.preferred()
            .await
            .map(|l| l.iter().map(|d| d.url.clone()).collect())
            .unwrap_or_default()
    }

    /// The addresses of `url`'s host: through the domain's DNS servers with `dns_srv` and
    /// `dns_servers`, else none (the system resolves it when connecting).
    pub(super) async fn addresses(&self, url: &Url) -> Option<std::io::Result<Vec<SocketAddr>>> {
        let srv = self.dcs.srv.as_ref().filter(|s| !s.servers.is_empty())?;
        let Some(url::Host::Domain(host)) = url.host() else {
            return None;
        };
        let port = url
            .port()
            .unwrap_or(if url.scheme() == "ldaps" { 636 } else { 389 });
        let looked_up = async {
            let resolver = srv.resolver().await.map_err(std::io::Error::other)?;
            let ips = tokio::time::timeout(srv.timeout, resolver.lookup_ip(format!("{host}.")))
                .await
                .map_err(|_| std::io::Error::new(std::io::ErrorKind::TimedOut, "DNS timed out"))?
                .map_err(std::io::Error::other)?;
            Ok(ips.iter().map(|ip| SocketAddr::new(ip, port)).collect())
        };
        Some(looked_up.await)
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn t(priority: u16, weight: u16, host: &str) -> SrvTarget {
        SrvTarget {
            priority,
            weight,
            port: 389,
            host: host.into(),
        }
    }

    #[test]
    fn targets_go_by_priority_then_heaviest_weight_without_repeats_or_dots() {
        let cases = [
            (vec![t(0, 100, "b."), t(0, 100, "A.")], vec!["a", "b"]),
            (
                vec![t(10, 100, "far"), t(0, 1, "near")],
                vec!["near", "far"],
            ),
            (
                vec![t(0, 10, "light"), t(0, 90, "heavy")],
                vec!["heavy", "light"],
            ),
            (vec![t(0, 0, "."), t(0, 0, "dc1")], vec!["dc1"]),
            (vec![t(0, 0, "DC1."), t(5, 0, "dc1")], vec!["dc1"]),
            (vec![], vec![]),
        ];
        for (input, want) in cases {
            let got: Vec<String> = srv_order(input.clone())
                .into_iter()
                .map(|t| t.host)
                .collect();
            assert_eq!(got, want, "{input:?}");
        }
    }

    #[test]
    fn a_located_dc_takes_the_configured_scheme_and_port_else_ldaps_636() {
        let dc = SrvTarget {
            port: 389,
            ..t(0, 0, "dc2.corp.example")
        };
        assert_eq!(
            url_of(&dc, None, false).unwrap(),
            "ldaps://dc2.corp.example:636"
        );
        assert_eq!(
            url_of(&dc, None, true).unwrap(),
            "ldap://dc2.corp.example:389"
        );
        assert_eq!(
            url_of(&dc, Some("ldaps://dc1.corp.example:3269"), false).unwrap(),
            "ldaps://dc2.corp.example:3269"
        );
    }
}

//! Every DC of the domain, not only the ones in `ldap.urls`.
//!
//! `lastLogon` and `badPasswordTime` are not replicated: each DC keeps its own, and "must be
//! retrieved from every domain controller in the domain" (Microsoft Learn, Last-Logon
//! attribute). Real domains have more DCs than anyone lists (branch DCs, RODCs, DCs added
//! later), and a machine logs on to whichever DC its locator picks. So the per-DC reads go to
//! the configured DCs plus every DC the directory lists: the computer objects with
//! `SERVER_TRUST_ACCOUNT` (writable DCs) or `PARTIAL_SECRETS_ACCOUNT` (RODCs) under the
//! domain's `defaultNamingContext` (not `base_dn`, which may be an OU), reached by their
//! `dNSHostName` with the configured URLs' scheme and port, over the same TLS and CA.
//!
//! A configured DC is recognised in the list by the `dnsHostName` its rootDSE gives, or by
//! its URL's host. The list is read at most once per `discovery_refresh_secs`; a failed read
//! is retried on the next lookup and leaves the previous list in use.

use std::sync::Arc;
use std::time::Instant;

use ldap3::Scope;
use url::Url;

use super::client::DcConnection;
use super::{Directory, DirectoryError, search};
use crate::ad::{DcCoverage, DcDiscovery, Uac};

/// Writable DCs and RODCs (MS-ADTS 2.2.16 userAccountControl bits, matched with the
/// LDAP_MATCHING_RULE_BIT_AND rule).
pub const DC_FILTER: &str = "(&(objectCategory=computer)(|(userAccountControl:1.2.840.113556.1.4.803:=8192)(userAccountControl:1.2.840.113556.1.4.803:=67108864)))";

/// One DC the directory lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedDc {
    /// `dNSHostName`, lower case.
    pub host: String,
    pub read_only: bool,
}

/// The last discovery.
pub(super) struct Discovered {
    pub at: Instant,
    /// DCs to read beyond the configured ones (not excluded), with their connections.
    pub extra: Vec<Arc<DcConnection>>,
    /// Listed DCs left out by `exclude_dcs`.
    pub excluded: Vec<String>,
    /// Why the last read failed (the previous list, if any, stays in use).
    pub error: Option<String>,
}

/// The URL for a discovered DC: the first configured URL's scheme and port, its host.
pub fn url_for(template: &str, host: &str) -> Option<String> {
    let mut url = Url::parse(template).ok()?;
    url.set_host(Some(host)).ok()?;
    url.set_path("");
    url.set_query(None);
    Some(url.to_string().trim_end_matches('/').to_string())
}

/// The listed DCs that are not configured (by host name), split into read and excluded.
pub fn split_listed(
    listed: &[ListedDc],
    configured_hosts: &[String],
    exclude: &[String],
) -> (Vec<ListedDc>, Vec<String>) {
    let is = |a: &str, b: &str| {
        a.trim_end_matches('.')
            .eq_ignore_ascii_case(b.trim_end_matches('.'))
    };
    let mut read = Vec::new();
    let mut excluded = Vec::new();
    for dc in listed {
        if configured_hosts.iter().any(|h| is(h, &dc.host)) {
            continue;
        }
        if exclude.iter().any(|h| is(h, &dc.host)) {
            excluded.push(dc.host.clone());
        } else {
            read.push(dc.clone());
        }
    }
    (read, excluded)
}

/// The domain's names: DNS (from `defaultNamingContext`) and NetBIOS (its crossRef's
/// `nETBIOSName` under `CN=Partitions`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DomainNames {
    pub dns: String,
    pub netbios: Option<String>,
}

impl DomainNames {
    /// Whether `name` (`CORP` or `corp.example`) names this domain.
    pub fn is(&self, name: &str) -> bool {
        name.eq_ignore_ascii_case(&self.dns)
            || self
                .netbios
                .as_deref()
                .is_some_and(|n| n.eq_ignore_ascii_case(name))
    }
}

impl Directory {
    /// Whether `name` (`CORP` or `corp.example`) names this domain: its configured names, or,
    /// for a single `[ldap]` without `name`, the NetBIOS name read from the directory.
    pub async fn is_named(&self, name: &str) -> Result<bool, DirectoryError> {
        let name = name.trim_end_matches('.');
        let netbios = self.configured_netbios();
        if name.eq_ignore_ascii_case(self.dns_name())
            || netbios.is_some_and(|n| n.eq_ignore_ascii_case(name))
        {
            return Ok(true);
        }
        if netbios.is_some() {
            return Ok(false);
        }
        Ok(self.domain_names().await?.is(name))
    }

    /// This domain's DNS and NetBIOS names, read once.
    pub async fn domain_names(&self) -> Result<DomainNames, DirectoryError> {
        if let Some(names) = self.domain_names.lock().await.clone() {
            return Ok(names);
        }
        let (_, names) = self
            .with_first_dc(|mut ldap| async move {
                let root = search::base_entry(
                    &mut ldap,
                    "",
                    vec!["defaultNamingContext", "configurationNamingContext"],
                )
                .await?;
                let get = |a: &str| {
                    root.as_ref()
                        .and_then(|e| super::computers::first(e, a).map(str::to_string))
                };
                let (Some(nc), Some(config)) = (
                    get("defaultNamingContext"),
                    get("configurationNamingContext"),
                ) else {
                    return Ok(None);
                };
                let filter = format!(
                    "(&(objectClass=crossRef)(nCName={}))",
                    ldap3::ldap_escape(nc.as_str())
                );
                let refs = search::entries(
                    &mut ldap,
                    &format!("CN=Partitions,{config}"),
                    Scope::OneLevel,
                    &filter,
                    vec!["nETBIOSName"],
                )
                .await?;
                let netbios = refs
                    .iter()
                    .find_map(|e| super::computers::first(e, "nETBIOSName").map(str::to_string));
                Ok(crate::ad::dn::dn_domain(&nc).map(|dns| DomainNames { dns, netbios }))
            })
            .await?;
        let names =
            names.ok_or_else(|| DirectoryError::Protocol("rootDSE names no domain".into()))?;
        *self.domain_names.lock().await = Some(names.clone());
        Ok(names)
    }

    /// Every DC the per-DC reads go to: the configured ones in order, then the discovered
    /// ones (refreshed when stale), with what the diagnosis must know about their coverage.
    pub(super) async fn per_dc_set(&self) -> (Vec<Arc<DcConnection>>, DcCoverage) {
        let mut all: Vec<Arc<DcConnection>> = self
            .preferred()
            .await
            .map(|l| l.to_vec())
            .unwrap_or_default();
        if !self.discover_dcs {
            return (
                all,
                DcCoverage {
                    discovery: DcDiscovery::Off,
                    excluded: Vec::new(),
                },
            );
        }
        let mut state = self.discovery.lock().await;
        // A failed read is tried again after the DC rest time, not on every lookup.
        let stale = state.as_ref().is_none_or(|d| {
            let fresh_for = if d.error.is_some() {
                self.retry_after
            } else {
                self.discovery_refresh
            };
            d.at.elapsed() >= fresh_for
        });
        if stale {
            let previous = state.take();
            *state = Some(self.discover(previous).await);
        }
        let Some(d) = state.as_ref() else {
            return (all, DcCoverage::default());
        };
        all.extend(d.extra.iter().cloned());
        let discovery = match &d.error {
            Some(error) => DcDiscovery::Failed {
                error: error.clone(),
            },
            None => DcDiscovery::Complete,
        };
        (
            all,
            DcCoverage {
                discovery,
                excluded: d.excluded.clone(),
            },
        )
    }

    /// The URLs of every DC the per-DC reads go to (configured first).
    pub async fn per_dc_urls(&self) -> Vec<String> {
        let (dcs, _) = self.per_dc_set().await;
        dcs.iter().map(|d| d.url.clone()).collect()
    }

    async fn discover(&self, previous: Option<Discovered>) -> Discovered {
        let keep = |error: String| {
            tracing::warn!(error = %error, "DC discovery failed; per-DC reads use the DCs known so far");
            match previous.as_ref() {
                Some(p) => Discovered {
                    at: Instant::now(),
                    extra: p.extra.clone(),
                    excluded: p.excluded.clone(),
                    error: Some(error),
                },
                None => Discovered {
                    at: Instant::now(),
                    extra: Vec::new(),
                    excluded: Vec::new(),
                    error: Some(error),
                },
            }
        };
        let listed = match self.list_dcs().await {
            Ok(l) => l,
            Err(e) => return keep(e.to_string()),
        };
        let configured_hosts = self.configured_hosts().await;
        let (read, excluded) = split_listed(&listed, &configured_hosts, &self.exclude_dcs);
        let template = self
            .dcs
            .now()
            .first()
            .map(|d| d.url.clone())
            .unwrap_or_default();
        let old: Vec<Arc<DcConnection>> = previous.map(|p| p.extra).unwrap_or_default();
        let extra = read
            .iter()
            .filter_map(|dc| url_for(&template, &dc.host))
            .map(|url| match old.iter().find(|c| c.url == url) {
                Some(c) => c.clone(),
                None => Arc::new(DcConnection::new(url)),
            })
            .collect();
        Discovered {
            at: Instant::now(),
            extra,
            excluded,
            error: None,
        }
    }

    /// The DCs the domain lists, from the first configured DC that answers.
    async fn list_dcs(&self) -> Result<Vec<ListedDc>, DirectoryError> {
        let (_, entries) = self
            .with_first_dc(|mut ldap| async move {
                let root = search::base_entry(&mut ldap, "", vec!["defaultNamingContext"]).await?;
                let Some(nc) = root.as_ref().and_then(|e| {
                    e.attrs
                        .get("defaultNamingContext")
                        .and_then(|v| v.first().cloned())
                }) else {
                    return Ok(None);
                };
                search::entries(
                    &mut ldap,
                    &nc,
                    Scope::Subtree,
                    DC_FILTER,
                    vec!["dNSHostName", "userAccountControl"],
                )
                .await
                .map(Some)
            })
            .await?;
        let entries = entries.ok_or_else(|| {
            DirectoryError::Protocol("rootDSE has no defaultNamingContext".into())
        })?;
        Ok(entries
            .iter()
            .filter_map(|e| {
                let host = super::computers::first(e, "dNSHostName")?.to_ascii_lowercase();
                let uac = super::computers::first(e, "userAccountControl")
                    .and_then(|v| v.trim().parse::<i64>().ok())
                    .map_or(0, |n| n as u32);
                Some(ListedDc {
                    host,
                    read_only: Uac(uac).has(Uac::PARTIAL_SECRETS_ACCOUNT),
                })
            })
            .collect())
    }

    /// What each configured DC calls itself (rootDSE `dnsHostName`, remembered once read),
    /// plus the configured URLs' own host names.
    async fn configured_hosts(&self) -> Vec<String> {
        let dcs = self.dcs.now();
        let results = self
            .on_dcs(&dcs, |mut ldap| async move {
                let root = search::base_entry(&mut ldap, "", vec!["dnsHostName"]).await?;
                Ok(root.and_then(|e| e.attrs.get("dnsHostName").and_then(|v| v.first().cloned())))
            })
            .await;
        let mut hosts = Vec::new();
        for (dc, (_, result)) in dcs.iter().zip(results) {
            if let Ok(Some(h)) = result {
                *dc.host_name.lock().await = Some(h);
            }
            if let Some(h) = dc.host_name.lock().await.clone() {
                hosts.push(h);
            }
            if let Some(h) = Url::parse(&dc.url)
                .ok()
                .and_then(|u| u.host_str().map(str::to_string))
            {
                hosts.push(h);
            }
        }
        hosts
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn dc(host: &str) -> ListedDc {
        ListedDc {
            host: host.into(),
            read_only: false,
        }
    }

    #[test]
    fn discovered_dcs_take_the_configured_scheme_and_port() {
        let cases = [
            ("ldaps://127.0.0.2", "dc3.lab.test", "ldaps://dc3.lab.test"),
            ("ldaps://dc1.corp:3269", "dc3.corp", "ldaps://dc3.corp:3269"),
            ("ldap://dc1.corp", "dc3.corp", "ldap://dc3.corp"),
            (
                "ldaps://dc1.corp/",
                "branch-dc.corp",
                "ldaps://branch-dc.corp",
            ),
        ];
        for (template, host, want) in cases {
            assert_eq!(url_for(template, host).as_deref(), Some(want), "{template}");
        }
    }

    #[test]
    fn configured_and_excluded_dcs_are_split_off() {
        let listed = [
            dc("dc1.corp"),
            dc("dc2.corp"),
            dc("dc3.corp"),
            dc("RODC.corp"),
        ];
        let (read, excluded) = split_listed(
            &listed,
            &["DC1.corp.".to_string(), "127.0.0.2".to_string()],
            &["rodc.CORP".to_string()],
        );
        assert_eq!(read, vec![dc("dc2.corp"), dc("dc3.corp")]);
        assert_eq!(excluded, vec!["RODC.corp".to_string()]);
    }
}

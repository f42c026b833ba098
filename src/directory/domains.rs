//! The managed domains (`[[domains]]`): one [`Directory`] each, found by DNS name, by the
//! `DC=` parts of a DN (an object's DN names its domain, so a token's or a scope's does too),
//! or by what a person typed: `CORP\PC01`, `pc01.corp.example` or a bare `PC01`, which is
//! looked for in every domain at once.

use std::sync::Arc;

use super::computers::{ComputerMatch, MAX_MATCHES, Matches, merge_matches};
use super::filter::{ComputerQuery, MatchMode};
use super::{Directory, DirectoryError};
use crate::ad::ComputerAccount;
use crate::config::LdapConfig;

/// Every managed domain's directory, in configured order.
pub struct Domains {
    list: Vec<Arc<Directory>>,
}

/// A computer account and the domain it was found in.
#[derive(Clone)]
pub struct InDomain {
    pub directory: Arc<Directory>,
    pub account: ComputerAccount,
}

/// What looking for a typed name in the domains it may be in found.
pub enum Found {
    None,
    One(Box<InDomain>),
    /// The same name in several domains: the person chooses, nobody guesses.
    Several(Vec<InDomain>),
}

impl Domains {
    /// One directory per configured domain (at least one: validation requires it).
    pub fn new(cfgs: &[LdapConfig]) -> Result<Self, DirectoryError> {
        let list = cfgs
            .iter()
            .map(|c| Directory::new(c).map(Arc::new))
            .collect::<Result<Vec<_>, _>>()?;
        if list.is_empty() {
            return Err(DirectoryError::Config("no domain is configured".into()));
        }
        Ok(Self { list })
    }

    pub fn iter(&self) -> impl Iterator<Item = &Arc<Directory>> {
        self.list.iter()
    }

    pub fn len(&self) -> usize {
        self.list.len()
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The first configured domain: where a name that exists nowhere is reported from
    /// (its tombstones), when the name itself names no domain.
    pub fn first(&self) -> &Arc<Directory> {
        // `new` refuses an empty list.
        #[allow(clippy::indexing_slicing)]
        &self.list[0]
    }

    /// The domain whose DNS name is `dns` (any case, a final dot ignored).
    pub fn get(&self, dns: &str) -> Option<&Arc<Directory>> {
        let dns = dns.trim_end_matches('.');
        self.list
            .iter()
            .find(|d| d.dns_name().eq_ignore_ascii_case(dns))
    }

    /// The domain an object at `dn` is in (its `DC=` parts); none when no managed domain is.
    pub fn of_dn(&self, dn: &str) -> Option<&Arc<Directory>> {
        self.get(&crate::ad::dn::dn_domain(dn)?)
    }

    /// The domain an object at `dn` is in, or [`DirectoryError::Unmanaged`].
    pub fn holding(&self, dn: &str) -> Result<&Arc<Directory>, DirectoryError> {
        self.of_dn(dn).ok_or_else(|| {
            DirectoryError::Unmanaged(crate::ad::dn::dn_domain(dn).unwrap_or_default())
        })
    }

    /// The domains a typed name may be in: the one `CORP\` names; for a DNS host name the
    /// domain it ends in (every domain when it ends in none); for a bare name every domain.
    pub async fn candidates(
        &self,
        q: &ComputerQuery,
    ) -> Result<Vec<&Arc<Directory>>, DirectoryError> {
        match q {
            ComputerQuery::Qualified { domain, .. } => {
                let mut named = Vec::new();
                for d in &self.list {
                    if d.is_named(domain).await? {
                        named.push(d);
                    }
                }
                Ok(named)
            }
            ComputerQuery::DnsName(host) => {
                let within: Vec<&Arc<Directory>> = self
                    .list
                    .iter()
                    .filter(|d| host.ends_with(&format!(".{}", d.dns_name())))
                    .collect();
                Ok(if within.is_empty() {
                    self.list.iter().collect()
                } else {
                    within
                })
            }
            ComputerQuery::Name(_) => Ok(self.list.iter().collect()),
        }
    }

    /// The computer `q` names, looked for in every domain it may be in at once. When a domain
    /// that might hold it does not answer, that is the answer (an error), not the others'
    /// result: a bare name found in one domain could be in the silent one too.
    pub async fn find(&self, q: &ComputerQuery) -> Result<Found, DirectoryError> {
        let candidates = self.candidates(q).await?;
        let results =
            futures_util::future::join_all(candidates.iter().map(|d| d.find_computer(q))).await;
        let mut found = Vec::new();
        for (d, result) in candidates.into_iter().zip(results) {
            if let Some(account) = result? {
                found.push(InDomain {
                    directory: d.clone(),
                    account,
                });
            }
        }
        Ok(match found.len() {
            0 => Found::None,
            1 => found.pop().map_or(Found::None, |x| Found::One(Box::new(x))),
            _ => Found::Several(found),
        })
    }

    /// The one computer `q` names ([`Self::find`]); a name in several domains is
    /// [`DirectoryError::Ambiguous`]: the caller must name the domain.
    pub async fn find_unique(&self, q: &ComputerQuery) -> Result<Option<InDomain>, DirectoryError> {
        match self.find(q).await? {
            Found::None => Ok(None),
            Found::One(x) => Ok(Some(*x)),
            Found::Several(all) => Err(DirectoryError::Ambiguous(format!(
                "{} (in {}: name the domain)",
                q.display(),
                all.iter()
                    .map(|x| x.directory.dns_name())
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    /// Computers matching `q` under `bases` (scopes, each in the domain its DN names; one
    /// in no managed domain finds nothing), searched at once in every domain `q` may be in,
    /// merged: `keep` has the final say on each line.
    pub async fn search_under(
        &self,
        bases: &[String],
        q: &ComputerQuery,
        mode: MatchMode,
        keep: impl Fn(&ComputerMatch) -> bool,
    ) -> Result<Matches, DirectoryError> {
        let domains = self.candidates(q).await?;
        let searches = domains.into_iter().map(|d| {
            let mine: Vec<String> = bases
                .iter()
                .filter(|b| self.of_dn(b).is_some_and(|o| Arc::ptr_eq(o, d)))
                .cloned()
                .collect();
            async move {
                if mine.is_empty() {
                    return Ok(Vec::new());
                }
                d.batches_under(&mine, q, mode).await
            }
        });
        let batches = futures_util::future::try_join_all(searches).await?;
        Ok(merge_matches(
            batches.into_iter().flatten().collect(),
            keep,
            MAX_MATCHES,
        ))
    }
}

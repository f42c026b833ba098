//! Reading computer accounts: prefix search (paged), the account itself, what each DC holds of
//! it, and tombstones of the same name. Entries become the pure types of [`crate::ad`].

use std::collections::HashMap;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapError, Scope, SearchEntry};
use serde::Serialize;

use super::filter::{ComputerQuery, MatchMode};
use super::{Directory, DirectoryError, search};
use crate::ad::replmeta::{
    ATTID_PWD_LAST_SET, ATTID_UNICODE_PWD, decode_repl_property_metadata, find,
    is_repl_attribute_metadata_name, merge, parse_msds_repl_attribute_metadata,
};
use crate::ad::sid::{decode_guid, decode_sid};
use crate::ad::time::{parse_filetime, parse_generalized_time};
use crate::ad::{ComputerAccount, DcAccountView, DcCoverage, DcOutcome, DcView, EncTypes, Uac};

/// AD caps a page at 1000 entries (MaxPageSize); Samba does not, we page anyway.
pub const PAGE_SIZE: i32 = 1000;
/// The most prefix matches listed.
pub const MAX_MATCHES: usize = 50;

/// The attributes read for a computer account.
pub const ACCOUNT_ATTRS: &[&str] = &[
    "objectGUID",
    "objectSid",
    "sAMAccountName",
    "dNSHostName",
    "operatingSystem",
    "operatingSystemVersion",
    "whenCreated",
    "whenChanged",
    "userAccountControl",
    "msDS-SupportedEncryptionTypes",
    "pwdLastSet",
    "lastLogonTimestamp",
    "adminCount",
    "msDS-KeyVersionNumber",
    "primaryGroupID",
    "msDS-AllowedToDelegateTo",
];

/// How long a DNS name the unindexed fallback did not find is not searched for again, and
/// how many such names are remembered.
const FALLBACK_MISS_TTL: std::time::Duration = std::time::Duration::from_secs(60);
const FALLBACK_MISS_CAP: usize = 10_000;

/// The attributes read from every DC (the non-replicated ones and replication metadata).
pub const PER_DC_ATTRS: &[&str] = &[
    "lastLogon",
    "pwdLastSet",
    "badPasswordTime",
    "badPwdCount",
    "userAccountControl",
    "replPropertyMetaData",
    "msDS-ReplAttributeMetaData",
];

/// The most entries read from one scope's search; past it the count says "more than".
pub const SCOPE_LIMIT: usize = 500;

const MATCH_ATTRS: &[&str] = &["sAMAccountName", "dNSHostName", "operatingSystem"];

/// One line of a prefix search.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ComputerMatch {
    /// The NetBIOS name (`sAMAccountName` without its `$`).
    pub name: String,
    pub dn: String,
    /// Its domain's DNS name (the `DC=` parts of `dn`, lower case).
    pub domain: String,
    pub dns_host_name: Option<String>,
    pub operating_system: Option<String>,
}

/// What one scope's search found: at most [`SCOPE_LIMIT`], and whether it stopped there.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    pub found: Vec<ComputerMatch>,
    pub more: bool,
}

/// A listing: the first matches by name, and how many there are in all.
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct Matches {
    pub shown: Vec<ComputerMatch>,
    /// Distinct matches kept; a lower bound when `more` is set.
    pub total: usize,
    /// Some scope's search stopped at its limit: there are more than `total`.
    pub more: bool,
}

impl Matches {
    /// Whether the list leaves matches out (cut to the first, or a scope stopped early).
    pub fn truncated(&self) -> bool {
        self.more || self.shown.len() < self.total
    }
}

/// Merge the scopes' batches: drop what `keep` refuses (the policy's final say), one line per
/// DN (overlapping scopes find the same object twice), sorted by name, cut to `max`.
pub fn merge_matches(
    batches: Vec<Batch>,
    keep: impl Fn(&ComputerMatch) -> bool,
    max: usize,
) -> Matches {
    let more = batches.iter().any(|b| b.more);
    let mut all: Vec<ComputerMatch> = batches
        .into_iter()
        .flat_map(|b| b.found)
        .filter(|m| keep(m))
        .collect();
    all.sort_by(|a, b| {
        a.name
            .cmp(&b.name)
            .then_with(|| a.dn.to_ascii_lowercase().cmp(&b.dn.to_ascii_lowercase()))
    });
    all.dedup_by(|a, b| a.dn.eq_ignore_ascii_case(&b.dn));
    let total = all.len();
    all.truncate(max);
    Matches {
        shown: all,
        total,
        more,
    }
}

fn match_of(e: &SearchEntry) -> Option<ComputerMatch> {
    Some(ComputerMatch {
        name: first(e, "sAMAccountName")?
            .trim_end_matches('$')
            .to_string(),
        dn: e.dn.clone(),
        domain: crate::ad::dn::dn_domain(&e.dn)
            .unwrap_or_default()
            .to_ascii_lowercase(),
        dns_host_name: first(e, "dNSHostName").map(str::to_string),
        operating_system: first(e, "operatingSystem").map(str::to_string),
    })
}

pub(super) fn first<'a>(e: &'a SearchEntry, name: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// A binary attribute's first value (see [`all_bytes`]).
pub(super) fn bytes(e: &SearchEntry, name: &str) -> Option<Vec<u8>> {
    all_bytes(e, name).into_iter().next()
}

/// Every value of a binary attribute: ldap3 files one under `attrs` when it happens to be
/// valid UTF-8, so both maps are read, `bin_attrs` first.
pub(super) fn all_bytes(e: &SearchEntry, name: &str) -> Vec<Vec<u8>> {
    let named = |k: &String| k.eq_ignore_ascii_case(name);
    e.bin_attrs
        .iter()
        .filter(|(k, _)| named(k))
        .flat_map(|(_, v)| v.iter().cloned())
        .chain(
            e.attrs
                .iter()
                .filter(|(k, _)| named(k))
                .flat_map(|(_, v)| v.iter().map(|s| s.as_bytes().to_vec())),
        )
        .collect()
}

fn bad(attr: &str, e: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Protocol(format!("{attr}: {e}"))
}

fn opt_time(e: &SearchEntry, attr: &str) -> Result<Option<time::OffsetDateTime>, DirectoryError> {
    first(e, attr)
        .map(|v| parse_filetime(v).map_err(|x| bad(attr, x)))
        .transpose()
        .map(Option::flatten)
}

fn opt_u32(e: &SearchEntry, attr: &str) -> Result<Option<u32>, DirectoryError> {
    // AD returns some flags as signed 32-bit decimals.
    first(e, attr)
        .map(|v| {
            v.trim()
                .parse::<i64>()
                .map(|n| n as u32)
                .map_err(|x| bad(attr, x))
        })
        .transpose()
}

impl TryFrom<&SearchEntry> for ComputerAccount {
    type Error = DirectoryError;

    fn try_from(e: &SearchEntry) -> Result<Self, Self::Error> {
        let guid = bytes(e, "objectGUID").ok_or_else(|| bad("objectGUID", "missing"))?;
        let when = |attr: &str| {
            first(e, attr)
                .ok_or_else(|| bad(attr, "missing"))
                .and_then(|v| parse_generalized_time(v).map_err(|x| bad(attr, x)))
        };
        Ok(Self {
            dn: e.dn.clone(),
            object_guid: decode_guid(&guid).map_err(|x| bad("objectGUID", x))?,
            object_sid: bytes(e, "objectSid").and_then(|b| decode_sid(&b).ok()),
            sam_account_name: first(e, "sAMAccountName")
                .ok_or_else(|| bad("sAMAccountName", "missing"))?
                .to_string(),
            dns_host_name: first(e, "dNSHostName").map(str::to_string),
            operating_system: first(e, "operatingSystem").map(str::to_string),
            operating_system_version: first(e, "operatingSystemVersion").map(str::to_string),
            when_created: when("whenCreated")?,
            when_changed: when("whenChanged")?,
            uac: Uac(opt_u32(e, "userAccountControl")?.unwrap_or(0)),
            supported_enc_types: opt_u32(e, "msDS-SupportedEncryptionTypes")?.map(EncTypes),
            pwd_last_set: opt_time(e, "pwdLastSet")?,
            last_logon_timestamp: opt_time(e, "lastLogonTimestamp")?,
            admin_count: opt_u32(e, "adminCount")?.unwrap_or(0) != 0,
            key_version: opt_u32(e, "msDS-KeyVersionNumber")?,
            privilege: crate::ad::tier0::Privilege {
                primary_group_id: opt_u32(e, "primaryGroupID")?,
                allowed_to_delegate_to: e
                    .attrs
                    .iter()
                    .find(|(k, _)| k.eq_ignore_ascii_case("msDS-AllowedToDelegateTo"))
                    .map(|(_, v)| v.clone())
                    .unwrap_or_default(),
                ..Default::default()
            },
        })
    }
}

pub(super) fn dc_view_of(e: &SearchEntry) -> Result<DcAccountView, DirectoryError> {
    // Windows constructs msDS-ReplAttributeMetaData (XML; maybe range-limited, maybe without
    // the password entries for a non-admin); Samba only returns the binary blob. Both are
    // merged, the binary form preferred for unicodePwd and pwdLastSet.
    let xml: Vec<String> = e
        .attrs
        .iter()
        .filter(|(k, _)| is_repl_attribute_metadata_name(k))
        .flat_map(|(_, v)| v.iter().cloned())
        .collect();
    let from_xml = parse_msds_repl_attribute_metadata(&xml)
        .map_err(|x| bad("msDS-ReplAttributeMetaData", x))?;
    let from_blob = match bytes(e, "replPropertyMetaData") {
        Some(blob) => {
            decode_repl_property_metadata(&blob).map_err(|x| bad("replPropertyMetaData", x))?
        }
        None => Vec::new(),
    };
    let metas = merge(from_xml, from_blob);
    Ok(DcAccountView {
        last_logon: opt_time(e, "lastLogon")?,
        pwd_last_set: opt_time(e, "pwdLastSet")?,
        bad_password_time: opt_time(e, "badPasswordTime")?,
        bad_pwd_count: opt_u32(e, "badPwdCount")?,
        unicode_pwd: find(&metas, ATTID_UNICODE_PWD).cloned(),
        pwd_last_set_meta: find(&metas, ATTID_PWD_LAST_SET).cloned(),
        uac: opt_u32(e, "userAccountControl")?.map(Uac),
    })
}

async fn paged(
    ldap: &mut Ldap,
    base: &str,
    filter: &str,
    attrs: Vec<&str>,
    limit: usize,
) -> Result<Vec<SearchEntry>, LdapError> {
    let adapters: Vec<Box<dyn Adapter<'_, _, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(PAGE_SIZE)),
    ];
    let mut search = ldap
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
        .await?;
    let mut out = Vec::new();
    while let Some(entry) = search.next().await? {
        out.push(SearchEntry::construct(entry));
        if out.len() >= limit {
            // Enough: tell the server to stop rather than read the rest.
            let handle = search.ldap_handle();
            let id = handle.last_id();
            let _ = handle.abandon(id).await;
            return Ok(out);
        }
    }
    search.finish().await.success()?;
    Ok(out)
}

impl Directory {
    /// Computers matching the query under each of `bases` (searched at once, each read up to
    /// [`SCOPE_LIMIT`] entries), for [`merge_matches`]. A base that does not exist (an OU
    /// since removed) finds nothing rather than failing the listing.
    pub async fn batches_under(
        &self,
        bases: &[String],
        q: &ComputerQuery,
        mode: MatchMode,
    ) -> Result<Vec<Batch>, DirectoryError> {
        let filter = q.listing_filter(mode);
        let searches = bases.iter().map(|base| {
            let filter = filter.clone();
            async move {
                let (_, entries) = self
                    .with_first_dc(|mut ldap| {
                        let (filter, base) = (filter.clone(), base.clone());
                        async move {
                            // One more than the limit: a full batch proves there are more.
                            match paged(
                                &mut ldap,
                                &base,
                                &filter,
                                MATCH_ATTRS.to_vec(),
                                SCOPE_LIMIT + 1,
                            )
                            .await
                            {
                                Err(LdapError::LdapResult { result }) if result.rc == 32 => {
                                    Ok(Vec::new())
                                }
                                other => other,
                            }
                        }
                    })
                    .await?;
                let more = entries.len() > SCOPE_LIMIT;
                let found: Vec<ComputerMatch> = entries
                    .iter()
                    .take(SCOPE_LIMIT)
                    .filter_map(match_of)
                    .collect();
                Ok::<_, DirectoryError>(Batch { found, more })
            }
        });
        futures_util::future::try_join_all(searches).await
    }

    /// The computer that exactly matches the query, from the first DC that answers. The
    /// query's filters are tried in order until one finds something (see
    /// [`ComputerQuery::exact_filters`]).
    pub async fn find_computer(
        &self,
        q: &ComputerQuery,
    ) -> Result<Option<ComputerAccount>, DirectoryError> {
        let base = self.base_dn().to_string();
        let mut entries = Vec::new();
        let key = q.display().to_ascii_lowercase();
        for (i, filter) in q.exact_filters().into_iter().enumerate() {
            // The unindexed fallback (a DNS name found by nothing indexed) is not run again
            // for a name it just failed to find (security review L-4).
            if i > 0 && self.fallback_missed(&key).await {
                break;
            }
            let (_, found) = self
                .with_first_dc(|mut ldap| {
                    let (filter, base) = (filter.clone(), base.clone());
                    // An exact name matches one object: a plain search (Samba pays ~5x for
                    // paging).
                    async move {
                        search::entries(
                            &mut ldap,
                            &base,
                            Scope::Subtree,
                            &filter,
                            ACCOUNT_ATTRS.to_vec(),
                        )
                        .await
                    }
                })
                .await?;
            entries = found;
            if !entries.is_empty() {
                break;
            }
            if i > 0 {
                self.remember_fallback_miss(key.clone()).await;
            }
        }
        let account = match entries.as_slice() {
            [] => return Ok(None),
            [one] => ComputerAccount::try_from(one)?,
            _ => return Err(DirectoryError::Ambiguous(q.display().to_string())),
        };
        // `OTHER\PC01` is not this domain's PC01 (several domains: issue #19).
        if let Some(domain) = q.domain()
            && !self.is_named(domain).await?
        {
            return Ok(None);
        }
        Ok(Some(account))
    }

    /// Whether the unindexed fallback search found nothing for `key` in the last minute.
    async fn fallback_missed(&self, key: &str) -> bool {
        let misses = self.fallback_misses.lock().await;
        misses
            .get(key)
            .is_some_and(|at| at.elapsed() < FALLBACK_MISS_TTL)
    }

    async fn remember_fallback_miss(&self, key: String) {
        let mut misses = self.fallback_misses.lock().await;
        if misses.len() >= FALLBACK_MISS_CAP {
            misses.retain(|_, at| at.elapsed() < FALLBACK_MISS_TTL);
            if misses.len() >= FALLBACK_MISS_CAP {
                misses.clear();
            }
        }
        misses.insert(key, std::time::Instant::now());
    }

    /// What every DC holds of the object at `dn` (its non-replicated attributes, its
    /// replication metadata), read from each DC at once.
    pub async fn dc_views(&self, dn: &str) -> (Vec<DcView>, DcCoverage) {
        let (results, coverage) = self
            .on_each_dc(|mut ldap| {
                let dn = dn.to_string();
                async move {
                    match search::base_entry(&mut ldap, &dn, PER_DC_ATTRS.to_vec()).await {
                        Err(LdapError::LdapResult { result }) if result.rc == 32 => Ok(None),
                        other => other,
                    }
                }
            })
            .await;
        let views = results
            .into_iter()
            .map(|(url, result)| DcView {
                dc: dc_label(&url),
                outcome: match result {
                    Ok(Some(entry)) => match dc_view_of(&entry) {
                        Ok(view) => DcOutcome::Found(view),
                        Err(e) => DcOutcome::Unreachable {
                            error: e.to_string(),
                        },
                    },
                    Ok(None) => DcOutcome::NotFound,
                    Err(e) => DcOutcome::Unreachable {
                        error: e.to_string(),
                    },
                },
            })
            .collect();
        (views, coverage)
    }

    /// Invocation id → DC label, for naming where a password change originated. Cached for
    /// ten minutes: a DC's invocation id changes only when it is restored.
    pub async fn invocation_ids(&self) -> HashMap<uuid::Uuid, String> {
        const TTL: std::time::Duration = std::time::Duration::from_secs(600);
        let mut cache = self.invocation_cache.lock().await;
        if let Some((at, map)) = cache.as_ref()
            && at.elapsed() < TTL
            && map.len() >= self.dc_count()
        {
            return map.clone();
        }
        let map = self.read_invocation_ids().await;
        *cache = Some((std::time::Instant::now(), map.clone()));
        map
    }

    async fn read_invocation_ids(&self) -> HashMap<uuid::Uuid, String> {
        let (results, _) = self
            .on_each_dc(|mut ldap| async move { dsa_identity(&mut ldap).await })
            .await;
        results
            .into_iter()
            .filter_map(|(url, r)| match r {
                Ok(Some((id, host))) => Some((id, host.unwrap_or_else(|| dc_label(&url)))),
                _ => None,
            })
            .collect()
    }
}

/// The DC's own invocation id (from its NTDS Settings object) and its DNS host name, as its
/// rootDSE names them; `None` when it does not say.
pub(super) async fn dsa_identity(
    ldap: &mut Ldap,
) -> Result<Option<(uuid::Uuid, Option<String>)>, LdapError> {
    let Some(root) = search::base_entry(ldap, "", vec!["dsServiceName", "dnsHostName"]).await?
    else {
        return Ok(None);
    };
    let (Some(ntds), host) = (
        first(&root, "dsServiceName").map(str::to_string),
        first(&root, "dnsHostName").map(str::to_string),
    ) else {
        return Ok(None);
    };
    Ok(search::base_entry(ldap, &ntds, vec!["invocationId"])
        .await?
        .and_then(|e| bytes(&e, "invocationId"))
        .and_then(|b| decode_guid(&b).ok())
        .map(|id| (id, host)))
}

/// A short label for a DC URL: its host (and port when not the default).
pub fn dc_label(url: &str) -> String {
    url::Url::parse(url)
        .ok()
        .and_then(|u| {
            let host = u.host_str()?.to_string();
            Some(match u.port() {
                Some(p) => format!("{host}:{p}"),
                None => host,
            })
        })
        .unwrap_or_else(|| url.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(name: &str, ou: &str) -> ComputerMatch {
        ComputerMatch {
            name: name.into(),
            dn: format!("CN={name},OU={ou},DC=lab"),
            domain: "lab".into(),
            dns_host_name: None,
            operating_system: None,
        }
    }

    fn names(m: &Matches) -> Vec<&str> {
        m.shown.iter().map(|x| x.name.as_str()).collect()
    }

    #[test]
    fn batches_merge_sorted_without_duplicates_and_cut_with_the_total() {
        let a = Batch {
            found: vec![m("P3", "A"), m("P1", "A")],
            more: false,
        };
        // The same object found through a second, overlapping scope (DN case differs).
        let mut dup = m("P1", "A");
        dup.dn = dup.dn.to_ascii_lowercase();
        let b = Batch {
            found: vec![m("P2", "B"), dup],
            more: false,
        };
        let all = merge_matches(vec![a.clone(), b.clone()], |_| true, 50);
        assert_eq!(names(&all), ["P1", "P2", "P3"]);
        assert_eq!((all.total, all.more, all.truncated()), (3, false, false));

        let cut = merge_matches(vec![a, b], |_| true, 2);
        assert_eq!(names(&cut), ["P1", "P2"]);
        assert_eq!((cut.total, cut.more, cut.truncated()), (3, false, true));
    }

    #[test]
    fn the_keep_filter_has_the_last_word_and_a_full_batch_means_more() {
        let a = Batch {
            found: vec![m("P1", "A"), m("P2", "SECRET")],
            more: true,
        };
        let r = merge_matches(vec![a, Batch::default()], |x| !x.dn.contains("SECRET"), 50);
        assert_eq!(names(&r), ["P1"]);
        assert_eq!(r.total, 1);
        assert!(
            r.more && r.truncated(),
            "a scope stopped early: more than 1"
        );
        assert_eq!(merge_matches(vec![], |_| true, 50), Matches::default());
    }
}

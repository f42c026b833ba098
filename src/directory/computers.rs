//! Reading computer accounts: prefix search (paged), the account itself, what each DC holds of
//! it, and tombstones of the same name. Entries become the pure types of [`super::model`].

use std::collections::HashMap;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, LdapError, Scope, SearchEntry};
use serde::Serialize;

use super::filter::ComputerQuery;
use super::model::{
    ComputerAccount, DcAccountView, DcCoverage, DcOutcome, DcView, EncTypes, Uac, decode_guid,
    decode_sid, parse_filetime, parse_generalized_time,
};
use super::replmeta::{
    ATTID_PWD_LAST_SET, ATTID_UNICODE_PWD, decode_repl_property_metadata, find,
    is_repl_attribute_metadata_name, merge, parse_msds_repl_attribute_metadata,
};
use super::{Directory, DirectoryError, search};

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
];

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

/// One line of a prefix search.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ComputerMatch {
    pub name: String,
    pub dn: String,
    pub dns_host_name: Option<String>,
    pub operating_system: Option<String>,
}

pub(super) fn first<'a>(e: &'a SearchEntry, name: &str) -> Option<&'a str> {
    e.attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first())
        .map(String::as_str)
}

/// A binary attribute: ldap3 files a value under `attrs` when it happens to be valid UTF-8.
pub(super) fn bytes(e: &SearchEntry, name: &str) -> Option<Vec<u8>> {
    e.bin_attrs
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .and_then(|(_, v)| v.first().cloned())
        .or_else(|| first(e, name).map(|s| s.as_bytes().to_vec()))
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
    /// Computers whose `sAMAccountName` or `dNSHostName` starts with the query, sorted by name.
    pub async fn search_prefix(
        &self,
        q: &ComputerQuery,
    ) -> Result<Vec<ComputerMatch>, DirectoryError> {
        let filter = q.prefix_filter();
        let base = self.base_dn().to_string();
        let (_, entries) = self
            .with_first_dc(|mut ldap| {
                let (filter, base) = (filter.clone(), base.clone());
                async move {
                    paged(
                        &mut ldap,
                        &base,
                        &filter,
                        vec!["sAMAccountName", "dNSHostName", "operatingSystem"],
                        MAX_MATCHES,
                    )
                    .await
                }
            })
            .await?;
        let mut out: Vec<ComputerMatch> = entries
            .iter()
            .filter_map(|e| {
                Some(ComputerMatch {
                    name: first(e, "sAMAccountName")?
                        .trim_end_matches('$')
                        .to_string(),
                    dn: e.dn.clone(),
                    dns_host_name: first(e, "dNSHostName").map(str::to_string),
                    operating_system: first(e, "operatingSystem").map(str::to_string),
                })
            })
            .collect();
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
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
        for filter in q.exact_filters() {
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
        }
        let account = match entries.as_slice() {
            [] => return Ok(None),
            [one] => ComputerAccount::try_from(one)?,
            _ => return Err(DirectoryError::Ambiguous(q.display().to_string())),
        };
        // `OTHER\PC01` is not this domain's PC01 (several domains: issue #19).
        if let Some(domain) = q.domain()
            && !self.domain_names().await?.is(domain)
        {
            return Ok(None);
        }
        Ok(Some(account))
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

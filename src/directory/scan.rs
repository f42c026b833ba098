//! The fleet scan's reads: every computer under a base, page by page, from one DC; what the
//! other DCs hold of chosen objects; and each DC's replication state, which says which
//! objects can differ between DCs at all.
//!
//! A scan holds one connection of its own per DC (not the interactive lookups' shared ones),
//! and never more than one page of entries: the paged search is consumed as a stream.

use std::collections::HashMap;

use ldap3::adapters::{Adapter, EntriesOnly, PagedResults};
use ldap3::{Ldap, Scope, SearchEntry, SearchStream};
use uuid::Uuid;

use super::client::classify;
use super::computers::{ACCOUNT_ATTRS, PER_DC_ATTRS, bytes, dc_view_of, dsa_identity};
use super::filter::{all_computers_filter, changed_since_filter, guids_filter};
use super::{Directory, DirectoryError};
use crate::ad::replmeta::decode_up_to_date_vector;
use crate::ad::sid::decode_guid;
use crate::ad::{ComputerAccount, DcAccountView};

/// How long a scan waits for any one reply (an entry, a page, a result) before giving up on
/// the DC. ldap3 arms a timeout for the next operation only, and a stream keeps it for each of
/// its replies and pages, so every scan read arms it just before it starts. Generous: a loaded
/// DC may take seconds per page; a DC that stopped answering still ends the attempt.
const REPLY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// What the scan reads of each computer: the account (`computers::ACCOUNT_ATTRS`) and the
/// scanning DC's own view (`computers::PER_DC_ATTRS`) in one entry, binary metadata only:
/// Windows constructs `msDS-ReplAttributeMetaData` per object, which a fleet-wide read does
/// not need.
pub fn scan_attrs() -> Vec<&'static str> {
    let mut attrs = ACCOUNT_ATTRS.to_vec();
    for a in PER_DC_ATTRS {
        if *a != "msDS-ReplAttributeMetaData" && !attrs.contains(a) {
            attrs.push(a);
        }
    }
    attrs
}

/// Objects per `objectGUID` search when reading other DCs (a filter of ~60 bytes each).
pub const GUID_BATCH: usize = 250;

/// One computer as the scanning DC holds it.
#[derive(Debug, Clone)]
pub struct Scanned {
    pub account: ComputerAccount,
    pub view: DcAccountView,
}

/// A computer entry that could not be decoded: reported by DN, never fatal to the scan.
#[derive(Debug, Clone)]
pub struct Undecodable {
    pub dn: String,
    pub error: String,
}

fn decode(e: &SearchEntry) -> Result<Scanned, Undecodable> {
    let undecodable = |err: DirectoryError| Undecodable {
        dn: e.dn.clone(),
        error: err.to_string(),
    };
    Ok(Scanned {
        account: ComputerAccount::try_from(e).map_err(undecodable)?,
        view: dc_view_of(e).map_err(undecodable)?,
    })
}

type Stream = SearchStream<'static, &'static str, Vec<&'static str>>;

/// A paged search over every computer under one base, on one DC.
pub struct ComputerScan {
    url: String,
    stream: Stream,
    done: bool,
}

impl ComputerScan {
    pub fn dc_url(&self) -> &str {
        &self.url
    }

    /// The next computers, at most `n`; an empty chunk once the search is complete. An error
    /// means the DC failed mid-scan (the caller decides whether to start over elsewhere).
    pub async fn next_chunk(
        &mut self,
        n: usize,
    ) -> Result<Vec<Result<Scanned, Undecodable>>, DirectoryError> {
        let mut out = Vec::with_capacity(n.min(1000));
        while out.len() < n && !self.done {
            match self.stream.next().await {
                Ok(Some(entry)) => out.push(decode(&SearchEntry::construct(entry))),
                Ok(None) => {
                    self.done = true;
                    // A search cut short (connection lost, size limit) ends with an error
                    // result: a partial scan must never pass for a complete one.
                    self.stream
                        .finish()
                        .await
                        .success()
                        .map_err(|e| classify(&self.url, e))?;
                }
                Err(e) => {
                    self.done = true;
                    return Err(classify(&self.url, e));
                }
            }
        }
        Ok(out)
    }
}

/// One DC's replication state for the domain partition.
#[derive(Debug, Clone, Default)]
pub struct ReplState {
    /// The DC's own invocation id.
    pub invocation_id: Option<Uuid>,
    /// Originating DC invocation id → the highest of its USNs this DC has received.
    pub cursors: HashMap<Uuid, u64>,
}

impl Directory {
    /// Start a paged scan of every computer under `base` on the DC at `url`, on a
    /// connection of its own.
    pub async fn scan_computers(
        &self,
        url: &str,
        base: &str,
        page_size: i32,
    ) -> Result<ComputerScan, DirectoryError> {
        let url = url.to_string();
        let mut ldap = self.connect_url(&url).await?;
        ldap.with_timeout(REPLY_TIMEOUT);
        let adapters: Vec<Box<dyn Adapter<'static, &'static str, Vec<&'static str>>>> = vec![
            Box::new(EntriesOnly::new()),
            Box::new(PagedResults::new(page_size)),
        ];
        let stream = ldap
            .streaming_search_with(
                adapters,
                base,
                Scope::Subtree,
                &all_computers_filter(),
                scan_attrs(),
            )
            .await
            .map_err(|e| classify(&url, e))?;
        Ok(ComputerScan {
            url,
            stream,
            done: false,
        })
    }
}

/// Run a paged search and hand each entry to `each` (memory: one page).
async fn for_each_paged(
    ldap: &mut Ldap,
    url: &str,
    base: &str,
    filter: &str,
    attrs: Vec<&str>,
    mut each: impl FnMut(SearchEntry),
) -> Result<(), DirectoryError> {
    let adapters: Vec<Box<dyn Adapter<'_, _, _>>> = vec![
        Box::new(EntriesOnly::new()),
        Box::new(PagedResults::new(1000)),
    ];
    let mut search = ldap
        .with_timeout(REPLY_TIMEOUT)
        .streaming_search_with(adapters, base, Scope::Subtree, filter, attrs)
        .await
        .map_err(|e| classify(url, e))?;
    while let Some(entry) = search.next().await.map_err(|e| classify(url, e))? {
        each(SearchEntry::construct(entry));
    }
    search
        .finish()
        .await
        .success()
        .map_err(|e| classify(url, e))?;
    Ok(())
}

/// What one DC holds of these objects, by `objectGUID`: the per-DC view of each object it has.
/// An object missing from the map is not on that DC.
pub async fn views_by_guid(
    ldap: &mut Ldap,
    url: &str,
    base: &str,
    guids: &[Uuid],
) -> Result<HashMap<Uuid, Result<DcAccountView, String>>, DirectoryError> {
    let mut out = HashMap::with_capacity(guids.len());
    let mut attrs: Vec<&str> = PER_DC_ATTRS.to_vec();
    attrs.push("objectGUID");
    for batch in guids.chunks(GUID_BATCH) {
        for_each_paged(ldap, url, base, &guids_filter(batch), attrs.clone(), |e| {
            if let Some(g) = bytes(&e, "objectGUID").and_then(|b| decode_guid(&b).ok()) {
                out.insert(g, dc_view_of(&e).map_err(|x| x.to_string()));
            }
        })
        .await?;
    }
    Ok(out)
}

/// The `objectGUID`s of computers under `base` changed on this DC after its USN `usn`.
pub async fn changed_since(
    ldap: &mut Ldap,
    url: &str,
    base: &str,
    usn: u64,
) -> Result<Vec<Uuid>, DirectoryError> {
    let mut out = Vec::new();
    for_each_paged(
        ldap,
        url,
        base,
        &changed_since_filter(usn),
        vec!["objectGUID"],
        |e| {
            if let Some(g) = bytes(&e, "objectGUID").and_then(|b| decode_guid(&b).ok()) {
                out.push(g);
            }
        },
    )
    .await?;
    Ok(out)
}

/// How many computers are under `base` (names only: the progress bar's estimate).
pub async fn count_computers(
    ldap: &mut Ldap,
    url: &str,
    base: &str,
) -> Result<u64, DirectoryError> {
    let mut n = 0u64;
    for_each_paged(
        ldap,
        url,
        base,
        &all_computers_filter(),
        vec!["1.1"],
        |_| n += 1,
    )
    .await?;
    Ok(n)
}

/// This DC's invocation id and up-to-dateness vector for the partition at `nc` (the domain).
pub async fn repl_state(ldap: &mut Ldap, url: &str, nc: &str) -> Result<ReplState, DirectoryError> {
    let identity = tokio::time::timeout(REPLY_TIMEOUT, dsa_identity(ldap))
        .await
        .map_err(|_| DirectoryError::Timeout { url: url.into() })?
        .map_err(|e| classify(url, e))?;
    let head = tokio::time::timeout(
        REPLY_TIMEOUT,
        super::search::base_entry(ldap, nc, vec!["replUpToDateVector"]),
    )
    .await
    .map_err(|_| DirectoryError::Timeout { url: url.into() })?
    .map_err(|e| classify(url, e))?;
    let cursors = match head.as_ref().and_then(|e| bytes(e, "replUpToDateVector")) {
        Some(blob) => decode_up_to_date_vector(&blob)
            .map_err(|e| DirectoryError::Protocol(format!("replUpToDateVector: {e}")))?
            .into_iter()
            .collect(),
        None => HashMap::new(),
    };
    Ok(ReplState {
        invocation_id: identity.map(|(id, _)| id),
        cursors,
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn scan_reads_account_and_per_dc_attributes_once_each() {
        let attrs = super::scan_attrs();
        assert!(attrs.contains(&"lastLogon") && attrs.contains(&"objectGUID"));
        assert!(!attrs.contains(&"msDS-ReplAttributeMetaData"));
        let mut unique = attrs.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), attrs.len());
    }
}

//! The audit log: typed events appended to a hash chain, and emitted as one JSON line each
//! on the `audit` tracing target for a SIEM.
//!
//! Each row stores the previous row's hash and `hash = SHA-256(prev_hash ‖ canonical(row))`,
//! where `canonical` is the JSON of the row's own fields (seq included) in a fixed field
//! order. Editing, deleting, inserting or reordering rows breaks a link that [`verify`] finds;
//! truncating the tail is caught by comparing with a chain head noted elsewhere.
//! No secret ever goes into an event: callers pass names, DNs and outcomes only.
//!
//! An unkeyed chain proves only that rows agree with each other: whoever can write the
//! database can rewrite a row and re-hash everything after it. So the head is also signed now
//! and then with the audit key, which is not in the database (`key.rs`, `checkpoint.rs`).

pub mod checkpoint;
pub mod key;

use sha2::{Digest, Sha256};

use crate::db::{AuditLink, AuditRow, LinkBody, NewAuditRow, Store, StoreError};

pub use crate::db::GENESIS;
pub use crate::db::vocab::{Action, Outcome};

/// The hash of a row at `seq` with predecessor `prev_hash`.
pub fn link_hash(prev_hash: &str, seq: i64, event: &NewAuditRow) -> String {
    /// The row's own fields in a fixed order (the same bytes `#[serde(flatten)]` would give,
    /// without its buffering: verification hashes a million rows).
    #[derive(serde::Serialize)]
    struct Canonical<'a> {
        seq: i64,
        #[serde(with = "time::serde::rfc3339")]
        at: time::OffsetDateTime,
        actor_sub: &'a Option<String>,
        actor_name: &'a Option<String>,
        actor_email: &'a Option<String>,
        actor_roles: &'a str,
        source_ip: &'a Option<String>,
        user_agent: &'a Option<String>,
        request_id: &'a Option<String>,
        action: &'a str,
        target_dn: &'a Option<String>,
        target_guid: &'a Option<String>,
        target_name: &'a Option<String>,
        outcome: &'a str,
        reason: &'a Option<String>,
        ticket: &'a Option<String>,
    }
    let e = event;
    let canonical = Canonical {
        seq,
        at: e.at,
        actor_sub: &e.actor_sub,
        actor_name: &e.actor_name,
        actor_email: &e.actor_email,
        actor_roles: &e.actor_roles,
        source_ip: &e.source_ip,
        user_agent: &e.user_agent,
        request_id: &e.request_id,
        action: &e.action,
        target_dn: &e.target_dn,
        target_guid: &e.target_guid,
        target_name: &e.target_name,
        outcome: &e.outcome,
        reason: &e.reason,
        ticket: &e.ticket,
    };
    // Serialising a struct of strings and numbers cannot fail; fall back to an empty body
    // rather than panic, which would still yield a (different) deterministic hash.
    let body = serde_json::to_vec(&canonical).unwrap_or_default();
    body_hash(prev_hash, &body)
}

/// `SHA-256(prev_hash ‖ "\n" ‖ canonical body)`, hex.
pub fn body_hash(prev_hash: &str, body: &[u8]) -> String {
    let hex = hex_digest(prev_hash, body);
    String::from_utf8_lossy(&hex).into_owned()
}

/// [`body_hash`] as lower-case hex bytes on the stack.
fn hex_digest(prev_hash: &str, body: &[u8]) -> [u8; 64] {
    let mut h = Sha256::new();
    h.update(prev_hash.as_bytes());
    h.update(b"\n");
    h.update(body);
    hex32(&h.finalize().into())
}

/// Whether a row's stored hash matches its content (the database's canonical body when it
/// built one, else the row hashed here). Compared as bytes: no string per row.
fn own_hash_ok(l: &AuditLink) -> bool {
    match &l.body {
        LinkBody::Canonical(body) => hex_digest(&l.prev_hash, body.as_bytes()) == l.hash.as_bytes(),
        LinkBody::Row(event) => link_hash(&l.prev_hash, l.seq, event) == l.hash,
    }
}

const HEX_DIGITS: &[u8; 16] = b"0123456789abcdef";

/// Lower-case hex of a SHA-256 digest, on the stack.
fn hex32(bytes: &[u8; 32]) -> [u8; 64] {
    let mut out = [0u8; 64];
    for (pair, b) in out.chunks_exact_mut(2).zip(bytes) {
        for (o, nibble) in pair.iter_mut().zip([b >> 4, b & 0xf]) {
            *o = HEX_DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0');
        }
    }
    out
}

/// `bytes` in lower-case hex (the form hashes are stored in).
fn hex(bytes: &[u8]) -> String {
    bytes
        .iter()
        .flat_map(|b| [b >> 4, b & 0xf])
        .map(|n| char::from(HEX_DIGITS.get(usize::from(n)).copied().unwrap_or(b'0')))
        .collect()
}

/// Write one event: first to the chain (the caller's action must not proceed if this fails),
/// then as a JSON line on the `audit` target.
#[tracing::instrument(name = "audit.record", skip_all, fields(action = %event.action, outcome = %event.outcome))]
pub async fn record(store: &Store, event: &NewAuditRow) -> Result<AuditRow, StoreError> {
    let row = store.append_audit(event, link_hash).await?;
    if tracing::enabled!(target: "audit", tracing::Level::INFO) {
        match serde_json::to_string(&row) {
            Ok(line) => tracing::info!(target: "audit", "{line}"),
            Err(e) => tracing::error!(target: "audit", error = %e, "audit event not serialisable"),
        }
    }
    Ok(row)
}

/// The result of walking the whole chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainHead {
    pub rows: u64,
    pub seq: i64,
    pub hash: String,
}

#[derive(Debug, thiserror::Error)]
pub enum VerifyError {
    #[error("audit chain broken at seq {seq}: {reason}")]
    Broken { seq: i64, reason: String },
    /// A signed head does not hold under the given public keys (`checkpoint::verify_signed`).
    #[error("signed head at seq {seq}: {reason}")]
    SignedHead { seq: i64, reason: String },
    /// Nothing signed is left to check the chain against.
    #[error("{0}")]
    Unsigned(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Walk the chain in pages and check every link; return the head. Pages are read on several
/// database connections at once (one per core) while earlier pages are checked, and the
/// per-row hashes (each depends only on the row and its stored `prev_hash`) are computed on
/// every core; the links between rows are checked in order, so the first broken link is the
/// one reported.
///
/// Seqs are contiguous in an intact chain, so the page after seq `n` is asked for before the
/// page ending at `n` has arrived. A gap (a deleted row) makes a page start later than its
/// predecessor ended, which the in-order check reports as a missing row. Once a page comes
/// back short, the end of the chain as it was is reached, and the rest (rows appended while
/// verifying) is read page after page from the head reached.
pub async fn verify(store: &Store) -> Result<ChainHead, VerifyError> {
    verify_in_pages(store, 20_000).await
}

/// [`verify`] with `page` rows a page.
async fn verify_in_pages(store: &Store, page: i64) -> Result<ChainHead, VerifyError> {
    use futures_util::{StreamExt, TryStreamExt};
    let readers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .max(2);
    let mut head = ChainHead {
        rows: 0,
        seq: 0,
        hash: GENESIS.to_string(),
    };
    // Each read is a task of its own, so it goes on while a page is checked: `readers`
    // pages are being read while the one before them is checked.
    let mut ahead = futures_util::stream::iter((0..).map(|k: i64| k * page))
        .map(|after| {
            let store = store.clone();
            let read = tokio::spawn(async move { store.audit_links(after, page).await });
            async move {
                read.await
                    .map_err(|e| VerifyError::Broken {
                        seq: after + 1,
                        reason: format!("reading the chain failed: {e}"),
                    })?
                    .map_err(VerifyError::from)
            }
        })
        .buffered(readers + 1);
    while let Some(rows) = ahead.try_next().await? {
        let short = rows.len() < usize::try_from(page).unwrap_or(usize::MAX);
        head = check_and_confirm(store, rows, head).await?;
        if short {
            break;
        }
    }
    drop(ahead);
    loop {
        let rows = store.audit_links(head.seq, page).await?;
        if rows.is_empty() {
            return Ok(head);
        }
        head = check_and_confirm(store, rows, head).await?;
    }
}

/// [`check_page`] on a blocking thread, then every suspect row read whole and hashed here
/// before it is called edited (see `LinkBody::Canonical`).
async fn check_and_confirm(
    store: &Store,
    page: Vec<AuditLink>,
    head: ChainHead,
) -> Result<ChainHead, VerifyError> {
    let last = page.last().map_or(head.seq, |r| r.seq);
    let Checked {
        head: checked,
        suspects,
    } = tokio::task::spawn_blocking(move || check_page(page, head))
        .await
        .map_err(|e| VerifyError::Broken {
            seq: last,
            reason: format!("verification task failed: {e}"),
        })?;
    for seq in suspects {
        let row = store.audit_page(seq - 1, 1).await?.into_iter().next();
        if !row.is_some_and(|r| r.seq == seq && link_hash(&r.prev_hash, seq, &r.event) == r.hash) {
            return Err(VerifyError::Broken {
                seq,
                reason: "row content does not match its hash (edited)".into(),
            });
        }
    }
    checked
}

/// What one page showed: the new head (or the first broken link between rows), and the rows
/// before that point whose own hash did not match.
struct Checked {
    head: Result<ChainHead, VerifyError>,
    suspects: Vec<i64>,
}

/// Check one page after `head`.
fn check_page(page: Vec<AuditLink>, mut head: ChainHead) -> Checked {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    let chunk = page.len().div_ceil(threads).max(1);
    // Per chunk, the indices of rows whose own hash does not match their content.
    let mismatched: Vec<usize> = std::thread::scope(|scope| {
        let workers: Vec<_> = page
            .chunks(chunk)
            .enumerate()
            .map(|(i, rows)| {
                let all = (i * chunk..i * chunk + rows.len()).collect::<Vec<_>>();
                let worker = scope.spawn(move || {
                    rows.iter()
                        .enumerate()
                        .filter(|(_, r)| !own_hash_ok(r))
                        .map(|(p, _)| i * chunk + p)
                        .collect::<Vec<_>>()
                });
                (worker, all)
            })
            .collect();
        // A worker that died checked nothing: every row of its chunk is a suspect.
        workers
            .into_iter()
            .flat_map(|(w, all)| w.join().unwrap_or(all))
            .collect()
    });
    let mut suspects = Vec::new();
    for (i, row) in page.into_iter().enumerate() {
        let broken = |reason: String| VerifyError::Broken {
            seq: row.seq,
            reason,
        };
        if row.seq != head.seq + 1 {
            let reason = format!(
                "expected seq {}, a row is missing or was inserted",
                head.seq + 1
            );
            return Checked {
                head: Err(broken(reason)),
                suspects,
            };
        }
        if row.prev_hash != head.hash {
            let reason = "prev_hash does not match the previous row".to_string();
            return Checked {
                head: Err(broken(reason)),
                suspects,
            };
        }
        if mismatched.binary_search(&i).is_ok() {
            suspects.push(row.seq);
        }
        head = ChainHead {
            rows: head.rows + 1,
            seq: row.seq,
            hash: row.hash,
        };
    }
    Checked {
        head: Ok(head),
        suspects,
    }
}

/// Who did it, as the audit log names them (never a service account).
#[derive(Debug, Clone, Default)]
pub struct Actor {
    pub sub: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub roles: Vec<String>,
}

/// The person behind a command run on the portal's host (`api-key`, `token-key`): the OS
/// account, by uid (what the kernel says) with the login name from the environment beside it.
pub fn command_line_actor() -> Actor {
    #[cfg(unix)]
    let uid = Some(rustix::process::getuid().as_raw());
    #[cfg(not(unix))]
    let uid = None;
    let login = ["SUDO_USER", "LOGNAME", "USER", "USERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|u| !u.trim().is_empty()));
    os_actor(login.as_deref(), uid)
}

/// [`command_line_actor`] from its parts (pure): `sub` is `uid:N` when the uid is known.
fn os_actor(login: Option<&str>, uid: Option<u32>) -> Actor {
    let login = login.map(|l| {
        l.chars()
            .filter(|c| !c.is_control())
            .take(64)
            .collect::<String>()
    });
    let sub = match (uid, &login) {
        (Some(uid), _) => format!("uid:{uid}"),
        (None, Some(login)) => format!("os-user:{login}"),
        (None, None) => "os-user:unknown".to_string(),
    };
    Actor {
        sub,
        name: Some(format!(
            "{} (command line)",
            login.as_deref().unwrap_or("unknown user")
        )),
        email: None,
        roles: Vec::new(),
    }
}

/// Where the request came from.
#[derive(Debug, Clone, Default)]
pub struct Origin {
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
}

/// Start an event that happened `at`:
/// `event(Action::Lookup, Outcome::Success, now).actor(..).origin(..).target_name(..)`.
pub fn event(action: Action, outcome: Outcome, at: time::OffsetDateTime) -> NewAuditRow {
    NewAuditRow {
        at,
        action: action.as_str().to_string(),
        outcome: outcome.as_str().to_string(),
        ..NewAuditRow::default()
    }
}

/// A policy action is audited under its own name, except a fleet scan, whose events are all
/// `fleet_scan` (a refused one was `run_fleet_scan` before #17, while the rest said
/// `fleet_scan`).
impl From<crate::policy::Action> for Action {
    fn from(a: crate::policy::Action) -> Self {
        use crate::policy::Action as P;
        match a {
            P::Lookup => Self::Lookup,
            P::Diagnose => Self::Diagnose,
            P::MintToken => Self::MintToken,
            P::RevokeToken => Self::RevokeToken,
            P::ResetAccount => Self::ResetAccount,
            P::ViewAudit => Self::ViewAudit,
            P::ExportAudit => Self::ExportAudit,
            P::ViewPolicy => Self::ViewPolicy,
            P::RunFleetScan => Self::FleetScan,
            P::OverrideDiagnosis => Self::OverrideDiagnosis,
        }
    }
}

impl NewAuditRow {
    pub fn actor(mut self, actor: &Actor) -> Self {
        self.actor_sub = Some(actor.sub.clone());
        self.actor_name = actor.name.clone();
        self.actor_email = actor.email.clone();
        self.actor_roles = actor.roles.join(",");
        self
    }
    pub fn origin(mut self, origin: &Origin) -> Self {
        self.source_ip = origin.source_ip.clone();
        self.user_agent = origin.user_agent.clone();
        self.request_id = origin.request_id.clone();
        self
    }
    pub fn target_name(mut self, name: &str) -> Self {
        self.target_name = Some(name.to_string());
        self
    }
    pub fn target(mut self, dn: &str, guid: &str, name: &str) -> Self {
        self.target_dn = Some(dn.to_string());
        self.target_guid = Some(guid.to_string());
        self.target_name = Some(name.to_string());
        self
    }
    pub fn reason(mut self, reason: impl Into<String>) -> Self {
        self.reason = Some(reason.into());
        self
    }
}

/// [`verify`], then check that a chain head noted earlier is still part of the chain: a
/// truncated tail verifies by itself, but loses the recorded head.
pub async fn verify_with_head(
    store: &Store,
    recorded: Option<(i64, &str)>,
) -> Result<ChainHead, VerifyError> {
    let head = verify(store).await?;
    if let Some((seq, hash)) = recorded {
        if seq > head.seq {
            return Err(VerifyError::Broken {
                seq,
                reason: format!(
                    "the recorded head is gone: the chain now ends at seq {} (rows were removed from the end)",
                    head.seq
                ),
            });
        }
        let row = store.audit_page(seq - 1, 1).await?.into_iter().next();
        if row.as_ref().map(|r| r.hash.as_str()) != Some(hash) {
            return Err(VerifyError::Broken {
                seq,
                reason: "the row at the recorded head has another hash".into(),
            });
        }
    }
    Ok(head)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_command_line_actor_is_its_uid_with_the_login_name_beside_it() {
        let a = os_actor(Some("alice\u{1b}"), Some(1000));
        assert_eq!(a.sub, "uid:1000");
        assert_eq!(a.name.as_deref(), Some("alice (command line)"));
        assert_eq!(os_actor(Some("bob"), None).sub, "os-user:bob");
        assert_eq!(
            os_actor(None, Some(0)).name.as_deref(),
            Some("unknown user (command line)")
        );
    }

    /// Pages read ahead in parallel: a chain of several pages verifies whole, and a row
    /// deleted anywhere (inside a page, at a page's end, a whole page) is reported as the
    /// first missing seq, as when pages were read one after another.
    #[tokio::test]
    async fn pages_read_ahead_find_the_first_missing_row_wherever_it_is() {
        use sqlx::Executor;
        async fn chain(rows: usize) -> (Store, tempfile::TempDir) {
            let (store, dir) = crate::db::temp_sqlite().await;
            for n in 0..rows {
                let e = event(Action::Lookup, Outcome::Success, crate::clock::now())
                    .target_name(&format!("PC{n}"));
                record(&store, &e).await.unwrap();
            }
            (store, dir)
        }
        async fn delete(store: &Store, seqs: &str) {
            let Store::Sqlite(db) = store else {
                unreachable!("a sqlite: URL opens SQLite")
            };
            db.pool
                .execute("DROP TRIGGER IF EXISTS audit_events_no_delete")
                .await
                .unwrap();
            let sql = format!("DELETE FROM audit_events WHERE seq IN ({seqs})");
            db.pool.execute(sql.as_str()).await.unwrap();
        }
        let (store, _dir) = chain(23).await;
        for page in [1, 5, 23, 100] {
            let head = verify_in_pages(&store, page).await.unwrap();
            assert_eq!((head.rows, head.seq), (23, 23), "page {page}");
        }
        // (deleted, the row reported, the seq it says is missing): inside a page, a page's
        // last row, a whole page, the first row; the last row makes a shorter chain, which
        // only a recorded head catches (`verify_with_head`).
        for (deleted, reported) in [
            ("12", Some((13, 12))),
            ("10", Some((11, 10))),
            ("6,7,8,9,10", Some((11, 6))),
            ("1", Some((2, 1))),
            ("23", None),
        ] {
            let (store, _dir) = chain(23).await;
            delete(&store, deleted).await;
            match (reported, verify_in_pages(&store, 5).await) {
                (Some((row, missing)), Err(VerifyError::Broken { seq, reason })) => {
                    assert_eq!(seq, row, "{deleted}: {reason}");
                    assert!(
                        reason.contains(&format!("expected seq {missing}")),
                        "{deleted}: {reason}"
                    );
                }
                (None, Ok(head)) => assert_eq!((head.rows, head.seq), (22, 22)),
                (want, got) => panic!("{deleted}: wanted {want:?}, got {got:?}"),
            }
        }
    }

    /// The canonical form is a stable format: this hash must never change.
    #[test]
    fn link_hash_is_stable() {
        let e = NewAuditRow {
            at: time::OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap(),
            actor_sub: Some("alice".into()),
            actor_name: Some("Alice Senior".into()),
            actor_roles: "senior".into(),
            action: "reset_account".into(),
            target_name: Some("PAR-WS001".into()),
            outcome: "success".into(),
            ticket: Some("INC-1".into()),
            ..NewAuditRow::default()
        };
        let h = link_hash(GENESIS, 7, &e);
        assert_eq!(
            h,
            "ea28f1d025c89e242af9838d6583b714998da349af0b1dfaeb5444278c191d47"
        );
    }
}

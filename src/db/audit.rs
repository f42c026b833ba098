//! Audit rows: append to the hash chain under a lock, and read back.
//!
//! The chain arithmetic (canonical form, hashes) lives in `crate::audit`; appends are
//! serialised and committed in groups by `append.rs` — one writer lock per process on
//! SQLite, a transaction-level advisory lock on PostgreSQL, so several portal instances
//! never fork the chain.

mod append;
mod heads;
mod links;

pub use append::Chain;
pub(super) use append::{PgQueue, Queue, Writer};
pub use heads::SignedHead;

/// The `prev_hash` of the first row.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

use sqlx::Row;
use time::OffsetDateTime;

use std::sync::LazyLock;

use super::vocab::sql_list;
use super::{Store, StoreError, on_pool};

/// `t` without its sub-microsecond part (what PostgreSQL's `timestamptz` stores).
pub fn truncate_to_micros(t: OffsetDateTime) -> OffsetDateTime {
    let nanos = t.nanosecond();
    t.replace_nanosecond(nanos - nanos % 1_000).unwrap_or(t)
}

/// An event as the caller describes it, before it has a place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct NewAuditRow {
    #[serde(with = "time::serde::rfc3339")]
    #[schema(value_type = String, format = DateTime)]
    pub at: OffsetDateTime,
    pub actor_sub: Option<String>,
    pub actor_name: Option<String>,
    pub actor_email: Option<String>,
    pub actor_roles: String,
    pub source_ip: Option<String>,
    pub user_agent: Option<String>,
    pub request_id: Option<String>,
    pub action: String,
    pub target_dn: Option<String>,
    pub target_guid: Option<String>,
    pub target_name: Option<String>,
    pub outcome: String,
    pub reason: Option<String>,
    pub ticket: Option<String>,
}

impl Default for NewAuditRow {
    fn default() -> Self {
        Self {
            at: OffsetDateTime::UNIX_EPOCH,
            actor_sub: None,
            actor_name: None,
            actor_email: None,
            actor_roles: String::new(),
            source_ip: None,
            user_agent: None,
            request_id: None,
            action: String::new(),
            target_dn: None,
            target_guid: None,
            target_name: None,
            outcome: String::new(),
            reason: None,
            ticket: None,
        }
    }
}

/// A stored row: the event plus its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[schema(as = AuditEvent)]
pub struct AuditRow {
    pub seq: i64,
    #[serde(flatten)]
    pub event: NewAuditRow,
    pub prev_hash: String,
    pub hash: String,
}

const COLUMNS: &str = "seq, at, actor_sub, actor_name, actor_email, actor_roles, source_ip, \
    user_agent, request_id, action, target_dn, target_guid, target_name, outcome, reason, \
    ticket, prev_hash, hash";

/// A row as verification reads it: its place in the chain, and its content either as the
/// canonical body the database built (SQLite) or as the row (PostgreSQL).
#[derive(Debug, Clone)]
pub struct AuditLink {
    pub seq: i64,
    pub prev_hash: String,
    pub hash: String,
    pub body: LinkBody,
}

#[derive(Debug, Clone)]
pub enum LinkBody {
    /// `crate::audit::link_hash`'s canonical JSON, built by SQLite's `json_object` in the
    /// same field order. An exotic character may be escaped differently from serde_json;
    /// verification then re-reads the row and hashes it in Rust, which is authoritative.
    Canonical(String),
    Row(Box<NewAuditRow>),
}

fn from_row<R>(row: &R) -> Result<AuditRow, sqlx::Error>
where
    R: Row,
    for<'a> &'a str: sqlx::ColumnIndex<R>,
    for<'a> i64: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> String: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
    for<'a> Option<String>: sqlx::Decode<'a, R::Database>,
    for<'a> OffsetDateTime: sqlx::Decode<'a, R::Database> + sqlx::Type<R::Database>,
{
    Ok(AuditRow {
        seq: row.try_get("seq")?,
        event: NewAuditRow {
            at: row.try_get("at")?,
            actor_sub: row.try_get("actor_sub")?,
            actor_name: row.try_get("actor_name")?,
            actor_email: row.try_get("actor_email")?,
            actor_roles: row.try_get("actor_roles")?,
            source_ip: row.try_get("source_ip")?,
            user_agent: row.try_get("user_agent")?,
            request_id: row.try_get("request_id")?,
            action: row.try_get("action")?,
            target_dn: row.try_get("target_dn")?,
            target_guid: row.try_get("target_guid")?,
            target_name: row.try_get("target_name")?,
            outcome: row.try_get("outcome")?,
            reason: row.try_get("reason")?,
            ticket: row.try_get("ticket")?,
        },
        prev_hash: row.try_get("prev_hash")?,
        hash: row.try_get("hash")?,
    })
}

impl Store {
    /// Append `event` after the current chain head; return once its row is committed.
    /// `chain(prev_hash, seq, event)` computes the row's hash; it runs while the append lock
    /// is held, so no two rows share a predecessor. Concurrent appends are committed together
    /// (see `append.rs`).
    pub async fn append_audit(
        &self,
        event: &NewAuditRow,
        chain: Chain,
    ) -> Result<AuditRow, StoreError> {
        // PostgreSQL keeps microseconds: hash exactly what both databases give back.
        let event = NewAuditRow {
            at: truncate_to_micros(event.at),
            ..event.clone()
        };
        let row = match self {
            Store::Sqlite(db) => append::sqlite(db, event, chain).await,
            Store::Postgres(db) => append::postgres(db, event, chain).await,
        }?;
        self.audit_appended().notify_one();
        Ok(row)
    }

    /// Rows in chain order, from `after_seq` (exclusive), at most `limit`.
    pub async fn audit_page(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        let sql =
            format!("SELECT {COLUMNS} FROM audit_events WHERE seq > $1 ORDER BY seq LIMIT $2");
        let rows = on_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(after_seq)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }

    /// [`AuditLink`]s in chain order, from `after_seq` (exclusive), at most `limit`.
    pub async fn audit_links(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<AuditLink>, StoreError> {
        match self {
            Store::Sqlite(db) => Ok(links::sqlite(&db.pool, after_seq, limit).await?),
            Store::Postgres(_) => Ok(self
                .audit_page(after_seq, limit)
                .await?
                .into_iter()
                .map(|r| AuditLink {
                    seq: r.seq,
                    prev_hash: r.prev_hash,
                    hash: r.hash,
                    body: LinkBody::Row(Box::new(r.event)),
                })
                .collect()),
        }
    }

    /// The newest rows first (the review page), at most `limit`.
    pub async fn audit_recent(&self, limit: i64) -> Result<Vec<AuditRow>, StoreError> {
        let sql = format!("SELECT {COLUMNS} FROM audit_events ORDER BY seq DESC LIMIT $1");
        let rows = on_pool!(self, |pool| {
            let rows = sqlx::query(&sql).bind(limit).fetch_all(pool).await?;
            rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }
}

/// What the review page filters on; `None` means any.
#[derive(Debug, Clone, Default, serde::Deserialize)]
pub struct AuditFilter {
    /// The actor's OIDC `sub`, exactly. Never the display name, which the person may edit at
    /// the provider (#16 L-9): a filter on "Alice Senior" must not find someone else.
    pub actor: Option<String>,
    /// Part of the target computer's name (case-insensitive).
    pub target: Option<String>,
    /// The action (case-insensitive).
    pub action: Option<String>,
    /// The outcome (case-insensitive).
    pub outcome: Option<String>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub from: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub to: Option<OffsetDateTime>,
}

impl Store {
    /// Rows matching `f`, newest first, with `seq < before` (keyset pagination), at most `limit`.
    pub async fn audit_query(
        &self,
        f: &AuditFilter,
        before: i64,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        // Same text on SQLite and PostgreSQL: UPPER on both sides, LIKE with an explicit escape.
        let sql = format!(
            "SELECT {COLUMNS} FROM audit_events WHERE seq < $1 \
             AND ($2 IS NULL OR actor_sub = $2) \
             AND ($3 IS NULL OR UPPER(target_name) LIKE $3 ESCAPE '\\') \
             AND ($4 IS NULL OR UPPER(action) = UPPER($4)) \
             AND ($5 IS NULL OR UPPER(outcome) = UPPER($5)) \
             AND ($6 IS NULL OR at >= $6) AND ($7 IS NULL OR at < $7) \
             ORDER BY seq DESC LIMIT $8"
        );
        let (actor, target) = (f.actor.as_deref(), contains(f.target.as_deref()));
        let rows = on_pool!(self, |pool| {
            let rows = sqlx::query(&sql)
                .bind(before)
                .bind(actor)
                .bind(&target)
                .bind(&f.action)
                .bind(&f.outcome)
                .bind(f.from)
                .bind(f.to)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }
}

/// A `LIKE` pattern matching values that contain `part` in any case (upper-cased, with the
/// pattern's own `%`, `_` and `\\` escaped, so a filter never widens to "everything").
fn contains(part: Option<&str>) -> Option<String> {
    let part = part?.to_uppercase();
    let mut pattern = String::with_capacity(part.len() + 2);
    pattern.push('%');
    for c in part.chars() {
        if matches!(c, '%' | '_' | '\\') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    pattern.push('%');
    Some(pattern)
}

/// The read behind [`Store::portal_writes`]. Its `action IN (…)` term is, character for
/// character, the predicate of the partial index `audit_events_portal_writes` (migration
/// 0008), which is what lets both databases use that index.
fn portal_writes_sql() -> String {
    use super::vocab::{Action as A, Outcome as O};
    let actions = sql_list([A::ResetAccount, A::RedeemToken, A::RepairOutcome].map(A::as_str));
    let outcomes = sql_list([O::Success, O::Failure].map(O::as_str));
    format!(
        "SELECT {COLUMNS} FROM audit_events WHERE target_guid = $1 AND at >= $2 \
         AND action IN ({actions}) \
         AND outcome IN ({outcomes}) ORDER BY at DESC, seq DESC LIMIT 200"
    )
}

impl Store {
    /// trustdesk's own password writes and repair outcomes on the object with this
    /// `objectGUID` since `since`, oldest first: resets, redeems and the client's reports.
    pub async fn portal_writes(
        &self,
        target_guid: &str,
        since: OffsetDateTime,
    ) -> Result<Vec<AuditRow>, StoreError> {
        static SQL: LazyLock<String> = LazyLock::new(portal_writes_sql);
        let rows = on_pool!(self, |pool| {
            let rows = sqlx::query(SQL.as_str())
                .bind(target_guid)
                .bind(since)
                .fetch_all(pool)
                .await?;
            rows.iter()
                .rev()
                .map(from_row)
                .collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }

    /// How many of the actions the hourly limit counts ([`super::vocab::Action::COUNTED`])
    /// `actor_sub` made successfully since `since`.
    pub async fn actions_since(
        &self,
        actor_sub: &str,
        since: OffsetDateTime,
    ) -> Result<i64, StoreError> {
        use super::vocab::{Action, Outcome};
        static SQL: LazyLock<String> = LazyLock::new(|| {
            let counted = sql_list(Action::COUNTED.iter().map(|a| a.as_str()));
            format!(
                "SELECT COUNT(*) FROM audit_events WHERE actor_sub = $1 AND at >= $2 \
                 AND outcome = $3 AND action IN ({counted})"
            )
        });
        let n = on_pool!(self, |pool| sqlx::query_scalar::<_, i64>(SQL.as_str())
            .bind(actor_sub)
            .bind(since)
            .bind(Outcome::Success.as_str())
            .fetch_one(pool)
            .await)?;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_patterns_match_parts_and_never_widen() {
        assert_eq!(contains(None), None);
        assert_eq!(contains(Some("ws0")).as_deref(), Some("%WS0%"));
        assert_eq!(
            contains(Some("100%_\\")).as_deref(),
            Some("%100\\%\\_\\\\%")
        );
    }

    /// #16 L-9: the display name is the person's to edit at the provider, so the actor filter
    /// matches the `sub` exactly and never the name: someone who calls themselves "Alice
    /// Senior" is not found by a filter on Alice, and Alice's rows are not widened to theirs.
    #[tokio::test]
    async fn the_actor_filter_matches_the_exact_sub_and_never_the_display_name() {
        let (store, _dir) = crate::db::temp_sqlite().await;
        for sub in ["alice-sub", "mallory-sub", "alice-sub2"] {
            let e = NewAuditRow {
                actor_sub: Some(sub.into()),
                actor_name: Some("Alice Senior".into()),
                action: "lookup".into(),
                outcome: "success".into(),
                ..NewAuditRow::default()
            };
            store
                .append_audit(&e, |_, seq, _| format!("h{seq}"))
                .await
                .unwrap();
        }
        let subs = |actor: &str| {
            let f = AuditFilter {
                actor: Some(actor.into()),
                ..AuditFilter::default()
            };
            let store = store.clone();
            async move {
                let rows = store.audit_query(&f, i64::MAX, 10).await.unwrap();
                rows.into_iter()
                    .filter_map(|r| r.event.actor_sub)
                    .collect::<Vec<_>>()
            }
        };
        assert_eq!(subs("alice-sub").await, ["alice-sub"]);
        assert!(subs("Alice Senior").await.is_empty());
        assert!(subs("alice").await.is_empty());
        assert!(
            subs("ALICE-SUB").await.is_empty(),
            "a sub is case-sensitive"
        );
    }

    /// Every lookup writes an audit row naming the object, so a read of the object's writes
    /// that walked its lookups would slow down with every lookup (the lookup benchmark saw
    /// it). SQLite must answer from the partial index alone.
    #[tokio::test]
    async fn portal_writes_are_read_through_their_partial_index() {
        let (store, _dir) = crate::db::temp_sqlite().await;
        let Store::Sqlite(db) = &store else {
            unreachable!("a sqlite: URL opens SQLite")
        };
        let plan: Vec<String> = sqlx::query(&format!("EXPLAIN QUERY PLAN {}", portal_writes_sql()))
            .bind("guid")
            .bind(OffsetDateTime::UNIX_EPOCH)
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("USING INDEX audit_events_portal_writes")),
            "{plan:?}"
        );
    }
}

/// The read behind [`Store::recent_actions`], after its column list. Its `action IN (…)` term
/// is, character for character, the predicate of the partial index
/// `audit_events_recent_actions` (migration 0010): the object's lookups and diagnoses stay
/// out of the index, so the read does not slow down as the object is looked at.
fn recent_actions_sql() -> String {
    use super::vocab::Action as A;
    let actions = sql_list(
        [
            A::MintToken,
            A::RevokeToken,
            A::RedeemCode,
            A::ResetAccount,
            A::RedeemToken,
            A::RepairOutcome,
        ]
        .map(A::as_str),
    );
    format!(
        "FROM audit_events WHERE target_guid = $1 \
         AND action IN ({actions}) \
         ORDER BY at DESC, seq DESC LIMIT $2"
    )
}

impl Store {
    /// The newest `limit` events that changed or tried to change the object with this
    /// `objectGUID`, newest first: mints, revokes, code exchanges, resets, redeems and repair
    /// outcomes, whatever their outcome (refusals included); never lookups or diagnoses.
    pub async fn recent_actions(
        &self,
        target_guid: &str,
        limit: i64,
    ) -> Result<Vec<AuditRow>, StoreError> {
        static SQL: LazyLock<String> =
            LazyLock::new(|| format!("SELECT {COLUMNS} {}", recent_actions_sql()));
        let rows = on_pool!(self, |pool| {
            let rows = sqlx::query(SQL.as_str())
                .bind(target_guid)
                .bind(limit)
                .fetch_all(pool)
                .await?;
            rows.iter().map(from_row).collect::<Result<Vec<_>, _>>()
        })?;
        Ok(rows)
    }
}

#[cfg(test)]
mod recent_actions_tests {
    use super::*;

    /// Like [`Store::portal_writes`], a computer page reads this on every view, and every view
    /// writes a lookup naming the object: SQLite must answer from the partial index, in its
    /// order (no sort), never walking the lookups.
    #[tokio::test]
    async fn recent_actions_are_read_through_their_partial_index() {
        let (store, _dir) = crate::db::temp_sqlite().await;
        let Store::Sqlite(db) = &store else {
            unreachable!("a sqlite: URL opens SQLite")
        };
        let sql = format!(
            "EXPLAIN QUERY PLAN SELECT {COLUMNS} {}",
            recent_actions_sql()
        );
        let plan: Vec<String> = sqlx::query(&sql)
            .bind("guid")
            .bind(10_i64)
            .fetch_all(&db.pool)
            .await
            .unwrap()
            .iter()
            .map(|r| r.get::<String, _>("detail"))
            .collect();
        assert!(
            plan.iter()
                .any(|d| d.contains("USING INDEX audit_events_recent_actions")),
            "{plan:?}"
        );
        assert!(!plan.iter().any(|d| d.contains("TEMP B-TREE")), "{plan:?}");
    }

    #[tokio::test]
    async fn recent_actions_are_the_objects_changes_newest_first() {
        let (store, _dir) = crate::db::temp_sqlite().await;
        let at = OffsetDateTime::from_unix_timestamp(1_800_000_000).unwrap();
        let mut seq = 0;
        let mut add = |store: &Store, action: &str, guid: &str| {
            seq += 1;
            let e = NewAuditRow {
                at: at + time::Duration::seconds(seq),
                action: action.into(),
                outcome: "success".into(),
                target_guid: Some(guid.into()),
                reason: Some(format!("#{seq}")),
                ..NewAuditRow::default()
            };
            let store = store.clone();
            async move {
                store
                    .append_audit(&e, |_, seq, _| format!("h{seq}"))
                    .await
                    .unwrap();
            }
        };
        for action in [
            "lookup",
            "mint_token",
            "diagnose",
            "redeem_code",
            "redeem_token",
            "repair_outcome",
            "revoke_token",
            "reset_account",
        ] {
            add(&store, action, "g1").await;
            add(&store, action, "g2").await;
        }
        let rows = store.recent_actions("g1", 4).await.unwrap();
        let got: Vec<&str> = rows.iter().map(|r| r.event.action.as_str()).collect();
        assert_eq!(
            got,
            [
                "reset_account",
                "revoke_token",
                "repair_outcome",
                "redeem_token"
            ]
        );
        let all = store.recent_actions("g1", 100).await.unwrap();
        assert_eq!(all.len(), 6, "no lookup, no diagnose, nothing of g2");
        assert!(
            all.iter()
                .all(|r| r.event.target_guid.as_deref() == Some("g1"))
        );
        assert!(store.recent_actions("g3", 10).await.unwrap().is_empty());
    }
}

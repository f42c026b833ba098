//! Lookup and diagnosis of one computer: read it from every DC, add what earlier lookups saw,
//! run the pure diagnosis, and remember this observation for next time.
//!
//! Reading a computer's details requires a [`Grant<Diagnose>`] for it; listing prefix matches
//! filters by the caller's `lookup` scope. Both are audited here ([`diagnose_audited`],
//! [`list_audited`]) before anything is answered and before the observation is remembered: a
//! listing's row after its search (it counts the matches), a diagnosis's while its reads run.

use std::collections::HashMap;
use std::sync::Arc;

use serde::Serialize;
use time::OffsetDateTime;
use uuid::Uuid;

use crate::ad::dn::dn_within;
use crate::ad::{
    ComputerAccount, DcOutcome, Observation, PortalWrite, PortalWriteKind, RedeemWatch, Snapshot,
    Tombstone,
};
use crate::audit::{self, Actor, Origin};
use crate::db::{ObservationRow, Store, StoreError};
use crate::diagnostics::{Diagnosis, DiagnosisSettings, diagnose};
use crate::directory::computers::Matches;
use crate::directory::filter::{ComputerQuery, MatchMode};
use crate::directory::{Directory, DirectoryError, Domains};
use crate::policy::{Action, Diagnose, Grant, Policy};

/// What lookups and diagnoses work with, built once by `lib::build`.
#[derive(Clone)]
pub struct Lookups {
    /// The managed domains: a computer is read from the one it is in.
    pub domains: Arc<Domains>,
    pub store: Store,
    pub policy: Arc<Policy>,
    pub settings: DiagnosisSettings,
}

impl Lookups {
    /// The lookups' services, with the diagnosis settings of `cfg` ([`settings`]).
    pub fn new(
        cfg: &crate::config::Config,
        domains: Arc<Domains>,
        store: Store,
        policy: Arc<Policy>,
    ) -> Self {
        Lookups {
            domains,
            store,
            policy,
            settings: settings(cfg),
        }
    }
}

/// Why a lookup could not answer.
#[derive(Debug, thiserror::Error)]
pub enum LookupError {
    #[error(transparent)]
    Directory(#[from] DirectoryError),
    /// The audit event could not be written, so nothing is shown.
    #[error(transparent)]
    Audit(#[from] StoreError),
}

/// Who asked, for the audit log.
pub struct Asker<'a> {
    pub actor: &'a Actor,
    pub origin: &'a Origin,
}

/// Everything the diagnosis page and the JSON API show.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Report {
    pub name: String,
    /// The DNS name of the domain the computer was looked for in (its URLs carry it).
    pub domain: String,
    #[serde(with = "time::serde::rfc3339")]
    pub generated_at: OffsetDateTime,
    pub account: Option<ComputerAccount>,
    pub tombstones: Vec<Tombstone>,
    pub diagnosis: Diagnosis,
    /// DC invocation id → DC host name, to name where a password change originated.
    pub dc_names: HashMap<Uuid, String>,
}

/// The diagnosis settings in force, from config.
fn settings(cfg: &crate::config::Config) -> DiagnosisSettings {
    DiagnosisSettings {
        rotation_window: time::Duration::days(i64::from(cfg.diagnosis.rotation_window_days)),
        max_replication_skew: time::Duration::seconds(i64::from(
            cfg.diagnosis.replication_skew_secs,
        )),
        self_rotation_grace: time::Duration::seconds(i64::from(
            cfg.diagnosis.self_rotation_grace_secs,
        )),
        repair_watch: time::Duration::seconds(
            i64::try_from(cfg.tokens.repair_watch_secs).unwrap_or(i64::MAX),
        ),
        ..DiagnosisSettings::default()
    }
}

/// Matches the caller may look up: one search under each scope where their roles grant
/// `lookup` (a scope inside another is searched once, through the outer one), merged,
/// sorted and cut, with the count. `in_scope` still filters every line: nothing outside the
/// scopes is listed, and nothing says whether a name exists there.
pub async fn matches(
    domains: &Domains,
    policy: &Policy,
    roles: &[String],
    q: &ComputerQuery,
    mode: MatchMode,
) -> Result<Matches, DirectoryError> {
    let scopes: Vec<&str> = policy
        .scopes(roles, Action::Lookup)
        .filter(|s| !s.is_empty())
        .collect();
    let mut bases: Vec<String> = Vec::new();
    for s in &scopes {
        let covered =
            bases.iter().any(|b| b == s) || scopes.iter().any(|o| o != s && dn_within(s, o));
        if !covered {
            bases.push((*s).to_string());
        }
    }
    domains
        .search_under(&bases, q, mode, |m| {
            policy.in_scope(roles, Action::Lookup, &m.dn)
        })
        .await
}

/// [`report`], audited as `diagnose` / `success`; then the observation is remembered (after
/// the audit write: on SQLite the two would queue for the one writer).
///
/// The audit row is written while the directory is read, and nothing is answered before it
/// is committed: a row that cannot be written fails the request, and nothing is shown. It
/// names the computer and its domain, not what the diagnosis found, which is known only once
/// the reads are done: writing it then put a commit on the answer's path after the DCs had
/// answered (on PostgreSQL an fsync and round trips, about 0.5 ms of a lookup at one client;
/// BENCHMARKS.md, session 21).
#[tracing::instrument(name = "lookup.diagnose", skip_all, fields(computer = %q.display()))]
pub async fn diagnose_audited(
    grant: &Grant<Diagnose>,
    lookups: &Lookups,
    dir: &Directory,
    q: &ComputerQuery,
    account: Option<ComputerAccount>,
    asker: &Asker<'_>,
    now: OffsetDateTime,
) -> Result<Report, LookupError> {
    let event = audit::event(audit::Action::Diagnose, audit::Outcome::Success, now)
        .actor(asker.actor)
        .origin(asker.origin);
    // The domain is in a found computer's DN; a name found nowhere says where it was sought.
    let event = match &account {
        Some(a) => event.target(&a.dn, &a.object_guid.to_string(), a.netbios_name()),
        None => event
            .target_name(q.display())
            .reason(format!("not in {}", dir.dns_name())),
    };
    // Boxed: the report's future is some 26 kB (the reads it awaits at once), and every
    // future around it, up to the HTTP handler's, would otherwise carry it and copy it each
    // time it is moved (BENCHMARKS.md, session 19). The report goes first, and the audit row's
    // work waits until its LDAP requests have left ([`after_the_requests_leave`]).
    let (found, audited) = tokio::join!(
        Box::pin(report(grant, lookups, dir, q, account, now)),
        async {
            after_the_requests_leave().await;
            audit::record(&lookups.store, &event).await
        }
    );
    audited?;
    let (report, remember) = found?;
    remember.spawn(&lookups.store);
    Ok(report)
}

/// Let the runtime's other ready tasks run, ldap3's connection tasks among them, before the
/// database work beside this task's LDAP reads begins.
///
/// ldap3 hands a request to its connection's task, which writes it to the socket when that
/// task next runs. sqlx runs SQLite's statements on threads of their own, and a thread woken
/// for a statement took the CPU before those writes happened: the DCs began later, and the
/// reads of a lookup took 0.37 to 0.40 ms longer than the same searches done raw, 0.13 ms with
/// these yields, at one client with the DCs on the other CPU (BENCHMARKS.md, session 22). It
/// yields twice, as the variant measured did.
async fn after_the_requests_leave() {
    tokio::task::yield_now().await;
    tokio::task::yield_now().await;
}

/// A name found in several domains the caller may look up in, audited as `lookup` /
/// `success` naming the domains: nothing was diagnosed, the caller is asked to choose.
pub async fn choice_audited(
    lookups: &Lookups,
    q: &ComputerQuery,
    domains: &[&str],
    asker: &Asker<'_>,
    now: OffsetDateTime,
) -> Result<(), LookupError> {
    let event = audit::event(audit::Action::Lookup, audit::Outcome::Success, now)
        .actor(asker.actor)
        .origin(asker.origin)
        .target_name(q.display())
        .reason(format!(
            "in {} domains ({}): asked which one",
            domains.len(),
            domains.join(", ")
        ));
    audit::record(&lookups.store, &event).await?;
    Ok(())
}

/// [`matches`] under `roles`' lookup scopes, audited as `lookup` / `success` with the count.
#[tracing::instrument(name = "lookup.list", skip_all, fields(query = %q.display()))]
pub async fn list_audited(
    lookups: &Lookups,
    roles: &[String],
    q: &ComputerQuery,
    mode: MatchMode,
    asker: &Asker<'_>,
    now: OffsetDateTime,
) -> Result<Matches, LookupError> {
    let found = matches(&lookups.domains, &lookups.policy, roles, q, mode).await?;
    let event = audit::event(audit::Action::Lookup, audit::Outcome::Success, now)
        .actor(asker.actor)
        .origin(asker.origin)
        .target_name(q.display())
        .reason(format!(
            "{} of {}{} matches",
            found.shown.len(),
            if found.more { "more than " } else { "" },
            found.total
        ));
    audit::record(&lookups.store, &event).await?;
    Ok(found)
}

/// Read the account, per-DC views, tombstones and history; diagnose. Returns the report and
/// the observation to remember.
#[tracing::instrument(name = "lookup.report", skip_all, fields(computer = %q.display()))]
pub async fn report(
    grant: &Grant<Diagnose>,
    lookups: &Lookups,
    dir: &Directory,
    q: &ComputerQuery,
    account: Option<ComputerAccount>,
    now: OffsetDateTime,
) -> Result<(Report, Remember), DirectoryError> {
    let (store, policy, settings) = (&lookups.store, &*lookups.policy, &lookups.settings);
    let name = account
        .as_ref()
        .map(|a| a.netbios_name().to_string())
        .unwrap_or_else(|| q.display().to_string());
    let sam = format!("{}$", name.split('.').next().unwrap_or(&name));
    // The per-DC reads, the tombstone search and the history read all at once, each boxed so
    // that `join!` holds six pointers, not six futures (see `diagnose_audited`).
    let since = now - settings.rotation_window * 2;
    let history = async {
        after_the_requests_leave().await;
        match store.observations(&name, dir.dns_name(), since, 500).await {
            Ok(rows) => rows.iter().filter_map(to_observation).collect(),
            Err(e) => {
                tracing::warn!(error = %e, "observation history unavailable; diagnosing without it");
                Vec::new()
            }
        }
    };
    let mut account = account;
    let ((per_dc, coverage), (tombstones, tombstone_check), dc_names, history, portal_writes) =
        match account.take() {
            Some(a) => {
                let (views, tombs, ids, history, writes, privileged) = tokio::join!(
                    Box::pin(dir.dc_views(&a.dn)),
                    Box::pin(dir.tombstones(&sam)),
                    Box::pin(dir.invocation_ids()),
                    Box::pin(history),
                    Box::pin(portal_writes(store, a.object_guid, since)),
                    Box::pin(dir.with_privilege_for_lookup(a.clone()))
                );
                // Without its privileges the account stays `NotRead`: the policy then offers
                // and allows no change on it (fail closed).
                account = Some(privileged.unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "privileges unread; no change will be offered");
                    a
                }));
                (views, tombs, ids, history, writes)
            }
            None => {
                let (tombstones, history) = tokio::join!(dir.tombstones(&sam), history);
                (
                    (Vec::new(), Default::default()),
                    tombstones,
                    HashMap::new(),
                    history,
                    Vec::new(),
                )
            }
        };
    // Deleted objects only from where the grant's roles may diagnose (security review L-5):
    // a name with no live object must not show tombstones from other OUs, protected ones
    // included. A tombstone that does not say where it lived is left out.
    let tombstones: Vec<Tombstone> = tombstones
        .into_iter()
        .filter(|t| {
            t.last_known_parent
                .as_deref()
                .is_some_and(|parent| policy.in_scope(grant.roles(), Action::Diagnose, parent))
        })
        .collect();
    let protected_ou = account.as_ref().is_some_and(|a| {
        policy
            .protection(&crate::policy::Target {
                dn: &a.dn,
                account: None,
            })
            .is_some()
    });
    let redeems = redeems(store, &portal_writes, account.as_ref(), since).await;
    let snapshot = Snapshot {
        name_queried: q.display().to_string(),
        account,
        per_dc,
        coverage,
        tombstones,
        tombstone_check,
        history,
        redeems,
        portal_writes,
        protected_ou,
    };
    let diagnosis = diagnose(&snapshot, settings, now);
    // Remember only what is new: the same view again adds nothing to the history (and
    // would make the next history read longer).
    let fresh = observation_of(&snapshot, &name, dir.dns_name(), now)
        .filter(|row| !same_as_last(row, snapshot.history.last()));
    let remember = Remember(fresh);
    Ok((
        Report {
            name,
            domain: dir.dns_name().to_string(),
            generated_at: now,
            account: snapshot.account,
            tombstones: snapshot.tombstones,
            diagnosis,
            dc_names,
        },
        remember,
    ))
}

/// The post-repair watches of the object, read only when its history holds a redeem (most
/// lookups have none, and pay nothing).
async fn redeems(
    store: &crate::db::Store,
    writes: &[PortalWrite],
    account: Option<&ComputerAccount>,
    since: OffsetDateTime,
) -> Vec<RedeemWatch> {
    let Some(a) = account else { return Vec::new() };
    if !writes
        .iter()
        .any(|w| w.kind == PortalWriteKind::TokenRedeemed)
    {
        return Vec::new();
    }
    match store.watches_of(&a.object_guid.to_string(), since).await {
        Ok(rows) => rows
            .into_iter()
            .map(|w| RedeemWatch {
                redeemed_at: w.redeemed_at,
                key_version: w.key_version,
            })
            .collect(),
        Err(e) => {
            tracing::warn!(error = %e, "post-repair watches unavailable; diagnosing without them");
            Vec::new()
        }
    }
}

/// What this lookup saw, to remember for later diagnoses. It is a cache, written off the
/// request path: call [`Remember::spawn`] once the request's own writes (its audit event) are
/// done, so that on SQLite the two do not queue for the one writer.
#[must_use = "call spawn() after the audit event, or the observation is lost"]
pub struct Remember(Option<ObservationRow>);

impl Remember {
    pub fn spawn(self, store: &Store) {
        let Some(obs) = self.0 else { return };
        let store = store.clone();
        tokio::spawn(async move {
            if let Err(e) = store.add_observation(&obs).await {
                tracing::warn!(error = %e, "could not record the observation");
            }
        });
    }
}

/// trustdesk's own resets and repairs of the object, from its audit log (an input of the
/// diagnosis: a reset through the portal is never "the machine's own rotation").
async fn portal_writes(
    store: &crate::db::Store,
    guid: Uuid,
    since: OffsetDateTime,
) -> Vec<PortalWrite> {
    after_the_requests_leave().await;
    match store.portal_writes(&guid.to_string(), since).await {
        Ok(rows) => rows.iter().filter_map(to_portal_write).collect(),
        Err(e) => {
            tracing::warn!(error = %e, "trustdesk's own repair history unavailable; diagnosing without it");
            Vec::new()
        }
    }
}

fn to_portal_write(row: &crate::db::AuditRow) -> Option<PortalWrite> {
    let e = &row.event;
    use audit::{Action as A, Outcome as O};
    let kind = match (A::parse(&e.action)?, O::parse(&e.outcome)?) {
        (A::ResetAccount, O::Success) => PortalWriteKind::DcReset,
        (A::RedeemToken, O::Success) => PortalWriteKind::TokenRedeemed,
        (A::RepairOutcome, O::Success) => PortalWriteKind::RepairCompleted,
        (A::RepairOutcome, O::Failure) => PortalWriteKind::RepairFailed,
        _ => return None,
    };
    Some(PortalWrite {
        at: e.at,
        kind,
        by: e
            .actor_name
            .clone()
            .or_else(|| e.actor_sub.clone())
            .unwrap_or_else(|| "unknown".to_string()),
        ticket: e.ticket.clone(),
    })
}

fn to_observation(row: &ObservationRow) -> Option<Observation> {
    Some(Observation {
        observed_at: row.observed_at,
        object_guid: Uuid::parse_str(&row.object_guid).ok()?,
        unicode_pwd_version: row.unicode_pwd_version.and_then(|v| u32::try_from(v).ok()),
        originating_dc: row
            .originating_dc
            .as_deref()
            .and_then(|s| Uuid::parse_str(s).ok()),
        last_logon: row.last_logon,
    })
}

/// Whether `row` says what the newest remembered observation says (times compared to the
/// microsecond, which is what PostgreSQL keeps).
fn same_as_last(row: &ObservationRow, last: Option<&Observation>) -> bool {
    let (Some(new), Some(last)) = (to_observation(row), last) else {
        return false;
    };
    let micros = |t: Option<OffsetDateTime>| t.map(|t| t.unix_timestamp_nanos() / 1_000);
    new.object_guid == last.object_guid
        && new.unicode_pwd_version == last.unicode_pwd_version
        && new.originating_dc == last.originating_dc
        && micros(new.last_logon) == micros(last.last_logon)
}

/// What to remember of this lookup: the highest unicodePwd version any DC showed, where it
/// originated, and the latest logon over the DCs.
fn observation_of(
    s: &Snapshot,
    name: &str,
    domain: &str,
    now: OffsetDateTime,
) -> Option<ObservationRow> {
    let account = s.account.as_ref()?;
    let views = s.per_dc.iter().filter_map(|v| match &v.outcome {
        DcOutcome::Found(view) => Some(view),
        _ => None,
    });
    let newest = views
        .clone()
        .filter_map(|v| v.unicode_pwd.as_ref())
        .max_by_key(|m| m.version);
    Some(ObservationRow {
        name: name.to_string(),
        domain: Some(domain.to_string()),
        observed_at: now,
        object_guid: account.object_guid.to_string(),
        unicode_pwd_version: newest.map(|m| i64::from(m.version)),
        originating_dc: newest.map(|m| m.originating_invocation_id.to_string()),
        last_logon: views.filter_map(|v| v.last_logon).max(),
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn an_unchanged_view_is_not_remembered_twice() {
        let t = OffsetDateTime::from_unix_timestamp(1_790_000_000).unwrap();
        let guid = Uuid::from_u128(5);
        let row = ObservationRow {
            name: "PAR-WS001".into(),
            domain: Some("lab.example.test".into()),
            observed_at: t,
            object_guid: guid.to_string(),
            unicode_pwd_version: Some(4),
            originating_dc: Some(Uuid::from_u128(9).to_string()),
            // FILETIME precision: PostgreSQL gives back microseconds.
            last_logon: Some(t + time::Duration::nanoseconds(1_234_500)),
        };
        let last = to_observation(&ObservationRow {
            last_logon: Some(t + time::Duration::microseconds(1_234)),
            ..row.clone()
        })
        .unwrap();
        assert!(same_as_last(&row, Some(&last)));
        assert!(!same_as_last(&row, None));
        let rotated = Observation {
            unicode_pwd_version: Some(5),
            ..last.clone()
        };
        assert!(!same_as_last(&row, Some(&rotated)));
        let recreated = Observation {
            object_guid: Uuid::from_u128(6),
            ..last
        };
        assert!(!same_as_last(&row, Some(&recreated)));
    }
}

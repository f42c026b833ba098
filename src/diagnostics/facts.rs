//! Facts derived once from a snapshot, shared by every rule: which DCs answered, the latest
//! logon (L), the newest password write (P), the newest `unicodePwd` metadata, and the history of
//! the same object.

use time::format_description::well_known::Rfc3339;
use time::{Duration, OffsetDateTime, UtcOffset};

use crate::ad::{
    AttrMeta, ComputerAccount, DcAccountView, DcDiscovery, DcOutcome, Observation, PortalWrite,
    PortalWriteKind, Snapshot,
};

/// How far the real last logon may be after `lastLogonTimestamp`: it is only rewritten when it is
/// older than `msDS-LogonTimeSyncInterval` (14 days minus up to 5), so it lags by at most 14 days.
pub(super) const LLT_SLACK: Duration = Duration::days(14);

/// A time and where it came from (`pwdLastSet on dc1`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Stamp {
    pub at: OffsetDateTime,
    pub source: String,
}

/// What we know of the machine's last logon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Logon {
    /// The latest logon known for certain (a lower bound on the real last logon): the max of
    /// every DC's `lastLogon`, `lastLogonTimestamp` and the history of this object.
    pub latest: Option<Stamp>,
    /// `latest` is exact: every DC of the domain answered (discovered ones included) and a
    /// per-DC `lastLogon` holds the maximum.
    pub precise: bool,
    /// The latest the machine may really have logged on: `latest` when precise, else
    /// `lastLogonTimestamp + 14 days` if that is later.
    pub upper: Option<OffsetDateTime>,
    /// Every known logon instant.
    pub points: Vec<OffsetDateTime>,
}

pub(super) struct Facts<'a> {
    pub now: OffsetDateTime,
    pub snapshot: &'a Snapshot,
    pub account: Option<&'a ComputerAccount>,
    /// DCs that hold the object, in snapshot order.
    pub found: Vec<(&'a str, &'a DcAccountView)>,
    pub not_found: Vec<&'a str>,
    /// DC and error.
    pub unreachable: Vec<(&'a str, &'a str)>,
    /// Every DC of the domain was asked and answered: discovery ran, none is excluded, none
    /// failed. Only then is a per-DC maximum (`lastLogon`) the domain's.
    pub per_dc_complete: bool,
    /// Observations of the same object (same `objectGUID`), oldest first.
    pub history: Vec<&'a Observation>,
    pub logon: Logon,
    /// The newest password write: max of `pwdLastSet` (account and every DC) and the originating
    /// change times of `unicodePwd` / `pwdLastSet` in every DC's metadata.
    pub pwd: Option<Stamp>,
    /// The `unicodePwd` metadata with the highest version (newest time on ties), and its DC.
    pub newest_meta: Option<(&'a str, &'a AttrMeta)>,
}

impl<'a> Facts<'a> {
    pub fn new(snapshot: &'a Snapshot, now: OffsetDateTime) -> Facts<'a> {
        let mut found = Vec::new();
        let mut not_found = Vec::new();
        let mut unreachable = Vec::new();
        for v in &snapshot.per_dc {
            match &v.outcome {
                DcOutcome::Found(a) => found.push((v.dc.as_str(), a)),
                DcOutcome::NotFound => not_found.push(v.dc.as_str()),
                DcOutcome::Unreachable { error } => {
                    unreachable.push((v.dc.as_str(), error.as_str()))
                }
            }
        }
        let account = snapshot.account.as_ref();
        let mut history: Vec<&Observation> = match account {
            Some(a) => snapshot
                .history
                .iter()
                .filter(|o| o.object_guid == a.object_guid)
                .collect(),
            None => Vec::new(),
        };
        history.sort_by_key(|o| o.observed_at);

        let per_dc_complete = unreachable.is_empty()
            && snapshot.coverage.discovery == DcDiscovery::Complete
            && snapshot.coverage.excluded.is_empty();
        let pwd = newest_password_write(account, &found);
        let logon = logon(account, &found, &history, per_dc_complete, pwd.as_ref());
        let newest_meta = found
            .iter()
            .filter_map(|(dc, v)| v.unicode_pwd.as_ref().map(|m| (*dc, m)))
            .max_by_key(|(_, m)| (m.version, m.originating_change_time));
        Facts {
            now,
            snapshot,
            account,
            found,
            not_found,
            unreachable,
            per_dc_complete,
            history,
            logon,
            pwd,
            newest_meta,
        }
    }

    /// `now - t`.
    pub fn age(&self, t: OffsetDateTime) -> Duration {
        self.now - t
    }

    /// trustdesk's newest write or repair step of this object, ignoring failure reports.
    pub fn last_portal_step(&self) -> Option<&'a PortalWrite> {
        self.snapshot
            .portal_writes
            .iter()
            .filter(|w| w.kind != PortalWriteKind::RepairFailed)
            .max_by_key(|w| w.at)
    }

    /// trustdesk's newest step, when it accounts for the newest password write `p` (no write
    /// came more than `slack` after it): a reset, a redeem or a completed repair.
    pub fn portal_step_of(&self, p: &Stamp, slack: Duration) -> Option<&'a PortalWrite> {
        self.last_portal_step()
            .filter(|w| p.at <= w.at.saturating_add(slack))
    }
}

fn latest(stamps: impl IntoIterator<Item = Stamp>) -> Option<Stamp> {
    stamps
        .into_iter()
        .fold(None, |best: Option<Stamp>, s| match best {
            Some(b) if b.at >= s.at => Some(b),
            _ => Some(s),
        })
}

/// How soon after a failed attempt a logon on the same DC is the NTLM fallback with the
/// previous password, not a logon with the current one.
pub(super) const FALLBACK_WINDOW: Duration = Duration::seconds(5);

/// How long after a password change a DC accepts the previous password over NTLM (Windows:
/// 60 minutes, `OldPasswordAllowedPeriod`; Samba: `old password allowed period`, 60).
pub(super) const OLD_PASSWORD_PERIOD: Duration = Duration::minutes(60);

/// Whether this DC's `lastLogon` is the NTLM fallback with the *previous* password: it follows
/// a bad password on the same DC within [`FALLBACK_WINDOW`], inside [`OLD_PASSWORD_PERIOD`]
/// of the newest write `p`. A machine whose secret is wrong fails Kerberos, then passes NTLM
/// with the previous password (seen in the lab, Samba 4.17: `badPasswordTime`, then
/// `lastLogon` 10 ms later). Such a logon proves the machine holds the old password, not the
/// current one.
pub(super) fn fallback_logon(v: &DcAccountView, p: Option<&Stamp>) -> bool {
    match (v.bad_password_time, v.last_logon, p) {
        (Some(bad), Some(logon), Some(p)) => {
            logon >= bad
                && logon - bad <= FALLBACK_WINDOW
                && bad > p.at
                && bad <= p.at.saturating_add(OLD_PASSWORD_PERIOD)
        }
        _ => false,
    }
}

fn logon(
    account: Option<&ComputerAccount>,
    found: &[(&str, &DcAccountView)],
    history: &[&Observation],
    all_answered: bool,
    pwd: Option<&Stamp>,
) -> Logon {
    let per_dc: Vec<Stamp> = found
        .iter()
        .filter(|(_, v)| !fallback_logon(v, pwd))
        .filter_map(|(dc, v)| {
            v.last_logon.map(|at| Stamp {
                at,
                source: format!("lastLogon on {dc}"),
            })
        })
        .collect();
    let from_history = history.iter().filter_map(|o| {
        o.last_logon.map(|at| Stamp {
            at,
            source: format!("lastLogon recorded by trustdesk at {}", ts(o.observed_at)),
        })
    });
    let precise_max = latest(per_dc.iter().cloned().chain(from_history));
    let llt = account.and_then(|a| a.last_logon_timestamp);
    let llt_stamp = llt.map(|at| Stamp {
        at,
        source: "lastLogonTimestamp (accurate to 9–14 days)".to_string(),
    });
    let mut points: Vec<OffsetDateTime> = per_dc.iter().map(|s| s.at).collect();
    points.extend(history.iter().filter_map(|o| o.last_logon));
    points.extend(llt);

    let precise = all_answered
        && !found.is_empty()
        && match (&precise_max, llt) {
            (Some(p), Some(l)) => p.at >= l,
            (Some(_), None) => true,
            (None, _) => false,
        };
    let latest = latest(precise_max.into_iter().chain(llt_stamp));
    let upper = match (&latest, llt) {
        (Some(l), _) if precise => Some(l.at),
        (Some(l), Some(llt)) => Some(l.at.max(llt.saturating_add(LLT_SLACK))),
        (Some(l), None) => Some(l.at),
        (None, _) => None,
    };
    Logon {
        latest,
        precise,
        upper,
        points,
    }
}

fn newest_password_write(
    account: Option<&ComputerAccount>,
    found: &[(&str, &DcAccountView)],
) -> Option<Stamp> {
    let mut stamps: Vec<Stamp> = Vec::new();
    if let Some(at) = account.and_then(|a| a.pwd_last_set) {
        stamps.push(Stamp {
            at,
            source: "pwdLastSet".to_string(),
        });
    }
    for (dc, v) in found {
        if let Some(at) = v.pwd_last_set {
            stamps.push(Stamp {
                at,
                source: format!("pwdLastSet on {dc}"),
            });
        }
        if let Some(m) = &v.unicode_pwd {
            stamps.push(Stamp {
                at: m.originating_change_time,
                source: format!(
                    "unicodePwd version {} written by invocation {} (metadata on {dc})",
                    m.version, m.originating_invocation_id
                ),
            });
        }
        if let Some(m) = &v.pwd_last_set_meta {
            stamps.push(Stamp {
                at: m.originating_change_time,
                source: format!("pwdLastSet originating write (metadata on {dc})"),
            });
        }
    }
    latest(stamps)
}

/// RFC 3339 in UTC (`2026-11-24T04:18:09Z`).
pub(super) fn ts(t: OffsetDateTime) -> String {
    let t = t.to_offset(UtcOffset::UTC);
    t.format(&Rfc3339).unwrap_or_else(|_| t.to_string())
}

/// A duration for a sentence: `93 days`, `5 h 3 min`, `10 min`, `4 min 10 s`, `30 s`.
pub(super) fn span(d: Duration) -> String {
    let d = d.abs();
    let (h, m, s) = (
        d.whole_hours(),
        d.whole_minutes() % 60,
        d.whole_seconds() % 60,
    );
    match (d.whole_days(), h, m, s) {
        (days, ..) if days >= 2 => format!("{days} days"),
        (_, h, 0, _) if h >= 1 => format!("{h} h"),
        (_, h, m, _) if h >= 1 => format!("{h} h {m} min"),
        (_, _, 0, s) => format!("{s} s"),
        (_, _, m, 0) => format!("{m} min"),
        (_, _, m, s) => format!("{m} min {s} s"),
    }
}

/// Whether two computer names denote the same account: case-insensitive, ignoring a trailing `$`
/// and, for DNS names, everything after the first label.
pub(super) fn same_name(a: &str, b: &str) -> bool {
    fn norm(s: &str) -> &str {
        let s = s.trim();
        let s = s.split('.').next().unwrap_or(s);
        s.strip_suffix('$').unwrap_or(s)
    }
    let (a, b) = (norm(a), norm(b));
    !a.is_empty() && a.eq_ignore_ascii_case(b)
}

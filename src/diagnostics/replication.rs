//! Rules comparing the DCs: replication lag, replication in progress, unreachable DCs.

use time::OffsetDateTime;

use crate::ad::AttrMeta;

use super::facts::{Facts, span, ts};
use super::{Cause, Confidence, DiagnosisSettings, FindingCode, Out, Severity};

/// What one comparison found.
struct Disagreement {
    code: FindingCode,
    confidence: Confidence,
    /// When the newest side was written; `None` if unknown.
    newest_write: Option<OffsetDateTime>,
    summary: String,
    evidence: Vec<String>,
    behind: Vec<String>,
}

/// `replication_lag`: the DCs that answered disagree about the password or the object.
///
/// The password is compared on the first evidence available, in this order: `unicodePwd`
/// metadata, `pwdLastSet` metadata, `pwdLastSet` values.
/// - high: metadata versions differ between DCs;
/// - medium: only times differ: the same version with originating times further apart than
///   `max_replication_skew` (a conflicting write), or `pwdLastSet` values spread by more than the
///   skew (or one DC has none);
/// - medium: `userAccountControl` differs; the object is missing on some DCs.
///
/// A disagreement whose newest write is at most `max_replication_skew` old is replication in
/// flight: `replication_in_progress` (medium), never lag and never healthy. Unreachable DCs are
/// a warning finding, never lag.
/// Returns the DCs that are behind (for the per-DC rows).
pub(super) fn check(f: &Facts<'_>, s: &DiagnosisSettings, out: &mut Out) -> Vec<String> {
    unreachable(f, out);
    let skew = s.max_replication_skew;
    let mut found = Vec::new();
    found.extend(
        versions(f, "unicodePwd", |v| v.unicode_pwd.as_ref(), skew)
            .or_else(|| versions(f, "pwdLastSet", |v| v.pwd_last_set_meta.as_ref(), skew))
            .or_else(|| pwd_last_set_values(f, skew)),
    );
    found.extend(uac_values(f));
    found.extend(object_presence(f));

    let mut lagging: Vec<String> = Vec::new();
    for d in found {
        let in_flight = d.newest_write.is_some_and(|w| f.age(w) <= skew);
        if in_flight {
            // Never "healthy" while a DC holds another version: say what is converging.
            out.cause(Cause::ReplicationInProgress, Confidence::Medium);
            let lag = if d.behind.is_empty() {
                "Some DCs".to_string()
            } else {
                d.behind.join(", ")
            };
            out.finding(
                FindingCode::ReplicationInProgress,
                Severity::Warning,
                format!(
                    "Replication in progress: {} The change is at most {} old, so it is \
                     probably still on its way. Until it arrives, {lag} answer with the old \
                     state: the machine may fail there with its new password (or still pass \
                     with the old one). Look again in a few minutes before changing anything.",
                    d.summary,
                    span(skew)
                ),
                d.evidence,
            );
            for dc in d.behind {
                if !lagging.contains(&dc) {
                    lagging.push(dc);
                }
            }
            continue;
        }
        out.cause(Cause::ReplicationLag, d.confidence);
        let severity = if d.confidence == Confidence::High {
            Severity::Critical
        } else {
            Severity::Warning
        };
        out.finding(d.code, severity, d.summary, d.evidence);
        for dc in d.behind {
            if !lagging.contains(&dc) {
                lagging.push(dc);
            }
        }
    }
    lagging
}

fn unreachable(f: &Facts<'_>, out: &mut Out) {
    if f.unreachable.is_empty() {
        return;
    }
    out.finding(
        FindingCode::DcUnreachable,
        Severity::Warning,
        format!(
            "{} of {} domain controllers did not answer; their lastLogon and replication state \
             are unknown.",
            f.unreachable.len(),
            f.snapshot.per_dc.len()
        ),
        f.unreachable
            .iter()
            .map(|(dc, e)| format!("{dc}: unreachable ({e})"))
            .collect(),
    );
}

fn versions<'a>(
    f: &Facts<'a>,
    attr: &str,
    pick: impl Fn(&'a crate::ad::DcAccountView) -> Option<&'a AttrMeta>,
    skew: time::Duration,
) -> Option<Disagreement> {
    let metas: Vec<(&str, &AttrMeta)> = f
        .found
        .iter()
        .filter_map(|(dc, v)| pick(v).map(|m| (*dc, m)))
        .collect();
    let newest = metas
        .iter()
        .max_by_key(|(_, m)| (m.version, m.originating_change_time))?
        .1;
    let evidence = metas
        .iter()
        .map(|(dc, m)| {
            format!(
                "{attr} on {dc}: version = {}, originating change = {}, invocation = {}",
                m.version,
                ts(m.originating_change_time),
                m.originating_invocation_id
            )
        })
        .collect();
    let behind: Vec<String> = metas
        .iter()
        .filter(|(_, m)| m.version < newest.version)
        .map(|(dc, _)| dc.to_string())
        .collect();
    if !behind.is_empty() {
        return Some(Disagreement {
            code: FindingCode::ReplicationLag,
            confidence: Confidence::High,
            newest_write: Some(newest.originating_change_time),
            summary: format!(
                "Domain controllers disagree on the machine password: {attr} version {} \
                 (written at {}) has not reached {}.",
                newest.version,
                ts(newest.originating_change_time),
                behind.join(", ")
            ),
            evidence,
            behind,
        });
    }
    let times = metas.iter().map(|(_, m)| m.originating_change_time);
    let (min, max) = (times.clone().min()?, times.max()?);
    (max - min > skew).then(|| Disagreement {
        code: FindingCode::ReplicationLag,
        confidence: Confidence::Medium,
        newest_write: Some(max),
        summary: format!(
            "Domain controllers hold {attr} version {} with originating times {} apart (a \
             conflicting write).",
            newest.version,
            span(max - min)
        ),
        evidence,
        behind: Vec::new(),
    })
}

fn pwd_last_set_values(f: &Facts<'_>, skew: time::Duration) -> Option<Disagreement> {
    let values: Vec<(&str, Option<OffsetDateTime>)> = f
        .found
        .iter()
        .map(|(dc, v)| (*dc, v.pwd_last_set))
        .collect();
    let set: Vec<OffsetDateTime> = values.iter().filter_map(|(_, t)| *t).collect();
    let (min, max) = (set.iter().min()?, set.iter().max()?);
    let some_unset = set.len() < values.len();
    if !(some_unset || *max - *min > skew) {
        return None;
    }
    let behind: Vec<String> = values
        .iter()
        .filter(|(_, t)| t.is_none_or(|t| *max - t > skew))
        .map(|(dc, _)| dc.to_string())
        .collect();
    Some(Disagreement {
        code: FindingCode::ReplicationLag,
        confidence: Confidence::Medium,
        newest_write: Some(*max),
        summary: format!(
            "Domain controllers disagree on pwdLastSet: {} has {}, {} older or no value.",
            values
                .iter()
                .find(|(_, t)| *t == Some(*max))
                .map_or("one DC", |(dc, _)| dc),
            ts(*max),
            behind.join(", ")
        ),
        evidence: values
            .iter()
            .map(|(dc, t)| match t {
                Some(t) => format!("pwdLastSet on {dc} = {}", ts(*t)),
                None => format!("pwdLastSet on {dc} = 0 (never set)"),
            })
            .collect(),
        behind,
    })
}

fn uac_values(f: &Facts<'_>) -> Option<Disagreement> {
    let values: Vec<(&str, crate::ad::Uac)> = f
        .found
        .iter()
        .filter_map(|(dc, v)| v.uac.map(|u| (*dc, u)))
        .collect();
    let first = values.first()?.1;
    if values.iter().all(|(_, u)| *u == first) {
        return None;
    }
    Some(Disagreement {
        code: FindingCode::ReplicationLag,
        confidence: Confidence::Medium,
        newest_write: f.account.map(|a| a.when_changed),
        summary: "Domain controllers disagree on userAccountControl (enabled/disabled state or \
                  account type)."
            .to_string(),
        evidence: values
            .iter()
            .map(|(dc, u)| format!("userAccountControl on {dc} = {u}"))
            .collect(),
        behind: Vec::new(),
    })
}

fn object_presence(f: &Facts<'_>) -> Option<Disagreement> {
    if f.found.is_empty() || f.not_found.is_empty() {
        return None;
    }
    let mut evidence: Vec<String> = f
        .found
        .iter()
        .map(|(dc, _)| format!("{dc}: object present"))
        .collect();
    evidence.extend(
        f.not_found
            .iter()
            .map(|dc| format!("{dc}: no such computer object")),
    );
    Some(Disagreement {
        code: FindingCode::ObjectMissingOnDc,
        confidence: Confidence::Medium,
        newest_write: f.account.map(|a| a.when_created),
        summary: format!(
            "The computer object exists on {} but not on {}: its creation or deletion has not \
             replicated.",
            f.found
                .iter()
                .map(|(dc, _)| *dc)
                .collect::<Vec<_>>()
                .join(", "),
            f.not_found.join(", ")
        ),
        evidence,
        behind: f.not_found.iter().map(|dc| dc.to_string()).collect(),
    })
}

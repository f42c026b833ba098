//! Rules about the machine password over time: set by someone else, clone churn, rotation off,
//! and long silence (which is never a cause).

use time::Duration;

use crate::ad::ComputerAccount;

use super::facts::{Facts, Stamp, span, ts};
use super::{Cause, Confidence, DiagnosisSettings, FindingCode, Out, Severity};

/// How close to `whenCreated` the password must have been set for an unused account to count as
/// a fresh join (a join creates the object and sets its password within seconds; pre-staging and
/// slow links get some slack).
pub(super) const JOIN_WINDOW: Duration = Duration::minutes(15);

/// How long the machine must have been seen logging on while its password was overdue before we
/// call rotation disabled. Netlogon checks the password age at start-up and then every 15
/// minutes, so a machine with rotation on that has been back for a day has rotated.
pub(super) const ROTATION_SPAN: Duration = Duration::days(1);

/// A password set with no logon since, on an account created at the same time with version 1–2:
/// a fresh join nobody has used yet.
fn fresh_join(f: &Facts<'_>, a: &ComputerAccount, p: &Stamp) -> bool {
    let version_ok = f
        .newest_meta
        .is_none_or(|(_, m)| (1..=2).contains(&m.version));
    version_ok && (p.at - a.when_created).abs() <= JOIN_WINDOW
}

/// `password_set_after_last_logon`: someone other than the machine set its password.
///
/// L is the latest logon (max of every answering DC's `lastLogon`, `lastLogonTimestamp` and
/// trustdesk's history of this object); when it is not exact (a DC did not answer, or only
/// `lastLogonTimestamp` is known) the comparison uses the latest the machine may have logged on,
/// `lastLogonTimestamp + 14 days`, and confidence is at most medium. P is the newest password
/// write (`pwdLastSet` and the `unicodePwd` originating change time over all DCs).
///
/// - P > L + `self_rotation_grace`: high if some DC has `badPasswordTime` after P (the machine
///   keeps failing with its secret), else medium;
/// - P > L (within the grace) and `badPasswordTime` after P on some DC: high;
/// - never logged on: the same cause (medium, high with failures), except for a fresh, unused
///   join (version 1–2 and `whenCreated` within 15 minutes of P): an info finding only.
///
/// Writes trustdesk made itself are `history.rs`'s: P from a completed token repair is the
/// machine's own, and P from a portal reset or redeem is named there.
pub(super) fn after_last_logon(f: &Facts<'_>, s: &DiagnosisSettings, out: &mut Out) {
    let (Some(a), Some(p)) = (f.account, &f.pwd) else {
        return;
    };
    if f.portal_step_of(p, s.max_replication_skew).is_some() {
        return;
    }
    let failures: Vec<String> = f
        .found
        .iter()
        .filter_map(|(dc, v)| {
            let t = v.bad_password_time.filter(|t| *t > p.at)?;
            let count = v
                .bad_pwd_count
                .map_or("unknown".to_string(), |c| c.to_string());
            Some(format!(
                "badPasswordTime on {dc} = {} (after the password write), badPwdCount = {count}",
                ts(t)
            ))
        })
        .collect();
    let failing = !failures.is_empty();
    let by_failures = if failing {
        Confidence::High
    } else {
        Confidence::Medium
    };
    let mut evidence = vec![format!(
        "newest password write = {} ({})",
        ts(p.at),
        p.source
    )];
    let (confidence, summary) = match &f.logon.latest {
        None => {
            if fresh_join(f, a, p) {
                out.finding(
                    FindingCode::FreshJoinUnused,
                    Severity::Info,
                    format!(
                        "The account was created at {} and its password set at {} by the join; \
                         no machine has logged on with it yet: a fresh, unused join.",
                        ts(a.when_created),
                        ts(p.at)
                    ),
                    vec![
                        format!("whenCreated = {}", ts(a.when_created)),
                        evidence.remove(0),
                    ],
                );
                return;
            }
            evidence.push(
                "no logon recorded: no lastLogon on any DC, no lastLogonTimestamp, none in \
                 trustdesk's history"
                    .to_string(),
            );
            let summary = format!(
                "The machine password was set at {} and no machine has ever logged on with it: \
                 the secret the workstation holds is not the one AD holds.",
                ts(p.at)
            );
            (by_failures, summary)
        }
        Some(l) => {
            let upper = f.logon.upper.unwrap_or(l.at);
            evidence.push(format!("latest logon = {} ({})", ts(l.at), l.source));
            if !f.logon.precise {
                evidence.push(format!(
                    "latest logon not exact (lastLogonTimestamp is accurate to 9–14 days, or a \
                     DC did not answer): the machine may have logged on as late as {}",
                    ts(upper)
                ));
            }
            evidence.push(format!(
                "self_rotation_grace = {}",
                span(s.self_rotation_grace)
            ));
            let confidence = if p.at > upper.saturating_add(s.self_rotation_grace) {
                by_failures
            } else if p.at > upper && failing {
                Confidence::High
            } else {
                if !f.logon.precise && p.at > l.at.saturating_add(s.self_rotation_grace) {
                    evidence.extend(failures);
                    out.finding(
                        FindingCode::LastLogonImprecise,
                        Severity::Info,
                        format!(
                            "The password was set at {} after the last recorded logon ({}), but \
                             that logon time is not exact: it cannot be told whether the machine \
                             rotated it itself.",
                            ts(p.at),
                            ts(l.at)
                        ),
                        evidence,
                    );
                }
                return;
            };
            let confidence = if f.logon.precise {
                confidence
            } else {
                confidence.min(Confidence::Medium)
            };
            let summary = format!(
                "The machine password was set at {}, {} after the machine's last logon at {}: \
                 not its own rotation but someone else's write (an admin reset, or another \
                 computer joined with the same name).",
                ts(p.at),
                span(p.at - l.at),
                ts(l.at)
            );
            (confidence, summary)
        }
    };
    evidence.extend(failures);
    out.cause(Cause::PasswordSetAfterLastLogon, confidence);
    out.finding(
        FindingCode::PasswordSetAfterLastLogon,
        Severity::Critical,
        summary,
        evidence,
    );
}

/// Whether a sequence of originating invocation ids returns to an id after another one
/// (A, B, A): the password changes come from alternating DCs.
fn alternates(ids: impl IntoIterator<Item = uuid::Uuid>) -> bool {
    let mut runs: Vec<uuid::Uuid> = Vec::new();
    for id in ids {
        if runs.last() != Some(&id) {
            runs.push(id);
        }
    }
    let mut distinct = runs.clone();
    distinct.sort();
    distinct.dedup();
    runs.len() > distinct.len()
}

/// `clone_suspected`: the password is set more often than one machine would.
///
/// The number of password sets inside the last `rotation_window` is estimated as the larger of
/// (a) the current `unicodePwd` version minus the version trustdesk saw at its oldest observation
/// of this object still inside the window (0 if the newest write is older than that observation:
/// inconsistent data proves nothing), and (b) when `whenCreated` is inside the window, the
/// version minus 1 (the first version is the creation; a join is one set). At or above
/// `clone_threshold` (0 acts as 1): high when the originating invocation ids alternate between
/// DCs (history, then now); else medium from twice the threshold, low below. The versions
/// trustdesk wrote itself inside the window (a reset: one; a token repair: three) are taken off
/// first.
///
/// Churn clearly above the threshold (alternating, or twice the threshold) explains a "set
/// after the last logon" too, and its fix differs (a reset only moves the problem to the
/// other clone): `clone_suspected` then takes at least the confidence of
/// `password_set_after_last_logon`, and ranks above it.
pub(super) fn clone_churn(f: &Facts<'_>, s: &DiagnosisSettings, out: &mut Out) {
    let (Some(a), Some((dc, meta))) = (f.account, f.newest_meta) else {
        return;
    };
    let v = meta.version;
    let window_start = f.now.saturating_sub(s.rotation_window);
    let inside: Vec<_> = f
        .history
        .iter()
        .filter(|o| o.observed_at >= window_start)
        .collect();
    let mut evidence = vec![format!(
        "unicodePwd version = {v} (on {dc}, written at {})",
        ts(meta.originating_change_time)
    )];
    // Sets since an observation are only real if the newest write came after it.
    let from_history = inside.iter().find_map(|o| {
        let v0 = o.unicode_pwd_version?;
        evidence.push(format!(
            "trustdesk saw unicodePwd version {v0} at {}",
            ts(o.observed_at)
        ));
        Some(if meta.originating_change_time > o.observed_at {
            v.saturating_sub(v0)
        } else {
            0
        })
    });
    let from_creation = (a.when_created >= window_start).then(|| {
        evidence.push(format!(
            "whenCreated = {} (inside the window: every version after the first is a set)",
            ts(a.when_created)
        ));
        v.saturating_sub(1)
    });
    let raw = from_history.max(from_creation).unwrap_or(0);
    let ours: u32 = f
        .snapshot
        .portal_writes
        .iter()
        .filter(|w| w.at >= window_start)
        .map(|w| w.kind.versions_written())
        .sum();
    if ours > 0 {
        evidence.push(format!(
            "trustdesk itself wrote {ours} version(s) inside the window (resets and token repairs)"
        ));
    }
    let sets = raw.saturating_sub(ours);
    let threshold = s.clone_threshold.max(1);
    if sets < threshold {
        return;
    }
    let ids: Vec<uuid::Uuid> = inside
        .iter()
        .filter_map(|o| o.originating_dc)
        .chain(std::iter::once(meta.originating_invocation_id))
        .collect();
    let alternating = alternates(ids.iter().copied());
    if alternating {
        let order: Vec<String> = ids.iter().map(|i| i.to_string()).collect();
        evidence.push(format!(
            "originating invocations, oldest first = {} (alternating)",
            order.join(", ")
        ));
    }
    let clearly = alternating || sets >= threshold.saturating_mul(2);
    let confidence = if alternating {
        Confidence::High
    } else if clearly {
        Confidence::Medium
    } else {
        Confidence::Low
    };
    let confidence = match out.confidence_of(Cause::PasswordSetAfterLastLogon) {
        Some(other) if clearly => confidence.max(other),
        _ => confidence,
    };
    let severity = if confidence >= Confidence::Medium {
        Severity::Critical
    } else {
        Severity::Warning
    };
    out.cause(Cause::CloneSuspected, confidence);
    out.finding(
        FindingCode::CloneSuspected,
        severity,
        format!(
            "The machine password was set at least {sets} times in the last {} ({threshold} or \
             more count as churn): several machines may share this account (a clone without \
             sysprep), or it was repaired repeatedly.",
            span(s.rotation_window)
        ),
        evidence,
    );
}

/// `rotation_disabled` (medium): a security finding, not a cause of the trust error.
///
/// Raised when P is older than two rotation windows (one window of slack for machines that were
/// away when rotation fell due), the latest logon L is within one window, and the machine was
/// seen logging on at least [`ROTATION_SPAN`] before L while already overdue (P + one window):
/// it has been online with an overdue password for a day, so it is not about to rotate. Without
/// that span (e.g. it just came back from a long absence) only a `password_overdue` info finding.
pub(super) fn rotation(f: &Facts<'_>, s: &DiagnosisSettings, out: &mut Out) {
    let (Some(p), Some(l)) = (&f.pwd, &f.logon.latest) else {
        return;
    };
    let w = s.rotation_window;
    if f.age(p.at) <= w.saturating_mul(2) || f.age(l.at) > w {
        return;
    }
    let due = p.at.saturating_add(w);
    let first_overdue = f.logon.points.iter().filter(|t| **t > due).min().copied();
    let evidence = vec![
        format!("newest password write = {} ({})", ts(p.at), p.source),
        format!("latest logon = {} ({})", ts(l.at), l.source),
        format!("rotation_window = {}", span(w)),
    ];
    let online_overdue = first_overdue.is_some_and(|t| l.at - t >= ROTATION_SPAN);
    if !online_overdue {
        out.finding(
            FindingCode::PasswordOverdue,
            Severity::Info,
            format!(
                "The password was last set at {} ({} ago) and the machine logged on at {}: if it \
                 just returned from a long absence it rotates within minutes; if it stays this \
                 old, rotation is disabled.",
                ts(p.at),
                span(f.age(p.at)),
                ts(l.at)
            ),
            evidence,
        );
        return;
    }
    out.cause(Cause::RotationDisabled, Confidence::Medium);
    out.finding(
        FindingCode::RotationDisabled,
        Severity::Warning,
        format!(
            "The password was last set at {} ({} ago) although the machine keeps logging on \
             (last at {}): machine password rotation is off. This is a security finding, not \
             the cause of a trust error.",
            ts(p.at),
            span(f.age(p.at)),
            ts(l.at)
        ),
        evidence,
    );
}

/// Long silence: an info finding only, never a cause. Machine passwords do not expire, and a
/// machine that was off for months rotates when it returns.
pub(super) fn silence(f: &Facts<'_>, s: &DiagnosisSettings, out: &mut Out) {
    let Some(l) = &f.logon.latest else {
        return;
    };
    let age = f.age(l.at);
    if age <= s.long_silence {
        return;
    }
    let mut evidence = vec![format!("latest logon = {} ({})", ts(l.at), l.source)];
    if !f.logon.precise {
        evidence.push("the real last logon may be up to 14 days later".to_string());
    }
    out.finding(
        FindingCode::LongSilence,
        Severity::Info,
        format!(
            "The machine last logged on at {}: off or away for {}. Machines rotate their \
             password when they return; a long absence does not break the trust by itself.",
            ts(l.at),
            span(age)
        ),
        evidence,
    );
}

/// Context findings: missing replication metadata, no password set, never logged on.
pub(super) fn context(f: &Facts<'_>, out: &mut Out) {
    let Some(a) = f.account else {
        return;
    };
    if !f.found.is_empty() && f.found.iter().all(|(_, v)| v.unicode_pwd.is_none()) {
        out.finding(
            FindingCode::NoReplicationMetadata,
            Severity::Info,
            "No DC returned unicodePwd replication metadata: password versions (clone churn) \
             and per-DC versions (replication lag) could not be checked."
                .to_string(),
            Vec::new(),
        );
    }
    if f.pwd.is_none() {
        out.finding(
            FindingCode::NoPasswordSet,
            Severity::Info,
            format!(
                "{} has no password set time (pwdLastSet = 0, no metadata): created without a \
                 password, or never joined.",
                a.sam_account_name
            ),
            vec!["pwdLastSet = 0".to_string()],
        );
    }
    let fresh = out
        .findings
        .iter()
        .any(|x| x.code == FindingCode::FreshJoinUnused);
    if f.logon.latest.is_none() && !fresh {
        out.finding(
            FindingCode::NeverLoggedOn,
            Severity::Info,
            format!(
                "No logon was ever recorded for {} (no lastLogon, no lastLogonTimestamp).",
                a.sam_account_name
            ),
            Vec::new(),
        );
    }
}

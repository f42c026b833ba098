//! Rules that read more than one DC's word: trustdesk's own resets and repairs, a machine that
//! presents an older secret than the one it rotated to, and DCs the per-DC view lacks.

use crate::ad::{DcDiscovery, PortalWrite, PortalWriteKind, TombstoneCheck};

use super::facts::{Facts, fallback_logon, span, ts};
use super::{Cause, Confidence, DiagnosisSettings, FindingCode, Out, Severity};

/// How long a redeemed token may stay without the client's report before the repair counts
/// as abandoned (the token itself lives 15 minutes; the client reports within seconds).
const REPAIR_REPORT_WAIT: time::Duration = time::Duration::minutes(15);

fn who(w: &PortalWrite) -> String {
    match &w.ticket {
        Some(t) => format!("{} ({t})", w.by),
        None => w.by.clone(),
    }
}

/// `per_dc_view_partial`: the per-DC attributes (`lastLogon`, `badPasswordTime`) come from
/// fewer DCs than the domain has: discovery is off or failed, DCs are excluded, or DCs did not
/// answer. Every cause that rests on them is then at most medium (see `Facts::per_dc_complete`).
pub(super) fn coverage(f: &Facts<'_>, out: &mut Out) {
    if f.per_dc_complete {
        return;
    }
    let asked = f.snapshot.per_dc.len();
    let answered = asked - f.unreachable.len();
    let excluded = &f.snapshot.coverage.excluded;
    let mut evidence: Vec<String> = f
        .unreachable
        .iter()
        .map(|(dc, e)| format!("{dc} did not answer: {e}"))
        .collect();
    evidence.extend(
        excluded
            .iter()
            .map(|dc| format!("{dc} is a DC of the domain, excluded by ldap.exclude_dcs")),
    );
    let scope = match &f.snapshot.coverage.discovery {
        DcDiscovery::Complete => format!(
            "lastLogon and badPasswordTime from {answered} of {} DCs",
            asked + excluded.len()
        ),
        DcDiscovery::Off => {
            evidence.push(
                "ldap.discover_dcs = false: DCs not listed in ldap.urls were not asked".into(),
            );
            format!(
                "lastLogon and badPasswordTime from {answered} of the {asked} configured DCs \
                 only (DC discovery is off)"
            )
        }
        DcDiscovery::Failed { error } => {
            evidence.push(format!("DC discovery failed: {error}"));
            format!(
                "lastLogon and badPasswordTime from {answered} of {asked} known DCs (the \
                 domain's DC list could not be read)"
            )
        }
    };
    let unread: Vec<String> = f
        .unreachable
        .iter()
        .map(|(dc, _)| format!("{dc} did not answer"))
        .chain(excluded.iter().map(|dc| format!("{dc} excluded")))
        .collect();
    let who = if unread.is_empty() {
        String::new()
    } else {
        format!("; {}", unread.join(", "))
    };
    out.finding(
        FindingCode::PerDcViewPartial,
        Severity::Warning,
        format!(
            "The per-DC view is partial: {scope}{who}. These attributes are kept by each DC on \
             its own, so a newer logon or failure on a DC not read is missed; causes that rest \
             on them are at most medium confidence."
        ),
        evidence,
    );
}

/// trustdesk's own writes: a DC-side reset through the portal is never "the machine's own
/// rotation", and a completed token repair is.
///
/// - newest step a reset with no password write after it: `password_set_after_last_logon`,
///   high: nobody but trustdesk held that password. The finding names who and when.
/// - a redeem the client reported as failed, or never reported on within
///   [`REPAIR_REPORT_WAIT`]: the same cause, medium (the client may have stored it).
/// - newest step a completed repair: an info finding; the password rules then take the
///   newest write as the machine's own (see `Facts::portal_step_of`).
/// - a redeem still waiting for the client's report: an info finding.
pub(super) fn portal_writes(f: &Facts<'_>, s: &DiagnosisSettings, out: &mut Out) {
    let Some(w) = f.last_portal_step() else {
        return;
    };
    let written_after = f
        .pwd
        .as_ref()
        .filter(|p| f.portal_step_of(p, s.max_replication_skew).is_none());
    let mut evidence = vec![format!(
        "{} through trustdesk at {} by {}",
        match w.kind {
            PortalWriteKind::DcReset => "DC-side reset",
            PortalWriteKind::TokenRedeemed => "token redeemed (DC-side password set)",
            PortalWriteKind::RepairCompleted => "token repair completed",
            PortalWriteKind::RepairFailed => "token repair failed",
        },
        ts(w.at),
        who(w)
    )];
    if let Some(p) = &f.pwd {
        evidence.push(format!(
            "newest password write = {} ({})",
            ts(p.at),
            p.source
        ));
    }
    let ago = span(f.age(w.at));
    let failed_since = f
        .snapshot
        .portal_writes
        .iter()
        .any(|x| x.kind == PortalWriteKind::RepairFailed && x.at >= w.at);
    let code = if w.kind == PortalWriteKind::DcReset {
        FindingCode::PortalReset
    } else {
        FindingCode::PortalRepairIncomplete
    };
    match (w.kind, written_after) {
        (PortalWriteKind::RepairCompleted, _) => out.finding(
            FindingCode::PortalRepairCompleted,
            Severity::Info,
            format!(
                "Repaired through trustdesk {ago} ago (token minted by {}): the client stored \
                 the new password, verified the channel and rotated it twice.",
                who(w)
            ),
            evidence,
        ),
        (PortalWriteKind::TokenRedeemed, None)
            if f.age(w.at) < REPAIR_REPORT_WAIT && !failed_since =>
        {
            let summary = format!(
                "A token repair is under way: the token minted by {} was redeemed {ago} ago and \
                 the client has not reported yet. Look again in a minute.",
                who(w)
            );
            out.finding(code, Severity::Info, summary, evidence);
        }
        (PortalWriteKind::DcReset, None) => {
            out.cause(Cause::PasswordSetAfterLastLogon, Confidence::High);
            let summary = format!(
                "Reset by {} through trustdesk at {} ({ago} ago); no repair since. The DC holds \
                 a random password no workstation has: this one cannot authenticate until it is \
                 token-repaired (or rejoined).",
                who(w),
                ts(w.at)
            );
            out.finding(code, Severity::Critical, summary, evidence);
        }
        (PortalWriteKind::TokenRedeemed, None) => {
            // The client may have stored the password before it stopped: not certain.
            out.cause(Cause::PasswordSetAfterLastLogon, Confidence::Medium);
            let summary = format!(
                "A token repair (minted by {}) set the password on the DC at {} ({ago} ago) and \
                 the client {}. Unless it stored the password before it stopped, the workstation \
                 cannot authenticate: mint a new token and run the client again.",
                who(w),
                ts(w.at),
                if failed_since {
                    "reported that it failed"
                } else {
                    "never reported that it finished"
                }
            );
            out.finding(code, Severity::Critical, summary, evidence);
        }
        (_, Some(p)) => {
            let summary = format!(
                "trustdesk last wrote this password {ago} ago (by {}); it was written again at {} \
                 by someone else (a rejoin, another tool or the machine).",
                who(w),
                ts(p.at)
            );
            out.finding(code, Severity::Info, summary, evidence);
        }
        (PortalWriteKind::RepairFailed, None) => {}
    }
}

/// `stale_local_secret`: the machine presents an older secret than the one it rotated to, as
/// after a VM snapshot revert or a disk restore.
///
/// The newest password was in use (a successful logon at or after it, L ≥ P, or a completed
/// trustdesk repair after it), and a DC has failed attempts after that last success
/// (`badPasswordTime` > L): high when the per-DC view is complete and exact, else medium.
/// Someone else's write (P > L) is `password_set_after_last_logon` instead, and churn is a
/// clone.
///
/// A failure that the same DC followed by the NTLM fallback with the previous password counts
/// too (`facts::fallback_logon`; such a logon is never taken as one with the current
/// password). A password trustdesk set that nobody repaired is the portal rule's.
pub(super) fn stale_local_secret(f: &Facts<'_>, s: &DiagnosisSettings, out: &mut Out) {
    let (Some(_), Some(p), Some(l)) = (f.account, &f.pwd, &f.logon.latest) else {
        return;
    };
    // A reset or redeem that nobody completed is the portal rule's; a completed repair makes
    // the newest write the machine's own.
    let repaired = match f.portal_step_of(p, s.max_replication_skew) {
        Some(w) if w.kind == PortalWriteKind::RepairCompleted => Some(w),
        Some(_) => return,
        None if p.at > l.at => return,
        None => None,
    };
    let since = repaired.map_or(l.at, |w| w.at.max(l.at)).max(p.at);
    let failures: Vec<String> = f
        .found
        .iter()
        .filter_map(|(dc, v)| {
            let t = v.bad_password_time?;
            let fallback = fallback_logon(v, Some(p));
            if t <= since && !fallback {
                return None;
            }
            let count = v
                .bad_pwd_count
                .map_or("unknown".to_string(), |c| c.to_string());
            let when = if t > since {
                "after the last successful logon".to_string()
            } else {
                format!(
                    "then a logon on the same DC {} later: the previous password accepted over \
                     NTLM",
                    span(v.last_logon.map_or(time::Duration::ZERO, |l| l - t))
                )
            };
            Some(format!(
                "badPasswordTime on {dc} = {} ({when}), badPwdCount = {count}",
                ts(t)
            ))
        })
        .collect();
    if failures.is_empty() {
        return;
    }
    let confidence = if f.logon.precise {
        Confidence::High
    } else {
        Confidence::Medium
    };
    let mut evidence = vec![
        format!("newest password write = {} ({})", ts(p.at), p.source),
        format!("latest successful logon = {} ({})", ts(l.at), l.source),
    ];
    if let Some(w) = repaired {
        evidence.push(format!(
            "token repair completed through trustdesk at {} ({})",
            ts(w.at),
            who(w)
        ));
    }
    evidence.extend(failures);
    out.cause(Cause::StaleLocalSecret, confidence);
    out.finding(
        FindingCode::StaleLocalSecret,
        Severity::Critical,
        format!(
            "The machine logged on with its current password (set at {}, last logon at {}) and \
             has failed to authenticate since: it presents an older secret than the one it \
             rotated to, as after a VM snapshot revert, a checkpoint or a disk restored from a \
             backup.",
            ts(p.at),
            ts(l.at)
        ),
        evidence,
    );
}

/// `tombstone_check_not_run`: Deleted Objects could not be searched (by default only
/// administrators may list it), so "no deleted predecessor" is unknown, not false.
pub(super) fn tombstone_check(f: &Facts<'_>, out: &mut Out) {
    let detail = match &f.snapshot.tombstone_check {
        TombstoneCheck::Done => return,
        TombstoneCheck::NotPermitted { detail } => detail,
        TombstoneCheck::Failed { error } => error,
    };
    let what = if f.account.is_some() {
        "whether an earlier computer of this name was deleted (account_recreated)"
    } else {
        "whether this computer was deleted (and can be restored)"
    };
    out.finding(
        FindingCode::TombstoneCheckNotRun,
        Severity::Warning,
        format!(
            "Deleted Objects could not be searched, so {what} is unknown, not ruled out. Grant \
             the service account List Contents and Read Property on CN=Deleted Objects (KB \
             892806: dsacls /takeownership, then dsacls /g)."
        ),
        vec![detail.clone()],
    );
}

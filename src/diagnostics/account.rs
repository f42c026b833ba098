//! Rules about the computer object itself: protected, missing, re-created, disabled.

use crate::ad::tier0::{Tier0, tier0_reasons};
use crate::ad::{Tombstone, Uac};

use super::facts::{Facts, same_name, ts};
use super::{Cause, Confidence, FindingCode, Out, Severity};

/// `protected_account` (high), always listed first; no repair action is offered.
///
/// Raised for every tier-0 reason the directory shows (`ad/tier0.rs`: a DC or RODC,
/// `adminCount`, either delegation flag, delegation to a DC, a privileged group, primary group
/// 516/521, groups that could not be read), when any DC's `userAccountControl` says DC or RODC,
/// or when the policy says the DN sits under a protected OU. The other rules still run, for
/// information.
pub(super) fn protected(f: &Facts<'_>, out: &mut Out) -> bool {
    let mut evidence = Vec::new();
    let dc_kind = |uac: Uac| {
        if uac.has(Uac::SERVER_TRUST_ACCOUNT) {
            Some(Tier0::DomainController)
        } else if uac.has(Uac::PARTIAL_SECRETS_ACCOUNT) {
            Some(Tier0::ReadOnlyDomainController)
        } else {
            None
        }
    };
    if let Some(a) = f.account {
        for why in tier0_reasons(a) {
            evidence.push(match why {
                Tier0::AdminCount => "adminCount = 1 (protected by AdminSDHolder)".to_string(),
                Tier0::DomainController
                | Tier0::ReadOnlyDomainController
                | Tier0::UnconstrainedDelegation
                | Tier0::ProtocolTransition => format!("userAccountControl = {} ({why})", a.uac),
                other => format!("{other}"),
            });
        }
    }
    if f.account.is_none_or(|a| dc_kind(a.uac).is_none()) {
        for (dc, v) in &f.found {
            if let Some((uac, what)) = v.uac.and_then(|u| dc_kind(u).map(|w| (u, w))) {
                evidence.push(format!("userAccountControl on {dc} = {uac} ({what})"));
            }
        }
    }
    if f.snapshot.protected_ou {
        let dn = f.account.map_or("this object", |a| a.dn.as_str());
        evidence.push(format!("{dn} is under a protected OU (policy)"));
    }
    if evidence.is_empty() {
        return false;
    }
    out.cause(Cause::ProtectedAccount, Confidence::High);
    out.finding(
        FindingCode::ProtectedAccount,
        Severity::Warning,
        "This is a protected object (tier 0: a domain controller, adminCount=1, delegation, a \
         privileged group or a protected OU): trustdesk offers no repair; escalate to the domain \
         administrators."
            .to_string(),
        evidence,
    );
    true
}

fn tombstone_evidence(t: &Tombstone) -> Vec<String> {
    let mut e = vec![format!("deleted object = {}", t.dn)];
    e.push(format!("sAMAccountName = {}", t.sam_account_name));
    if let Some(g) = t.object_guid {
        e.push(format!("objectGUID = {g}"));
    }
    if let Some(w) = t.when_changed {
        e.push(format!("whenChanged (about the deletion) = {}", ts(w)));
    }
    if let Some(p) = &t.last_known_parent {
        e.push(format!("lastKnownParent = {p}"));
    }
    e
}

/// `account_missing` (high): no computer object by that name.
///
/// Medium instead when no DC confirmed the absence (every DC listed was unreachable). A tombstone
/// with the same `sAMAccountName` adds a `tombstone_found` finding: the object can be restored
/// from the AD Recycle Bin (its password comes back with it) or the machine rejoined.
pub(super) fn missing(f: &Facts<'_>, out: &mut Out) {
    if f.account.is_some() {
        return;
    }
    let name = &f.snapshot.name_queried;
    let unconfirmed =
        !f.snapshot.per_dc.is_empty() && f.unreachable.len() == f.snapshot.per_dc.len();
    let confidence = if unconfirmed {
        Confidence::Medium
    } else {
        Confidence::High
    };
    let mut evidence: Vec<String> = f
        .not_found
        .iter()
        .map(|dc| format!("{dc}: no such computer object"))
        .collect();
    evidence.extend(
        f.unreachable
            .iter()
            .map(|(dc, e)| format!("{dc}: unreachable ({e})")),
    );
    let summary = if unconfirmed {
        format!("No computer object named {name} was returned, but no DC could confirm it.")
    } else {
        format!("No computer object named {name} exists in the domain.")
    };
    out.cause(Cause::AccountMissing, confidence);
    out.finding(
        FindingCode::AccountMissing,
        Severity::Critical,
        summary,
        evidence,
    );

    for t in f
        .snapshot
        .tombstones
        .iter()
        .filter(|t| same_name(&t.sam_account_name, name))
    {
        let when = t.when_changed.map_or_else(
            || "at an unknown time".to_string(),
            |w| format!("at about {}", ts(w)),
        );
        out.finding(
            FindingCode::TombstoneFound,
            Severity::Warning,
            format!(
                "A deleted computer object named {} was found (deleted {when}): restore it from \
                 the AD Recycle Bin, or rejoin the machine.",
                t.sam_account_name
            ),
            tombstone_evidence(t),
        );
    }
}

/// `account_recreated`: the object the machine's secret belongs to was deleted and another one
/// with the same name created.
///
/// - high: a tombstone with the same `sAMAccountName` (and another `objectGUID`) exists while the
///   account exists;
/// - high: trustdesk's history saw another `objectGUID` for this name;
/// - medium: `whenCreated` is newer than the latest logon trustdesk's history recorded for the
///   name (the machine last logged on to an object that no longer exists).
pub(super) fn recreated(f: &Facts<'_>, out: &mut Out) {
    let Some(a) = f.account else {
        return;
    };
    let mut confidence = None;
    let mut evidence = vec![
        format!("objectGUID = {}", a.object_guid),
        format!("whenCreated = {}", ts(a.when_created)),
    ];
    for t in f.snapshot.tombstones.iter().filter(|t| {
        same_name(&t.sam_account_name, &a.sam_account_name) && t.object_guid != Some(a.object_guid)
    }) {
        confidence = Some(Confidence::High);
        evidence.extend(tombstone_evidence(t));
    }
    for o in f
        .snapshot
        .history
        .iter()
        .filter(|o| o.object_guid != a.object_guid)
    {
        confidence = Some(Confidence::High);
        evidence.push(format!(
            "trustdesk saw objectGUID = {} for this name at {}",
            o.object_guid,
            ts(o.observed_at)
        ));
    }
    let last_known = f.snapshot.history.iter().filter_map(|o| o.last_logon).max();
    if let Some(l) = last_known.filter(|l| *l < a.when_created) {
        confidence = confidence.max(Some(Confidence::Medium));
        evidence.push(format!(
            "last logon recorded by trustdesk = {} (before whenCreated)",
            ts(l)
        ));
    }
    let Some(confidence) = confidence else {
        return;
    };
    out.cause(Cause::AccountRecreated, confidence);
    out.finding(
        FindingCode::AccountRecreated,
        Severity::Critical,
        format!(
            "The computer object {} was created at {} and replaces an earlier object with the \
             same name: a machine still holding the old object's secret cannot authenticate.",
            a.sam_account_name,
            ts(a.when_created)
        ),
        evidence,
    );
}

/// `account_disabled` (high): `userAccountControl` has ACCOUNTDISABLE. A disabled account cannot
/// authenticate whatever password it has; enabling it is the fix, no password work.
pub(super) fn disabled(f: &Facts<'_>, out: &mut Out) {
    let Some(a) = f.account else {
        return;
    };
    if !a.uac.is_disabled() {
        return;
    }
    out.cause(Cause::AccountDisabled, Confidence::High);
    out.finding(
        FindingCode::AccountDisabled,
        Severity::Critical,
        format!(
            "The computer account {} is disabled (last changed at {}).",
            a.sam_account_name,
            ts(a.when_changed)
        ),
        vec![
            format!("userAccountControl = {}", a.uac),
            format!("whenChanged = {}", ts(a.when_changed)),
        ],
    );
}

//! The verdict in a helpdesk tech's words: one sentence of what happened, with no AD
//! attribute names, and the one repair to press. Cause codes and confidence stay in the
//! diagnosis for the small print, the API and the audit log.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::facts::{Facts, span};
use super::{AllowedRepairs, Cause, Confidence, RepairAction};

/// How things stand, for the headline's colour and the screen reader's first word.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum VerdictState {
    /// The directory explains a broken trust.
    Broken,
    /// The DCs are converging: look again before repairing.
    Settling,
    /// trustdesk does not act on this object.
    Refused,
    /// Nothing in AD explains a broken trust.
    NoCauseFound,
}

/// The recommended repair, as the page's one primary button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct PrimaryRepair {
    pub action: RepairAction,
    /// The button's text, with what it takes ("Fix with a token repair (~2 min)").
    pub label: String,
}

/// The first thing the page says.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Verdict {
    pub state: VerdictState,
    /// One sentence, no attribute names.
    pub headline: String,
    /// Only a repair the top cause's fix calls for and the diagnosis allows; the caller's roles
    /// still decide whether it may run.
    pub primary: Option<PrimaryRepair>,
}

/// The verdict for the top cause, with the repair its fix names when the diagnosis allows it.
pub(super) fn verdict(
    f: &Facts<'_>,
    top: Cause,
    confidence: Confidence,
    action: Option<RepairAction>,
    allowed: AllowedRepairs,
    lagging: &[String],
) -> Verdict {
    let (state, headline) = headline(f, top, confidence, lagging);
    let primary = action
        .filter(|a| match a {
            RepairAction::TokenRepair => allowed.token_repair,
            RepairAction::DcReset => allowed.dc_reset,
        })
        .map(|action| PrimaryRepair {
            action,
            label: match (action, state) {
                (RepairAction::TokenRepair, VerdictState::NoCauseFound) => {
                    "If the PC still shows the error: fix with a token repair (~2 min)"
                }
                (RepairAction::TokenRepair, _) => "Fix with a token repair (~2 min)",
                (RepairAction::DcReset, _) => "Reset the password on the DC (~1 min, then rejoin)",
            }
            .to_string(),
        });
    Verdict {
        state,
        headline,
        primary,
    }
}

fn headline(
    f: &Facts<'_>,
    top: Cause,
    confidence: Confidence,
    lagging: &[String],
) -> (VerdictState, String) {
    use VerdictState::{Broken, NoCauseFound, Refused, Settling};
    let behind = if lagging.is_empty() {
        "a domain controller".to_string()
    } else {
        lagging.join(", ")
    };
    match top {
        Cause::ProtectedAccount => (
            Refused,
            "Not for the helpdesk: this is a protected account, and trustdesk does not change it. \
             Escalate to a domain admin."
                .into(),
        ),
        Cause::AccountMissing => (
            Broken,
            "Broken: this PC has no computer account in AD any more. It must be joined to the \
             domain again."
                .into(),
        ),
        Cause::AccountRecreated => (
            Broken,
            "Broken: the computer account was deleted and made again, so this PC still holds \
             the old account's password. Join it to the domain again."
                .into(),
        ),
        Cause::AccountDisabled => (
            Broken,
            "Broken: the computer account is disabled in AD. Enable it; the PC's password \
             still matches."
                .into(),
        ),
        Cause::PasswordSetAfterLastLogon => {
            let gap = match (&f.pwd, &f.logon.latest) {
                (Some(p), Some(l)) if p.at > l.at => format!(" {} after", span(p.at - l.at)),
                _ => " after".into(),
            };
            (
                Broken,
                format!(
                    "Broken: the password in AD was changed{gap} this PC last signed in; the PC \
                     still has the old one."
                ),
            )
        }
        Cause::StaleLocalSecret => (
            Broken,
            "Broken: this PC went back to an older password (a restored snapshot or backup); \
             AD already has a newer one."
                .into(),
        ),
        Cause::CloneSuspected => (
            Broken,
            "Broken: two machines seem to use this one account (its password keeps changing \
             from different places). A reset only moves the problem: find the copy first."
                .into(),
        ),
        Cause::ReplicationInProgress => (
            Settling,
            format!(
                "Settling: a password change has not reached {behind} yet. Look again in a few \
                 minutes before repairing anything."
            ),
        ),
        Cause::ReplicationLag => (
            Settling,
            format!(
                "Not settled: {behind} is behind the other domain controllers for this account. \
                 Let replication catch up before repairing."
            ),
        ),
        Cause::Healthy | Cause::RotationDisabled => (
            NoCauseFound,
            if confidence == Confidence::High {
                "No cause found in AD: the account is enabled and every domain controller \
                 agrees. If the PC still shows the trust error, check its clock, its DNS and \
                 which DC it reaches."
                    .into()
            } else {
                "No cause found in AD, but not every domain controller answered: the cause may \
                 be on one that did not. Look again, then check the PC's clock and DNS."
                    .into()
            },
        ),
    }
}

//! The checks every repair passes before it runs: the computer, the policy's grant of the
//! action on it, and the diagnosis's gate (a repair the diagnosis withholds is refused, unless
//! a role granted `override_diagnosis` forces it with a reason). Every refusal, and every
//! override, is audited.

use super::AppError;
use super::authorize::{About, Asking};
use crate::ad::ComputerAccount;
use crate::audit;
use crate::db::ApprovalRow;
use crate::diagnostics::{RepairAction, Verdict};
use crate::directory::filter::ComputerQuery;
use crate::policy::{ActionKind, ApprovalRoute, Approved, Diagnose, Grant, Target};

/// What a repair's checks found: the computer, the diagnosis's verdict (which allows the
/// repair), and the policy's grant, or the approval it waits for.
pub(super) struct Gated<A: ActionKind> {
    pub account: ComputerAccount,
    /// The DNS name of the account's domain.
    pub domain: String,
    pub verdict: Verdict,
    pub grant: Result<Grant<A>, ApprovalRoute>,
}

/// The computer `name`, the policy's grant of `A` on it (or the approval the policy holds it
/// back for), and the verdict of a diagnosis that allows `repair` there, or an override of it
/// (a role granted `override_diagnosis` there, with a reason); a refusal by either is audited
/// with its reason. Nobody is asked to approve what the diagnosis would refuse, and an override
/// cannot wait for an approval (the approver would not see it).
pub(super) async fn gate<A: ActionKind>(
    asking: &Asking<'_>,
    name: &str,
    repair: RepairAction,
    overriding: Option<&str>,
) -> Result<Gated<A>, AppError> {
    let q = ComputerQuery::parse(name).map_err(|e| AppError::BadRequest(e.to_string()))?;
    // What needs no directory comes first (security review L-4).
    asking.granted(A::ACTION, About::Name(q.display())).await?;
    let found = asking.state.lookups.domains.find_unique(&q).await?;
    let (dir, account) = found
        .map(|x| (x.directory, x.account))
        .ok_or(AppError::NotFound)?;
    let account = dir.with_privilege(account).await?;
    let target = Target {
        dn: &account.dn,
        account: Some(&account),
    };
    let about = About::Account(&account);
    let grant = asking.authorize_or_hold::<A>(&target, about).await?;
    if grant.is_err() && overriding.is_some() {
        let why = "an override of the diagnosis cannot wait for an approval";
        let answer = AppError::Forbidden(format!("Refused: {why}."));
        return Err(asking.refuse(A::ACTION, &why, about, answer).await);
    }
    let verdict = diagnosis_allows::<A>(asking, &dir, name, &account, repair, overriding).await?;
    Ok(Gated {
        account,
        domain: dir.dns_name().to_string(),
        verdict,
        grant,
    })
}

/// The computer approved request `row` is about (by its objectGUID, wherever it is now), the
/// requester's grant of `A` on it with `approved` standing in for the approval (`asking` is the
/// requester's), and a diagnosis that allows `repair` there now.
pub(super) async fn approved_repairable<A: ActionKind>(
    asking: &Asking<'_>,
    row: &ApprovalRow,
    approved: &Approved<A>,
    repair: RepairAction,
) -> Result<(ComputerAccount, Grant<A>), AppError> {
    let dir = asking.state.lookups.domains.holding(&row.computer_dn)?;
    let account = match uuid::Uuid::parse_str(&row.computer_guid) {
        Ok(guid) => dir.find_by_guid(&guid).await?,
        Err(_) => None,
    };
    let Some(account) = account else {
        return Err(AppError::Conflict(format!(
            "{} is no longer in the directory; nothing was changed.",
            row.computer_name()
        )));
    };
    let account = dir.with_privilege(account).await?;
    let target = Target {
        dn: &account.dn,
        account: Some(&account),
    };
    let grant = asking
        .authorize_approved::<A>(&target, About::Account(&account), approved)
        .await?;
    let name = account.netbios_name().to_string();
    diagnosis_allows::<A>(asking, dir, &name, &account, repair, None).await?;
    Ok((account, grant))
}

/// The policy's grant of `A` on the object token `row` was minted for, found by its
/// objectGUID wherever it is now, or by the DN it had when it is gone (security review L-12:
/// never whichever object holds the name today). Refusals are audited.
pub(super) async fn minted_for<A: ActionKind>(
    asking: &Asking<'_>,
    row: &crate::db::TokenRow,
) -> Result<Grant<A>, AppError> {
    let account = match uuid::Uuid::parse_str(&row.computer_guid) {
        // A domain no longer managed holds nothing this portal can read: judged by the DN.
        Ok(guid) => match asking.state.lookups.domains.of_dn(&row.computer_dn) {
            Some(dir) => dir.find_by_guid(&guid).await?,
            None => None,
        },
        Err(_) => None,
    };
    let dn = account
        .as_ref()
        .map_or(row.computer_dn.as_str(), |a| a.dn.as_str());
    let target = Target {
        dn,
        account: account.as_ref(),
    };
    let about = About::Object {
        dn,
        guid: &row.computer_guid,
        name: row.computer_name(),
    };
    asking.authorize::<A>(&target, about).await
}

/// The diagnosis must allow `repair`, the rule by which the computer page offers its button: a
/// withheld repair (disabled, re-created, replication in progress, protected) is refused with
/// the diagnosis's own reason, and audited, so a forged POST gets no further than the page. It
/// reads the diagnosis under a `diagnose` grant for the same computer; a role that may repair but
/// not diagnose is refused too, as it could not see why. Returns the verdict, for the pages.
///
/// `overriding`, a reason, forces a withheld repair for a role granted `override_diagnosis` on
/// this computer: audited as `override_diagnosis` with the diagnosis's reason and the person's.
async fn diagnosis_allows<A: ActionKind>(
    asking: &Asking<'_>,
    dir: &crate::directory::Directory,
    name: &str,
    account: &ComputerAccount,
    repair: RepairAction,
    overriding: Option<&str>,
) -> Result<Verdict, AppError> {
    let target = Target {
        dn: &account.dn,
        account: Some(account),
    };
    let (state, staff) = (asking.state, asking.staff);
    let why = match state.policy.authorize::<Diagnose>(&staff.roles, &target) {
        Ok(grant) => {
            let q = ComputerQuery::parse(name).map_err(|e| AppError::BadRequest(e.to_string()))?;
            let now = crate::clock::now();
            let (report, _) =
                crate::lookup::report(&grant, &state.lookups, dir, &q, Some(account.clone()), now)
                    .await?;
            match (report.diagnosis.withholds(repair), overriding) {
                (None, _) => return Ok(report.diagnosis.verdict),
                (Some(why), Some(reason)) => {
                    let forced = override_diagnosis::<A>(asking, account, why, reason);
                    return forced.await.map(|()| report.diagnosis.verdict);
                }
                (Some(why), None) => why,
            }
        }
        Err(_) => "it needs the diagnosis, which this role may not read for this computer",
    };
    let answer = AppError::Forbidden(format!(
        "Refused: the diagnosis withholds this repair: {why}."
    ));
    let why = format!("the diagnosis withholds it: {why}");
    Err(asking
        .refuse(A::ACTION, &why, About::Account(account), answer)
        .await)
}

/// Force action `A`, which the diagnosis withholds (`why`), for a role granted
/// `override_diagnosis` on this computer, with the person's `reason`; both are audited, before
/// the repair runs. Without the grant: refused, and audited as a refusal of `A`.
async fn override_diagnosis<A: ActionKind>(
    asking: &Asking<'_>,
    account: &ComputerAccount,
    why: &str,
    reason: &str,
) -> Result<(), AppError> {
    let target = Target {
        dn: &account.dn,
        account: Some(account),
    };
    if let Err(denied) = asking
        .state
        .policy
        .authorize::<crate::policy::OverrideDiagnosis>(&asking.staff.roles, &target)
    {
        let answer = AppError::Forbidden(format!(
            "Refused: the diagnosis withholds this repair ({why}), and {denied}."
        ));
        let reason = format!("the diagnosis withholds it: {why}; no override: {denied}");
        return Err(asking
            .refuse(A::ACTION, &reason, About::Account(account), answer)
            .await);
    }
    let e = audit::event(
        audit::Action::OverrideDiagnosis,
        audit::Outcome::Success,
        crate::clock::now(),
    )
    .actor(&asking.staff.actor())
    .origin(asking.origin)
    .target(
        &account.dn,
        &account.object_guid.to_string(),
        account.netbios_name(),
    )
    .reason(format!(
        "{} although the diagnosis withholds it ({why}); reason: {reason}",
        A::ACTION.as_str()
    ));
    audit::record(&asking.state.store, &e).await?;
    Ok(())
}

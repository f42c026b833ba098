//! The checks every repair passes before it runs: the computer, the policy's grant of the
//! action on it, and the diagnosis's gate (a repair the diagnosis withholds is refused, unless
//! a role granted `override_diagnosis` forces it with a reason). Every refusal, and every
//! override, is audited.

use time::OffsetDateTime;

use super::AppError;
use super::meta::actor;
use crate::audit;
use crate::auth::Staff;
use crate::diagnostics::{RepairAction, Verdict};
use crate::directory::filter::ComputerQuery;
use crate::directory::model::ComputerAccount;
use crate::policy::{ActionKind, Denied, Diagnose, Grant, Target};
use crate::state::AppState;

/// Find the computer and check the policy for action `A`; refusals are audited.
pub(super) async fn target<A: ActionKind>(
    state: &AppState,
    staff: &Staff,
    origin: &audit::Origin,
    name: &str,
) -> Result<(ComputerAccount, Grant<A>), AppError> {
    let q = ComputerQuery::parse(name).map_err(|e| AppError::BadRequest(e.to_string()))?;
    // What needs no directory comes first (security review L-4): the action granted at all,
    // and the most generous hourly allowance of the person's roles.
    if !state.policy.allows(&staff.roles, A::ACTION) {
        let denied = Denied::ActionNotGranted(A::ACTION.as_str());
        let name = q.display();
        return Err(refusal::<A>(state, staff, origin, &denied, |e| e.target_name(name)).await);
    }
    super::guard::rate_limit(state, staff, origin, A::ACTION, &staff.roles).await?;
    let account = state
        .directory
        .find_computer(&q)
        .await?
        .ok_or(AppError::NotFound)?;
    let account = state.directory.with_privilege(account).await?;
    match state.policy.authorize::<A>(
        &staff.roles,
        &Target {
            dn: &account.dn,
            account: Some(&account),
        },
    ) {
        Ok(grant) => {
            super::guard::rate_limit_granted(state, staff, origin, &grant).await?;
            Ok((account, grant))
        }
        Err(denied) => {
            refuse_on::<A>(state, staff, origin, &account, denied.to_string()).await?;
            Err(refused(&denied))
        }
    }
}

/// The policy's grant of `A` on the object token `row` was minted for, found by its
/// objectGUID wherever it is now, or by the DN it had when it is gone (security review L-12:
/// never whichever object holds the name today). Refusals are audited.
pub(super) async fn minted_for<A: ActionKind>(
    state: &AppState,
    staff: &Staff,
    origin: &audit::Origin,
    row: &crate::db::TokenRow,
) -> Result<Grant<A>, AppError> {
    let account = match uuid::Uuid::parse_str(&row.computer_guid) {
        Ok(guid) => state.directory.find_by_guid(&guid).await?,
        Err(_) => None,
    };
    let dn = account
        .as_ref()
        .map_or(row.computer_dn.as_str(), |a| a.dn.as_str());
    match state.policy.authorize::<A>(
        &staff.roles,
        &Target {
            dn,
            account: account.as_ref(),
        },
    ) {
        Ok(grant) => Ok(grant),
        Err(denied) => {
            let name = row.computer_sam.trim_end_matches('$');
            Err(refusal::<A>(state, staff, origin, &denied, |e| {
                e.target(dn, &row.computer_guid, name)
            })
            .await)
        }
    }
}

/// The computer `name`, the policy's grant of `A` on it, and the verdict of a diagnosis that
/// allows `repair` there, or an override of it (a role granted `override_diagnosis` there,
/// with a reason); a refusal by either is audited with its reason.
pub(super) async fn repairable<A: ActionKind>(
    state: &AppState,
    staff: &Staff,
    origin: &audit::Origin,
    name: &str,
    repair: RepairAction,
    overriding: Option<&str>,
) -> Result<(ComputerAccount, Grant<A>, Verdict), AppError> {
    let (account, grant) = target::<A>(state, staff, origin, name).await?;
    let verdict =
        diagnosis_allows::<A>(state, staff, origin, name, &account, repair, overriding).await?;
    Ok((account, grant, verdict))
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
    state: &AppState,
    staff: &Staff,
    origin: &audit::Origin,
    name: &str,
    account: &ComputerAccount,
    repair: RepairAction,
    overriding: Option<&str>,
) -> Result<Verdict, AppError> {
    let target = Target {
        dn: &account.dn,
        account: Some(account),
    };
    let why = match state.policy.authorize::<Diagnose>(&staff.roles, &target) {
        Ok(grant) => {
            let q = ComputerQuery::parse(name).map_err(|e| AppError::BadRequest(e.to_string()))?;
            let now = OffsetDateTime::now_utc();
            let (report, _) =
                crate::lookup::report(&grant, state, &q, Some(account.clone()), now).await?;
            match (report.diagnosis.withholds(repair), overriding) {
                (None, _) => return Ok(report.diagnosis.verdict),
                (Some(why), Some(reason)) => {
                    let forced =
                        override_diagnosis::<A>(state, staff, origin, account, why, reason);
                    return forced.await.map(|()| report.diagnosis.verdict);
                }
                (Some(why), None) => why,
            }
        }
        Err(_) => "it needs the diagnosis, which this role may not read for this computer",
    };
    refuse_on::<A>(
        state,
        staff,
        origin,
        account,
        format!("the diagnosis withholds it: {why}"),
    )
    .await?;
    Err(AppError::Forbidden(format!(
        "Refused: the diagnosis withholds this repair: {why}."
    )))
}

/// Force action `A`, which the diagnosis withholds (`why`), for a role granted
/// `override_diagnosis` on this computer, with the person's `reason`; both are audited, before
/// the repair runs. Without the grant: refused, and audited as a refusal of `A`.
async fn override_diagnosis<A: ActionKind>(
    state: &AppState,
    staff: &Staff,
    origin: &audit::Origin,
    account: &ComputerAccount,
    why: &str,
    reason: &str,
) -> Result<(), AppError> {
    let target = Target {
        dn: &account.dn,
        account: Some(account),
    };
    if let Err(denied) = state
        .policy
        .authorize::<crate::policy::OverrideDiagnosis>(&staff.roles, &target)
    {
        refuse_on::<A>(
            state,
            staff,
            origin,
            account,
            format!("the diagnosis withholds it: {why}; no override: {denied}"),
        )
        .await?;
        return Err(AppError::Forbidden(format!(
            "Refused: the diagnosis withholds this repair ({why}), and {denied}."
        )));
    }
    let e = audit::event(crate::policy::Action::OverrideDiagnosis.as_str(), "success")
        .actor(&actor(staff))
        .origin(origin)
        .target(
            &account.dn,
            &account.object_guid.to_string(),
            account.netbios_name(),
        )
        .reason(format!(
            "{} although the diagnosis withholds it ({why}); reason: {reason}",
            A::ACTION.as_str()
        ));
    audit::record(&state.store, &e).await?;
    Ok(())
}

/// Audit the refusal of action `A` on `account`, with its reason.
async fn refuse_on<A: ActionKind>(
    state: &AppState,
    staff: &Staff,
    origin: &audit::Origin,
    account: &ComputerAccount,
    reason: String,
) -> Result<(), AppError> {
    let guid = account.object_guid.to_string();
    super::guard::denied(state, staff, origin, A::ACTION.as_str(), reason, |e| {
        e.target(&account.dn, &guid, account.netbios_name())
    })
    .await
}

/// Audit the policy's refusal of `A` (what it was about added by `target`), then the answer
/// to give: the 403 with the reason, or the audit's own failure.
async fn refusal<A: ActionKind>(
    state: &AppState,
    staff: &Staff,
    origin: &audit::Origin,
    denied: &Denied,
    target: impl FnOnce(crate::db::NewAuditRow) -> crate::db::NewAuditRow,
) -> AppError {
    let reason = denied.to_string();
    match super::guard::denied(state, staff, origin, A::ACTION.as_str(), reason, target).await {
        Ok(()) => refused(denied),
        Err(e) => e,
    }
}

fn refused(denied: &Denied) -> AppError {
    AppError::Forbidden(format!("Refused: {denied}."))
}

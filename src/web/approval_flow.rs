//! The approval's steps at the web edge, shared by the pages and the API: ask for a held-back
//! change, decide on it, and carry it out under the requester's grant, re-checked then: a reset
//! right after its approval, a mint when its requester collects the token (shown once to them).

use super::authorize::Asking;
use super::repair_gate::approved_repairable;
use super::{AppError, AppState};
use crate::ad::ComputerAccount;
use crate::approvals::{self, Approver, Ask, DecideError, Decision, named};
use crate::auth::Staff;
use crate::db::{ApprovalRow, ApprovalState};
use crate::diagnostics::RepairAction;
use crate::policy::{
    ActionKind, ApprovalRoute, Approved, MintToken, Pending, Person, Recorded, ResetAccount,
};
use crate::repair::{self, ApprovedBy, Minted, RepairRequest};

impl From<DecideError> for AppError {
    fn from(e: DecideError) -> Self {
        match e {
            DecideError::Denied(denied) => denied.into(),
            DecideError::Expired(_) | DecideError::Settled(_) => Self::Conflict(format!("{e}.")),
            DecideError::Store(e) => e.into(),
        }
    }
}

/// Store `asking`'s request for `A` on `account`, waiting for `route`.
pub(super) async fn ask<A: ActionKind>(
    asking: &Asking<'_>,
    account: &ComputerAccount,
    route: &ApprovalRoute,
    ticket: &str,
    lifetime_minutes: Option<u32>,
) -> Result<ApprovalRow, AppError> {
    let requester = asking.staff.actor();
    let ask = Ask {
        action: A::ACTION,
        account,
        requester: &requester,
        issuer: asking.staff.issuer(&asking.state.config),
        origin: asking.origin,
        ticket,
        lifetime_minutes,
    };
    Ok(approvals::request(&asking.state.store, &ask, route, crate::clock::now()).await?)
}

/// The request `id`, to a person who may see it: its requester, or one who may decide it.
/// Anyone else gets 404, as for a request that does not exist.
pub(super) async fn visible(
    state: &AppState,
    staff: &Staff,
    id: &str,
) -> Result<ApprovalRow, AppError> {
    let row = state.store.approval(id).await?.ok_or(AppError::NotFound)?;
    if sees(state, staff, &row) {
        Ok(row)
    } else {
        Err(AppError::NotFound)
    }
}

/// Whether `staff` requested `row`.
pub(super) fn own(state: &AppState, staff: &Staff, row: &ApprovalRow) -> bool {
    row.requester_sub == staff.sub && row.requester_iss == staff.issuer(&state.config)
}

/// Whether `staff` may decide `row` (whatever its state).
pub(super) fn may_decide(state: &AppState, staff: &Staff, row: &ApprovalRow) -> bool {
    let Some(action) = crate::policy::Action::parse(row.action.as_str()) else {
        return false;
    };
    let roles = row.requester_roles();
    let pending = pending(row, &roles);
    let me = Person {
        issuer: staff.issuer(&state.config),
        sub: &staff.sub,
    };
    state
        .policy
        .may_decide(action, &pending, me, &staff.roles)
        .is_ok()
}

/// Whether `staff` may see `row`.
pub(super) fn sees(state: &AppState, staff: &Staff, row: &ApprovalRow) -> bool {
    own(state, staff, row) || may_decide(state, staff, row)
}

fn pending<'a>(row: &'a ApprovalRow, roles: &'a [String]) -> Pending<'a> {
    Pending {
        id: &row.id,
        requester: Person {
            issuer: &row.requester_iss,
            sub: &row.requester_sub,
        },
        requester_roles: roles,
        dn: &row.computer_dn,
    }
}

/// What a decision led to.
pub(super) enum Decided {
    /// Denied, or a mint approved (its requester collects the token).
    Recorded,
    /// A reset approved and run: the DC that took the new password.
    Reset { dc: String },
}

/// `staff` decides request `id`: audited, naming both people. An approved reset runs now,
/// under the requester's grant re-checked now.
pub(super) async fn decide(
    asking: &Asking<'_>,
    id: &str,
    decision: Decision,
) -> Result<(ApprovalRow, Decided), AppError> {
    let state = asking.state;
    let row = state.store.approval(id).await?.ok_or(AppError::NotFound)?;
    let approver = Approver {
        actor: &asking.staff.actor(),
        issuer: asking.staff.issuer(&state.config),
        origin: asking.origin,
    };
    let now = crate::clock::now();
    let (store, policy) = (&state.store, &state.policy);
    let decided = match row.action {
        crate::audit::Action::MintToken => {
            approvals::decide::<MintToken>(store, policy, &row, &approver, decision, now).await?;
            Decided::Recorded
        }
        crate::audit::Action::ResetAccount => {
            match approvals::decide::<ResetAccount>(store, policy, &row, &approver, decision, now)
                .await?
            {
                Some(approved) => match reset(asking, &row, &approved).await {
                    Ok(dc) => Decided::Reset { dc },
                    Err(e) => return Err(reopen(asking, &row, &approver, e).await),
                },
                None => Decided::Recorded,
            }
        }
        other => {
            return Err(AppError::internal(format!(
                "request {id} holds an action that cannot wait for an approval: {other}"
            )));
        }
    };
    let row = state.store.approval(id).await?.unwrap_or(row);
    Ok((row, decided))
}

/// An approved reset that could not start (the checks of the moment refused it, or a DC did
/// not answer) waits again for a decision, audited; `e` is still the answer. One that started
/// and failed at the DC was used, and stays so (its failure is audited by the repair).
async fn reopen(
    asking: &Asking<'_>,
    row: &ApprovalRow,
    approver: &Approver<'_>,
    e: AppError,
) -> AppError {
    let why = e.public_message();
    match approvals::reopen(
        &asking.state.store,
        row,
        approver,
        why.trim_end_matches('.'),
    )
    .await
    {
        Ok(_) => e,
        Err(store) => store.into(),
    }
}

/// The requester of `row` as the reset sees them: their subject and name, and their roles when
/// they asked (they are not here to sign in again).
fn requester(row: &ApprovalRow) -> Staff {
    Staff::without_session(
        row.requester_sub.clone(),
        row.requester_name.clone(),
        row.requester_roles(),
    )
}

/// The approver of `row`, as the repair's audit events name them.
fn approver_of(row: &ApprovalRow) -> String {
    named(
        row.decider_name.as_deref(),
        row.decider_sub.as_deref().unwrap_or_default(),
    )
}

/// Run approved reset `row` (decided by `asking`'s person) under its requester's grant.
async fn reset(
    asking: &Asking<'_>,
    row: &ApprovalRow,
    approved: &Approved<ResetAccount>,
) -> Result<String, AppError> {
    let requester = requester(row);
    let as_requester = Asking::new(asking.state, &requester, asking.origin);
    let (account, grant) =
        approved_repairable::<ResetAccount>(&as_requester, row, approved, RepairAction::DcReset)
            .await?;
    let now = crate::clock::now();
    if !asking
        .state
        .store
        .use_approval(&row.id, now, "reset")
        .await?
    {
        return Err(AppError::Conflict("This request was used already.".into()));
    }
    let by = ApprovedBy {
        request_id: &row.id,
        approver: &named(asking.staff.name.as_deref(), &asking.staff.sub),
    };
    let req = RepairRequest {
        actor: &requester.actor(),
        origin: asking.origin,
        account: &account,
        ticket: row.ticket.as_deref(),
        approval: Some(&by),
    };
    let dc = repair::reset_account(&grant, &asking.state.repairs, &req).await?;
    Ok(dc.name().to_string())
}

/// The requester collects the token of approved mint request `id`: minted now, under their
/// grant re-checked now, and returned once. Anyone but the requester gets 404.
pub(super) async fn collect(
    asking: &Asking<'_>,
    id: &str,
) -> Result<(ApprovalRow, Minted), AppError> {
    let state = asking.state;
    let row = state.store.approval(id).await?.ok_or(AppError::NotFound)?;
    if !own(state, asking.staff, &row) {
        return Err(AppError::NotFound);
    }
    let now = crate::clock::now();
    let waiting = || {
        format!(
            "it waits for approval by {}",
            row.approvers.replace(',', " or ")
        )
    };
    let why = match (row.action, row.state_at_time(now)) {
        (crate::audit::Action::MintToken, ApprovalState::Approved) => None,
        (crate::audit::Action::MintToken, ApprovalState::Pending) => Some(waiting()),
        (crate::audit::Action::MintToken, ApprovalState::Used) => {
            Some("its token was collected already: a token is shown once".into())
        }
        (crate::audit::Action::MintToken, ApprovalState::Expired) => Some(format!(
            "it expired at {}, unused; ask again",
            approvals::stamp(row.expires_at)
        )),
        (crate::audit::Action::MintToken, other) => Some(format!("it was {other}")),
        (action, _) => Some(format!("it is a request for {action}, not a token")),
    };
    if let Some(why) = why {
        return Err(AppError::Conflict(format!(
            "No token for this request: {why}."
        )));
    }
    let recorded = Recorded {
        id: &row.id,
        action: MintToken::ACTION,
        requester: Person {
            issuer: &row.requester_iss,
            sub: &row.requester_sub,
        },
        decider: Person {
            issuer: row.decider_iss.as_deref().unwrap_or_default(),
            sub: row.decider_sub.as_deref().unwrap_or_default(),
        },
        approved: row.state == ApprovalState::Approved,
    };
    let approved = state.policy.approval_on_record::<MintToken>(&recorded)?;
    let (account, grant) =
        approved_repairable::<MintToken>(asking, &row, &approved, RepairAction::TokenRepair)
            .await?;
    if !state
        .store
        .use_approval(&row.id, now, "token collected")
        .await?
    {
        return Err(AppError::Conflict(
            "No token for this request: it was collected already, or it expired.".into(),
        ));
    }
    let by = ApprovedBy {
        request_id: &row.id,
        approver: &approver_of(&row),
    };
    let who = asking.staff.actor();
    let req = RepairRequest {
        actor: &who,
        origin: asking.origin,
        account: &account,
        ticket: row.ticket.as_deref(),
        approval: Some(&by),
    };
    let lifetime = row.lifetime_minutes.and_then(|m| u32::try_from(m).ok());
    let minted = repair::mint_token(
        &grant,
        &state.repairs,
        &req,
        &asking.staff.roles,
        lifetime,
        now,
    )
    .await?;
    Ok((row, minted))
}

//! Four eyes: a change the policy holds back (`policy/approval.rs`) is stored as a request,
//! decided by another person, and then carried out under the requester's grant, re-checked at
//! that moment (`web/approval_flow.rs`).
//!
//! Every step is an audit event naming both people: the request (actor: the requester), the
//! approval or denial (actor: the approver, the requester in its reason), every refused
//! decision, and the repair it leads to (actor: the requester, the approver in its reason).
//! A request stores no secret: a token is minted only when its requester collects it.

use time::OffsetDateTime;

use crate::ad::ComputerAccount;
use crate::audit::{self, Actor, Origin};
use crate::db::{ApprovalRow, ApprovalState, Decider, NewAuditRow, Store, StoreError};
use crate::policy::{Action, ActionKind, ApprovalRoute, Approved, Denied, Pending, Person, Policy};

/// What is asked: the action held back, on which computer, by whom, and why.
pub struct Ask<'a> {
    pub action: Action,
    pub account: &'a ComputerAccount,
    pub requester: &'a Actor,
    /// The requester's issuer (`Staff::issuer`).
    pub issuer: &'a str,
    pub origin: &'a Origin,
    /// The reason or ticket reference: required, as for the repair itself.
    pub ticket: &'a str,
    /// A mint's token lifetime, as asked.
    pub lifetime_minutes: Option<u32>,
}

/// A time in an event's reason or an error: RFC 3339, to the second, UTC.
pub fn stamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    t.replace_nanosecond(0)
        .unwrap_or(t)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| t.to_string())
}

/// `name (sub)`, or the subject alone: how one person is named in the other's event.
pub fn named(name: Option<&str>, sub: &str) -> String {
    match name {
        Some(name) if name != sub => format!("{name} ({sub})"),
        _ => sub.to_string(),
    }
}

/// The audit event `action`/`outcome` about request `row`'s computer, its ticket carried.
fn about(row: &ApprovalRow, action: audit::Action, outcome: audit::Outcome) -> NewAuditRow {
    let mut e = audit::event(action, outcome, crate::clock::now()).target(
        &row.computer_dn,
        &row.computer_guid,
        row.computer_name(),
    );
    e.ticket = row.ticket.clone();
    e
}

/// Store a request for `ask` along `route`, audited first (`approval_request`): nothing is
/// stored that the log does not show.
pub async fn request(
    store: &Store,
    ask: &Ask<'_>,
    route: &ApprovalRoute,
    now: OffsetDateTime,
) -> Result<ApprovalRow, StoreError> {
    let id = uuid::Uuid::new_v4().simple().to_string();
    let row = ApprovalRow {
        id,
        action: ask.action.into(),
        computer_guid: ask.account.object_guid.to_string(),
        computer_sam: ask.account.sam_account_name.clone(),
        computer_dn: ask.account.dn.clone(),
        requester_iss: ask.issuer.to_string(),
        requester_sub: ask.requester.sub.clone(),
        requester_name: ask.requester.name.clone(),
        requester_roles: ask.requester.roles.join(","),
        ticket: Some(ask.ticket.to_string()),
        lifetime_minutes: ask.lifetime_minutes.map(i64::from),
        approvers: route.approvers.join(","),
        state: ApprovalState::Pending,
        created_at: now,
        expires_at: now + time::Duration::minutes(i64::from(route.expires_minutes)),
        decided_at: None,
        decider_iss: None,
        decider_sub: None,
        decider_name: None,
        used_at: None,
        detail: None,
    };
    let e = about(
        &row,
        audit::Action::ApprovalRequest,
        audit::Outcome::Success,
    )
    .actor(ask.requester)
    .origin(ask.origin)
    .reason(format!(
        "{} needs {route}; request {}, open until {}",
        ask.action.as_str(),
        row.id,
        stamp(row.expires_at)
    ));
    audit::record(store, &e).await?;
    store.insert_approval(&row).await?;
    Ok(row)
}

/// A decision: approve or deny.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    Approve,
    Deny,
}

impl Decision {
    fn audit_action(self) -> audit::Action {
        match self {
            Self::Approve => audit::Action::ApprovalApprove,
            Self::Deny => audit::Action::ApprovalDeny,
        }
    }
}

/// Why a decision was not taken; each is audited before it is returned.
#[derive(Debug, thiserror::Error)]
pub enum DecideError {
    #[error("{0}")]
    Denied(Denied),
    #[error("this request expired at {}, unused; ask again", stamp(*.0))]
    Expired(OffsetDateTime),
    #[error("this request was already {0}")]
    Settled(ApprovalState),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The person deciding.
pub struct Approver<'a> {
    pub actor: &'a Actor,
    pub issuer: &'a str,
    pub origin: &'a Origin,
}

/// `approver` decides `row` for `A` (the request's action): the policy's check (another
/// person, holding an approver role), then the request's state (pending, not expired), then
/// the conditional update. Audited in every case, naming both people. An approval returns the
/// policy's proof, which the caller turns into the repair (a reset now; a mint when the
/// requester collects the token).
pub async fn decide<A: ActionKind>(
    store: &Store,
    policy: &Policy,
    row: &ApprovalRow,
    approver: &Approver<'_>,
    decision: Decision,
    now: OffsetDateTime,
) -> Result<Option<Approved<A>>, DecideError> {
    let roles = row.requester_roles();
    let pending = Pending {
        id: &row.id,
        requester: Person {
            issuer: &row.requester_iss,
            sub: &row.requester_sub,
        },
        requester_roles: &roles,
        dn: &row.computer_dn,
    };
    let me = Person {
        issuer: approver.issuer,
        sub: &approver.actor.sub,
    };
    let requested_by = format!(
        "request {} by {}",
        row.id,
        named(row.requester_name.as_deref(), &row.requester_sub)
    );
    let event = |outcome, reason: String| {
        about(row, decision.audit_action(), outcome)
            .actor(approver.actor)
            .origin(approver.origin)
            .reason(reason)
    };
    let approved = policy.decide::<A>(&pending, me, &approver.actor.roles);
    let refused = match &approved {
        Err(denied) => Some(DecideError::Denied(denied.clone())),
        Ok(_) => match row.state_at_time(now) {
            ApprovalState::Pending => None,
            ApprovalState::Expired => Some(DecideError::Expired(row.expires_at)),
            settled => Some(DecideError::Settled(settled)),
        },
    };
    if let Some(refused) = refused {
        let e = event(audit::Outcome::Denied, format!("{refused}; {requested_by}"));
        audit::record(store, &e).await?;
        return Err(refused);
    }
    let to = match decision {
        Decision::Approve => ApprovalState::Approved,
        Decision::Deny => ApprovalState::Denied,
    };
    // The decision is audited before it is stored; a lost race is audited as its refusal.
    let e = event(audit::Outcome::Success, requested_by.clone());
    audit::record(store, &e).await?;
    let decider = Decider {
        iss: approver.issuer,
        sub: &approver.actor.sub,
        name: approver.actor.name.as_deref(),
    };
    if !store.decide_approval(&row.id, to, &decider, now).await? {
        let now_state = store
            .approval(&row.id)
            .await?
            .map_or(ApprovalState::Expired, |r| r.state_at_time(now));
        let refused = DecideError::Settled(now_state);
        let e = event(audit::Outcome::Denied, format!("{refused}; {requested_by}"));
        audit::record(store, &e).await?;
        return Err(refused);
    }
    Ok(match decision {
        Decision::Approve => approved.ok(),
        Decision::Deny => None,
    })
}

/// An approved request whose change could not start (`why`: the checks of the moment refused
/// it, or no DC answered) waits again for a decision: back to pending, its decision cleared,
/// then audited (`approval_approve` / failure, actor: the approver). `false`: it was no longer
/// approved and unused, and nothing changed.
pub async fn reopen(
    store: &Store,
    row: &ApprovalRow,
    approver: &Approver<'_>,
    why: &str,
) -> Result<bool, StoreError> {
    if !store.reopen_approval(&row.id).await? {
        return Ok(false);
    }
    let reason = format!(
        "the reset could not run: {why}; request {} by {} waits again",
        row.id,
        named(row.requester_name.as_deref(), &row.requester_sub)
    );
    let e = about(row, audit::Action::ApprovalApprove, audit::Outcome::Failure)
        .actor(approver.actor)
        .origin(approver.origin)
        .reason(reason);
    audit::record(store, &e).await?;
    Ok(true)
}

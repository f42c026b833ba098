//! Per-user rate limits, counted from the audit log (so they hold across portal instances).

use time::OffsetDateTime;

use super::AppError;
use super::meta::actor;
use crate::audit::{self, Origin};
use crate::auth::Staff;
use crate::db::NewAuditRow;
use crate::policy::{Action, ActionKind, Grant};
use crate::state::AppState;

/// Refuse (429, audited) when `staff` has used up the hourly allowance of `roles` (all their
/// roles before the target is known; the granting roles after).
pub async fn rate_limit(
    state: &AppState,
    staff: &Staff,
    origin: &Origin,
    action: Action,
    roles: &[String],
) -> Result<(), AppError> {
    let Some(limit) = state.policy.hourly_limit(roles, action) else {
        return Ok(());
    };
    let since = OffsetDateTime::now_utc() - time::Duration::hours(1);
    let used = state.store.actions_since(&staff.sub, since).await?;
    if used < i64::from(limit) {
        return Ok(());
    }
    audit::record(
        &state.store,
        &audit::event(action.as_str(), "denied")
            .actor(&actor(staff))
            .origin(origin)
            .reason(format!(
                "rate limit: {used} actions in the last hour, {limit} allowed"
            )),
    )
    .await?;
    Err(AppError::TooMany(format!(
        "You have reached your limit of {limit} lookups and repairs per hour. Try again later, or ask a senior colleague."
    )))
}

/// After [`rate_limit`] with all of `staff`'s roles: again with the roles that granted this
/// target, when their allowance is smaller (security review L-3); one count in the usual case.
pub async fn rate_limit_granted<A: ActionKind>(
    state: &AppState,
    staff: &Staff,
    origin: &Origin,
    grant: &Grant<A>,
) -> Result<(), AppError> {
    let policy = &state.policy;
    if policy.hourly_limit(grant.roles(), A::ACTION) == policy.hourly_limit(&staff.roles, A::ACTION)
    {
        return Ok(());
    }
    rate_limit(state, staff, origin, A::ACTION, grant.roles()).await
}

/// Audit a refusal of `action` to `staff`; `target` adds what the refusal was about.
pub async fn denied(
    state: &AppState,
    staff: &Staff,
    origin: &Origin,
    action: &str,
    reason: impl Into<String>,
    target: impl FnOnce(NewAuditRow) -> NewAuditRow,
) -> Result<(), AppError> {
    let event = audit::event(action, "denied")
        .actor(&actor(staff))
        .origin(origin)
        .reason(reason);
    audit::record(&state.store, &target(event)).await?;
    Ok(())
}

/// Refuse (403, audited) unless one of `staff`'s roles grants `action` somewhere.
pub async fn require(
    state: &AppState,
    staff: &Staff,
    origin: &Origin,
    action: Action,
) -> Result<(), AppError> {
    if state.policy.allows(&staff.roles, action) {
        return Ok(());
    }
    let reason = format!("{} not granted", action.as_str());
    denied(state, staff, origin, action.as_str(), reason, |e| e).await?;
    Err(AppError::Forbidden(format!(
        "Refused: none of your roles grants '{}'.",
        action.as_str()
    )))
}

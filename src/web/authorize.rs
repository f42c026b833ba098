//! The authorization step of every handler: [`Asking`] checks the policy, applies the hourly
//! limit, and audits each refusal (`denied`, with the policy's reason and what it was about)
//! in one place, so a handler reads extract → authorize → capability → render.
//!
//! The proof stays the policy's: only `Policy` makes a `Grant<A>`. This file decides what a
//! refusal answers (403 with the reason, or the 404 that hides objects outside the scopes) and
//! writes it to the audit log before it answers.

use time::OffsetDateTime;

use super::{AppError, AppState};
use crate::ad::ComputerAccount;
use crate::audit::{self, Origin};
use crate::auth::Staff;
use crate::db::NewAuditRow;
use crate::policy::{Action, ActionKind, ApprovalRoute, Approved, Denied, Grant, Target};

impl From<Denied> for AppError {
    fn from(denied: Denied) -> Self {
        AppError::Forbidden(format!("Refused: {denied}."))
    }
}

/// What a refusal was about, for its audit row.
#[derive(Clone, Copy)]
pub enum About<'a> {
    Nothing,
    /// A name as asked for (no object read yet, or none found).
    Name(&'a str),
    Account(&'a ComputerAccount),
    /// An object known by its stored DN and GUID (a token's computer).
    Object {
        dn: &'a str,
        guid: &'a str,
        name: &'a str,
    },
}

impl About<'_> {
    fn on(self, event: NewAuditRow) -> NewAuditRow {
        match self {
            About::Nothing => event,
            About::Name(name) => event.target_name(name),
            About::Account(a) => event.target(&a.dn, &a.object_guid.to_string(), a.netbios_name()),
            About::Object { dn, guid, name } => event.target(dn, guid, name),
        }
    }
}

/// A person asking to do something, from somewhere: the handle of the authorization step.
pub struct Asking<'a> {
    pub state: &'a AppState,
    pub staff: &'a Staff,
    pub origin: &'a Origin,
}

impl<'a> Asking<'a> {
    pub fn new(state: &'a AppState, staff: &'a Staff, origin: &'a Origin) -> Self {
        Self {
            state,
            staff,
            origin,
        }
    }

    /// What needs no directory (security review L-4): refuse (403, audited) unless one of the
    /// person's roles grants `action` somewhere; then, for the actions the hourly limit counts,
    /// the most generous allowance of their roles.
    pub async fn granted(&self, action: Action, about: About<'_>) -> Result<(), AppError> {
        self.permitted(action, about).await?;
        self.within_limit(action, &self.staff.roles, about).await
    }

    /// [`Self::granted`] without the hourly limit: for pages that only show what the person
    /// may see (the fleet report, the audit log, the policy), which the limit does not count.
    pub async fn permitted(&self, action: Action, about: About<'_>) -> Result<(), AppError> {
        if self.state.policy.allows(&self.staff.roles, action) {
            return Ok(());
        }
        let denied = Denied::ActionNotGranted(action.as_str());
        Err(self
            .refuse(action, &denied, about, denied.clone().into())
            .await)
    }

    /// The policy's grant of `A` on `target`; a refusal is audited and answered with the
    /// reason. Then the allowance of the roles that granted it, when it is smaller.
    pub async fn authorize<A: ActionKind>(
        &self,
        target: &Target<'_>,
        about: About<'_>,
    ) -> Result<Grant<A>, AppError> {
        self.authorize_or(target, about, |denied| denied.clone().into())
            .await
    }

    /// [`Self::authorize`], answering a refusal with `answer(&denied)` (the lookup hides what
    /// lies outside the person's scopes behind a 404).
    pub async fn authorize_or<A: ActionKind>(
        &self,
        target: &Target<'_>,
        about: About<'_>,
        answer: impl FnOnce(&Denied) -> AppError,
    ) -> Result<Grant<A>, AppError> {
        match self.state.policy.authorize::<A>(&self.staff.roles, target) {
            Ok(grant) => {
                self.granted_limit(&grant, about).await?;
                Ok(grant)
            }
            Err(denied) => {
                let answer = answer(&denied);
                Err(self.refuse(A::ACTION, &denied, about, answer).await)
            }
        }
    }

    /// [`Self::authorize`], except that a change the policy holds back for an approval is no
    /// refusal: `Ok(Err(route))`, for the caller to store as a request (audited there).
    pub async fn authorize_or_hold<A: ActionKind>(
        &self,
        target: &Target<'_>,
        about: About<'_>,
    ) -> Result<Result<Grant<A>, ApprovalRoute>, AppError> {
        match self.state.policy.authorize::<A>(&self.staff.roles, target) {
            Ok(grant) => {
                self.granted_limit(&grant, about).await?;
                Ok(Ok(grant))
            }
            Err(Denied::NeedsApproval(route)) => Ok(Err(route)),
            Err(denied) => {
                let answer = denied.clone().into();
                Err(self.refuse(A::ACTION, &denied, about, answer).await)
            }
        }
    }

    /// The grant of `A` for an approved request, to this (the requester's) `Asking`: the
    /// policy's re-check and the hourly limit, as for [`Self::authorize`].
    pub async fn authorize_approved<A: ActionKind>(
        &self,
        target: &Target<'_>,
        about: About<'_>,
        approved: &Approved<A>,
    ) -> Result<Grant<A>, AppError> {
        let policy = &self.state.policy;
        match policy.authorize_approved::<A>(&self.staff.roles, target, approved) {
            Ok(grant) => {
                self.within_limit(A::ACTION, grant.roles(), about).await?;
                Ok(grant)
            }
            Err(denied) => {
                let answer = denied.clone().into();
                Err(self.refuse(A::ACTION, &denied, about, answer).await)
            }
        }
    }

    /// The grant of `A` on nothing in particular (a name with no object, a fleet scan).
    pub async fn authorize_nameless<A: ActionKind>(
        &self,
        about: About<'_>,
    ) -> Result<Grant<A>, AppError> {
        match self.state.policy.authorize_nameless::<A>(&self.staff.roles) {
            Ok(grant) => {
                self.granted_limit(&grant, about).await?;
                Ok(grant)
            }
            Err(denied) => {
                let answer = denied.clone().into();
                Err(self.refuse(A::ACTION, &denied, about, answer).await)
            }
        }
    }

    /// Audit a refusal of `action` for `why`, then return `answer` (or the audit's own
    /// failure: a refusal that cannot be audited is not answered as if it had been).
    pub async fn refuse(
        &self,
        action: Action,
        why: &(dyn std::fmt::Display + Sync),
        about: About<'_>,
        answer: AppError,
    ) -> AppError {
        match self
            .audit_denied(action.into(), why.to_string(), about)
            .await
        {
            Ok(()) => answer,
            Err(e) => e,
        }
    }

    /// Write a `denied` event of `action` with `reason`.
    pub async fn audit_denied(
        &self,
        action: audit::Action,
        reason: String,
        about: About<'_>,
    ) -> Result<(), AppError> {
        let event = audit::event(action, audit::Outcome::Denied, crate::clock::now())
            .actor(&self.staff.actor())
            .origin(self.origin)
            .reason(reason);
        audit::record(&self.state.store, &about.on(event)).await?;
        Ok(())
    }

    /// After the grant: the allowance of the roles that granted this target, when smaller
    /// than that of all the person's roles (security review L-3); one count in the usual case.
    async fn granted_limit<A: ActionKind>(
        &self,
        grant: &Grant<A>,
        about: About<'_>,
    ) -> Result<(), AppError> {
        let policy = &self.state.policy;
        if policy.hourly_limit(grant.roles(), A::ACTION)
            == policy.hourly_limit(&self.staff.roles, A::ACTION)
        {
            return Ok(());
        }
        self.within_limit(A::ACTION, grant.roles(), about).await
    }

    /// Refuse (429, audited) when the person has used up the hourly allowance of `roles`.
    /// Only the actions the limit counts are limited, and never a revoke: taking a credential
    /// away is counted, but not refused.
    async fn within_limit(
        &self,
        action: Action,
        roles: &[String],
        about: About<'_>,
    ) -> Result<(), AppError> {
        if action == Action::RevokeToken || !audit::Action::COUNTED.contains(&action.into()) {
            return Ok(());
        }
        let Some(limit) = self.state.policy.hourly_limit(roles, action) else {
            return Ok(());
        };
        let since: OffsetDateTime = crate::clock::now() - time::Duration::hours(1);
        let used = self
            .state
            .store
            .actions_since(&self.staff.sub, since)
            .await?;
        if used < i64::from(limit) {
            return Ok(());
        }
        let reason = format!("rate limit: {used} actions in the last hour, {limit} allowed");
        self.audit_denied(action.into(), reason, about).await?;
        Err(AppError::TooMany(format!(
            "You have reached your limit of {limit} lookups and repairs per hour. Try again later, or ask a senior colleague."
        )))
    }
}

//! `GET /webhooks`: the configured receivers (URL and events, never the secret) and the
//! newest deliveries. For `view_audit` holders who see the whole audit log
//! (`AuditView::All`): a delivery reports any computer, so a viewer scoped to some OUs is
//! refused (403, audited).

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;
use time::OffsetDateTime;

use super::authorize::{About, Asking};
use super::extract::{CurrentStaff, RequestOrigin};
use super::{AppError, AppState};
use crate::auth::Staff;
use crate::db::DeliveryState;
use crate::policy::{Action, AuditView};
use crate::webhooks::DeliveryView;

/// Deliveries listed.
const RECENT: i64 = 100;

/// A configured receiver as the page shows it.
pub struct HookLine {
    pub url: String,
    pub events: Vec<&'static str>,
}

#[derive(Template, WebTemplate)]
#[template(path = "webhooks.html")]
pub struct WebhooksPage {
    pub(super) staff: Option<Staff>,
    pub(super) hooks: Vec<HookLine>,
    pub(super) deliveries: Vec<DeliveryView>,
    pub(super) now: OffsetDateTime,
}

impl WebhooksPage {
    fn stamp(&self, t: &OffsetDateTime) -> super::format::When {
        super::format::at(*t)
    }
    fn is_pending(&self, d: &DeliveryView) -> bool {
        d.row.state == DeliveryState::Pending
    }
    fn next(&self, d: &DeliveryView) -> super::format::When {
        super::format::when(self.now, Some(d.row.next_attempt_at))
    }
}

/// Why a scoped audit viewer is refused the page.
const SCOPED: &str = "webhook deliveries report every computer: only a viewer of the whole audit log (a role with view_audit and no scopes) sees them";

/// Whether `roles` see the page: `view_audit` over the whole audit log.
pub(super) fn sees_webhooks(state: &AppState, roles: &[String]) -> bool {
    state.policy.allows(roles, Action::ViewAudit)
        && state.policy.audit_view(roles, Action::ViewAudit) == AuditView::All
}

pub async fn page(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
) -> Result<WebhooksPage, AppError> {
    let asking = Asking::new(&state, &staff, &origin);
    asking.permitted(Action::ViewAudit, About::Nothing).await?;
    if !sees_webhooks(&state, &staff.roles) {
        let answer = AppError::Forbidden(format!("Refused: {SCOPED}."));
        return Err(asking
            .refuse(Action::ViewAudit, &SCOPED, About::Nothing, answer)
            .await);
    }
    let deliveries = crate::webhooks::recent(&state.store, RECENT).await?;
    let hooks = state
        .config
        .webhooks
        .iter()
        .map(|h| HookLine {
            url: h.url.clone(),
            events: h.events.iter().map(|e| e.as_str()).collect(),
        })
        .collect();
    Ok(WebhooksPage {
        staff: Some(staff),
        hooks,
        deliveries,
        now: crate::clock::now(),
    })
}

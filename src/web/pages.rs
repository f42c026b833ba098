//! The landing page: sign-in for visitors, the search box for staff.

use askama::Template;
use askama_web::WebTemplate;
use tower_sessions::Session;

use axum::extract::{Query, State};

use super::AppState;
use super::extract::session_staff;
use crate::auth::Staff;
use crate::policy::Action;

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub staff: Option<Staff>,
    pub version: &'static str,
    pub can_lookup: bool,
    pub can_audit: bool,
    pub can_policy: bool,
    /// The webhooks page (`view_audit` over the whole audit log).
    pub can_webhooks: bool,
    /// Back from the provider's end-session endpoint (`state=signed-out`).
    pub signed_out: bool,
}

#[derive(serde::Deserialize)]
pub struct IndexQuery {
    #[serde(default)]
    state: Option<String>,
}

pub async fn index(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<IndexQuery>,
) -> IndexPage {
    // A session store hiccup shows the signed-out page rather than an error.
    let staff = session_staff(&session, &state).await;
    let roles = staff
        .as_ref()
        .map(|s| s.roles.as_slice())
        .unwrap_or_default();
    IndexPage {
        can_lookup: state.policy.allows(roles, Action::Lookup),
        can_audit: state.policy.allows(roles, Action::ViewAudit),
        can_policy: state.policy.allows(roles, Action::ViewPolicy),
        can_webhooks: super::webhooks::sees_webhooks(&state, roles),
        signed_out: staff.is_none() && q.state.as_deref() == Some(crate::auth::SIGNED_OUT_STATE),
        staff,
        version: env!("CARGO_PKG_VERSION"),
    }
}

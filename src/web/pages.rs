//! The landing page: sign-in for visitors, the search box for staff.

use askama::Template;
use askama_web::WebTemplate;
use tower_sessions::Session;

use axum::extract::State;

use crate::auth::{STAFF_KEY, Staff};
use crate::policy::Action;
use crate::state::AppState;

#[derive(Template, WebTemplate)]
#[template(path = "index.html")]
pub struct IndexPage {
    pub staff: Option<Staff>,
    pub version: &'static str,
    pub can_lookup: bool,
    pub can_audit: bool,
    pub can_policy: bool,
}

pub async fn index(State(state): State<AppState>, session: Session) -> IndexPage {
    // A session store hiccup shows the signed-out page rather than an error.
    let staff = session.get::<Staff>(STAFF_KEY).await.ok().flatten();
    let roles = staff
        .as_ref()
        .map(|s| s.roles.as_slice())
        .unwrap_or_default();
    IndexPage {
        can_lookup: state.policy.allows(roles, Action::Lookup),
        can_audit: state.policy.allows(roles, Action::ViewAudit),
        can_policy: state.policy.allows(roles, Action::ViewPolicy),
        staff,
        version: env!("CARGO_PKG_VERSION"),
    }
}

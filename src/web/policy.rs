//! `GET /policy`: the effective policy. Holders of `view_policy` see every role; everyone else
//! sees their own roles, so a refusal can be understood.

use askama::Template;
use askama_web::WebTemplate;
use axum::extract::State;

use super::AppError;
use super::AppState;
use super::extract::CurrentStaff;
use crate::auth::Staff;
use crate::policy::{Action, RolePolicy};

#[derive(Template, WebTemplate)]
#[template(path = "policy.html")]
pub struct PolicyPage {
    pub(super) staff: Option<Staff>,
    pub(super) full: bool,
    pub(super) roles: Vec<(String, RolePolicy)>,
    pub(super) protected_ous: Vec<String>,
    /// The tier-0 rules (`directory/tier0.rs`) and `ldap.protected_groups`.
    pub(super) tier0_rules: Vec<String>,
    pub(super) protected_groups: Vec<String>,
}

impl PolicyPage {
    fn actions(&self, r: &RolePolicy) -> String {
        names(&r.actions)
    }

    fn approval_actions(&self, a: &crate::policy::ApprovalRule) -> String {
        names(&a.actions)
    }
}

fn names(actions: &std::collections::BTreeSet<crate::policy::Action>) -> String {
    actions
        .iter()
        .map(|a| a.as_str())
        .collect::<Vec<_>>()
        .join(", ")
}

pub async fn page(
    State(state): State<AppState>,
    CurrentStaff(staff): CurrentStaff,
) -> Result<PolicyPage, AppError> {
    let full = state.policy.allows(&staff.roles, Action::ViewPolicy);
    let roles = state
        .policy
        .roles
        .iter()
        .filter(|(name, _)| full || staff.roles.contains(name))
        .map(|(n, r)| (n.clone(), r.clone()))
        .collect();
    Ok(PolicyPage {
        protected_ous: state.policy.protected_ous.clone(),
        tier0_rules: crate::ad::tier0::rules(),
        protected_groups: state
            .config
            .domains
            .iter()
            .flat_map(|d| d.protected_groups.iter().cloned())
            .collect(),
        staff: Some(staff),
        full,
        roles,
    })
}

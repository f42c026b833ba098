//! Which domain's computer a request means. `/computers/{domain}/{name}` names the domain; the
//! older `/computers/{name}` (a bare name, `CORP\PC01` or a DNS host name) is looked for in
//! every domain it may be in, at once. A name found in several domains the caller may look up
//! in gets a choice, never a guess.

use std::sync::Arc;

use askama::Template;
use askama_web::WebTemplate;
use serde::{Deserialize, Serialize};

use super::{AppError, AppState};
use crate::auth::Staff;
use crate::directory::filter::ComputerQuery;
use crate::directory::{Directory, Found, InDomain};
use crate::policy::Action;

/// A computer a path names: `/computers/{domain}/{name}…`, or `/computers/{name}…`.
#[derive(Debug, Deserialize)]
pub struct ComputerPath {
    /// The domain's DNS name (or NetBIOS name).
    #[serde(default)]
    pub domain: Option<String>,
    pub name: String,
}

impl ComputerPath {
    /// The name as a lookup reads it: `domain\name` when the path names the domain.
    pub fn typed(&self) -> String {
        match &self.domain {
            Some(d) => format!("{d}\\{}", self.name),
            None => self.name.clone(),
        }
    }
}

/// Where a request's computer is.
pub enum Located {
    /// In this domain (absent from it when `None`: the report says it is missing).
    In(Arc<Directory>, Option<Box<crate::ad::ComputerAccount>>),
    /// The name is in several domains the caller may look up in.
    Choose(Vec<InDomain>),
}

/// Find `q` in the domains it may be in. A `DOMAIN\` no managed domain answers to is a bad
/// request; a name found nowhere is reported from the domain it names, else the first one.
/// Of several, only those in the caller's lookup scopes are offered; when none is, the first
/// stands, and the policy refuses it as for any computer outside the caller's scopes.
pub async fn locate(
    state: &AppState,
    staff: &Staff,
    q: &ComputerQuery,
) -> Result<Located, AppError> {
    let domains = &state.lookups.domains;
    if let ComputerQuery::Qualified { domain, .. } = q
        && domains.candidates(q).await?.is_empty()
    {
        return Err(AppError::BadRequest(format!(
            "No domain this portal manages is named {domain}."
        )));
    }
    Ok(match domains.find(q).await? {
        Found::One(x) => Located::In(x.directory, Some(Box::new(x.account))),
        Found::None => {
            let candidates = domains.candidates(q).await?;
            let dir = candidates
                .first()
                .copied()
                .unwrap_or_else(|| domains.first());
            Located::In(dir.clone(), None)
        }
        Found::Several(all) => {
            let mut mine: Vec<InDomain> = all
                .iter()
                .filter(|x| {
                    state
                        .policy
                        .in_scope(&staff.roles, Action::Lookup, &x.account.dn)
                })
                .cloned()
                .collect();
            match (mine.len(), all.into_iter().next()) {
                (0, Some(first)) => Located::In(first.directory, Some(Box::new(first.account))),
                (1, _) => {
                    let one = mine.remove(0);
                    Located::In(one.directory, Some(Box::new(one.account)))
                }
                _ => Located::Choose(mine),
            }
        }
    })
}

/// One computer of a choice: its domain, name and place.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Choice {
    /// The domain's DNS name.
    pub domain: String,
    /// The NetBIOS name.
    pub name: String,
    pub dn: String,
    pub operating_system: Option<String>,
    /// Its page; its diagnosis is at `/api/v1` followed by this path.
    pub path: String,
}

impl Choice {
    pub fn of(x: &InDomain) -> Self {
        let (domain, name) = (x.directory.dns_name(), x.account.netbios_name());
        Choice {
            domain: domain.to_string(),
            name: name.to_string(),
            dn: x.account.dn.clone(),
            operating_system: x.account.operating_system.clone(),
            path: super::format::computer_path_in(domain, name),
        }
    }
}

/// The answer to a name in several domains: which one?
#[derive(Template, WebTemplate)]
#[template(path = "choose.html")]
pub struct ChoosePage {
    pub(super) staff: Option<Staff>,
    pub(super) query: String,
    pub(super) choices: Vec<Choice>,
}

/// The JSON twin of [`ChoosePage`] (HTTP 300).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Choices {
    pub error: String,
    pub choices: Vec<Choice>,
}

impl Choices {
    pub fn of(query: &str, choices: Vec<Choice>) -> Self {
        Choices {
            error: format!(
                "{query} is in {} domains: ask for one of them by its path",
                choices.len()
            ),
            choices,
        }
    }
}

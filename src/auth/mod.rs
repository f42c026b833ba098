//! Staff authentication: OIDC sign-in, the server-side session, API keys, and `Staff`, the
//! person a request acts for. No HTTP here: the extractors that find `Staff` in a request
//! live in `web/extract.rs`, and this module's errors become responses in `web/error.rs`.

pub mod api_keys;
pub mod oidc;
pub mod sessions;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::audit::Actor;
use crate::config::{Config, RoleConfig, RoleMatch};
use crate::db::StoreError;
use crate::policy::Policy;

/// Session keys.
pub const STAFF_KEY: &str = "td.staff";

/// The `state` of our end-session requests: the provider sends the browser back to the
/// landing page with it, which then says the person is signed out and what the provider did.
pub const SIGNED_OUT_STATE: &str = "signed-out";

/// A signed-in staff member, as kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Staff {
    pub sub: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub roles: Vec<String>,
    /// The synchronizer token every state-changing form of this session must carry.
    pub csrf: String,
    /// When the person signed in (unix seconds): the session's absolute lifetime counts from
    /// here. 0 for API keys.
    #[serde(default)]
    pub signed_in_at: i64,
    /// When the session record was last saved (unix seconds): the idle timeout counts from
    /// its save, so a used session is saved again once a quarter of that timeout has passed.
    #[serde(default)]
    pub touched_at: i64,
    /// The ID token of this sign-in, sent as `id_token_hint` at logout. Server-side only.
    #[serde(default)]
    pub id_token: Option<String>,
    /// What the roles were worked out from at sign-in (the role-claim values and the verified
    /// e-mail): each request works them out again against the configuration in force, so a
    /// role taken away in the config is gone on the next request. `None` for API keys, whose
    /// role is the key's own.
    #[serde(default)]
    pub role_inputs: Option<RoleInputs>,
    /// Whether the policy lets this person look computers up (the search box in every page's
    /// navigation). Worked out per request from the roles, never stored.
    #[serde(skip)]
    pub can_lookup: bool,
    /// Whether the policy names one of this person's roles as an approver (the navigation's
    /// link to the approvals queue). Worked out per request, never stored.
    #[serde(skip)]
    pub can_approve: bool,
}

/// The sign-in's inputs to [`roles_for`], kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct RoleInputs {
    pub values: Vec<String>,
    pub verified_email: Option<String>,
}

/// A form's CSRF token is not the session's.
#[derive(Debug, thiserror::Error)]
#[error("This form has expired or did not come from trustdesk. Reload the page and try again.")]
pub struct CsrfMismatch;

/// Why a presented credential could not be checked (not: that it was refused).
#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the system's random number generator failed")]
    Random(#[source] getrandom::Error),
}

/// The subject of an API key's caller: this prefix, then the key's name.
pub const API_KEY_SUB_PREFIX: &str = "api-key:";
/// The issuer [`Staff::issuer`] names for an API key's caller.
pub const API_KEY_ISSUER: &str = "trustdesk:api-keys";

impl Staff {
    /// A person known without a sign-in (an API key's caller, a requester whose approved change
    /// runs while they are away): no session, no CSRF token (`csrf` empty matches no form:
    /// `check_csrf` refuses an empty token), the roles given.
    pub fn without_session(sub: String, name: Option<String>, roles: Vec<String>) -> Self {
        Self {
            sub,
            name,
            email: None,
            roles,
            csrf: String::new(),
            signed_in_at: 0,
            touched_at: 0,
            id_token: None,
            role_inputs: None,
            can_lookup: false,
            can_approve: false,
        }
    }

    /// This person as a request sees them: the roles the configuration in force grants the
    /// sign-in's claims, and what the policy grants them for the pages.
    pub fn for_request(mut self, config: &Config, policy: &Policy) -> Self {
        if let Some(inputs) = &self.role_inputs {
            self.roles = roles_for(
                &RoleRequest {
                    values: &inputs.values,
                    sub: &self.sub,
                    verified_email: inputs.verified_email.as_deref(),
                },
                &config.roles,
                config.oidc.role_values,
            );
        }
        self.can_lookup = policy.allows(&self.roles, crate::policy::Action::Lookup);
        self.can_approve = policy.approves_any(&self.roles);
        self
    }

    /// The issuer of this person's subject, which the four-eyes rule compares with it: the
    /// OIDC provider for a sign-in, trustdesk itself for an API key (whose subject is
    /// `api-key:<name>` and which has no sign-in inputs).
    pub fn issuer<'a>(&self, config: &'a Config) -> &'a str {
        if self.role_inputs.is_none() && self.sub.starts_with(API_KEY_SUB_PREFIX) {
            API_KEY_ISSUER
        } else {
            &config.oidc.issuer
        }
    }

    /// Who the audit log names for this person.
    pub fn actor(&self) -> Actor {
        Actor {
            sub: self.sub.clone(),
            name: self.name.clone(),
            email: self.email.clone(),
            roles: self.roles.clone(),
        }
    }

    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.email.as_deref())
            .unwrap_or(&self.sub)
    }

    /// Check a form's CSRF token against the session's, in constant time.
    pub fn check_csrf(&self, presented: &str) -> Result<(), CsrfMismatch> {
        use subtle::ConstantTimeEq;
        // A person without a session has no token; no form, not even an empty one, matches it.
        if !self.csrf.is_empty() && bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(())
        } else {
            Err(CsrfMismatch)
        }
    }
}

/// A fresh random token (32 bytes, base64url), for CSRF tokens.
pub fn random_token() -> Result<String, getrandom::Error> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes)?;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes))
}

/// Who is asking for roles: the role-claim values, and the person for `roles.*.users`.
pub struct RoleRequest<'a> {
    pub values: &'a [String],
    pub sub: &'a str,
    /// Only a verified address counts (Entra's `email` is not verified: the "nOAuth" flaw).
    pub verified_email: Option<&'a str>,
}

/// The roles granted, in config order: a role-claim value listed in `roles.*.groups`
/// (compared per `match_values`), or the person's subject or verified e-mail listed in
/// `roles.*.users`. Nothing listed, no role: deny by default.
pub fn roles_for(
    who: &RoleRequest<'_>,
    roles: &BTreeMap<String, RoleConfig>,
    match_values: RoleMatch,
) -> Vec<String> {
    let same = |a: &str, b: &str| match match_values {
        RoleMatch::Exact => a == b,
        RoleMatch::CaseInsensitive => a == b || a.to_lowercase() == b.to_lowercase(),
    };
    roles
        .iter()
        .filter(|(_, role)| {
            role.groups
                .iter()
                .any(|g| who.values.iter().any(|v| same(g, v)))
                || role.users.iter().any(|u| {
                    u == who.sub
                        || who
                            .verified_email
                            .is_some_and(|e| u.contains('@') && e.eq_ignore_ascii_case(u))
                })
        })
        .map(|(name, _)| name.clone())
        .collect()
}

/// Accept only our own absolute paths as a post-login target: `/x/y?z`, never `//host`,
/// `/\host`, a scheme, or control characters. Anything else becomes `/`.
pub fn safe_return_to(candidate: Option<&str>) -> String {
    match candidate {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.contains('\\')
                && !path.chars().any(char::is_control)
                && path.len() <= 512 =>
        {
            path.to_string()
        }
        _ => "/".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_person_without_a_session_matches_no_csrf_token_not_even_an_empty_one() {
        let staff = Staff::without_session("api-key:x".into(), None, vec!["senior".into()]);
        assert!(staff.check_csrf("").is_err());
        assert!(staff.check_csrf("anything").is_err());
        let signed_in = Staff {
            csrf: "t0ken".into(),
            ..staff
        };
        assert!(signed_in.check_csrf("t0ken").is_ok());
        assert!(signed_in.check_csrf("").is_err());
    }

    #[test]
    fn return_to_accepts_only_our_paths() {
        for ok in ["/", "/computers/PAR-WS001", "/computers?prefix=PAR"] {
            assert_eq!(safe_return_to(Some(ok)), ok);
        }
        for bad in [
            "//evil.example/x",
            "/\\evil.example",
            "https://evil.example/",
            "evil",
            "/x\ny",
            "",
        ] {
            assert_eq!(safe_return_to(Some(bad)), "/", "{bad:?}");
        }
        assert_eq!(safe_return_to(None), "/");
    }

    #[test]
    fn roles_come_from_listed_values_or_people() {
        let mut roles = BTreeMap::new();
        roles.insert(
            "senior".to_string(),
            RoleConfig {
                groups: vec!["Helpdesk-Senior".into(), "/helpdesk/senior".into()],
                ..RoleConfig::default()
            },
        );
        roles.insert(
            "auditor".to_string(),
            RoleConfig {
                users: vec!["carol@example.test".into(), "sub-42".into()],
                ..RoleConfig::default()
            },
        );
        let ask = |values: &[String], sub: &'static str, email: Option<&'static str>| {
            let who = RoleRequest {
                values,
                sub,
                verified_email: email,
            };
            (
                roles_for(&who, &roles, RoleMatch::CaseInsensitive),
                roles_for(&who, &roles, RoleMatch::Exact),
            )
        };
        let (ci, exact) = ask(&["helpdesk-senior".into()], "x", None);
        assert_eq!(ci, vec!["senior"]);
        assert!(exact.is_empty(), "exact matching is byte for byte");
        assert_eq!(
            ask(&["/HELPDESK/senior".into()], "x", None).0,
            vec!["senior"]
        );
        assert!(ask(&[], "x", None).0.is_empty(), "nothing listed, no role");
        assert_eq!(ask(&[], "sub-42", None).0, vec!["auditor"]);
        assert_eq!(ask(&[], "x", Some("Carol@Example.test")).0, vec!["auditor"]);
        assert!(
            ask(&[], "carol@example.test", None).1 == vec!["auditor"],
            "a subject that is listed matches as a subject"
        );
        assert!(ask(&["senior-ish".into()], "y", None).0.is_empty());
    }
}

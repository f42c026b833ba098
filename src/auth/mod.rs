//! Staff authentication: OIDC sign-in, the server-side session, and the `Staff` extractor.
//! With `web/`, the only module that imports axum.

pub mod api_keys;
pub mod oidc;
pub mod sessions;

use std::collections::BTreeMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde::{Deserialize, Serialize};
use tower_sessions::Session;

use crate::config::{RoleConfig, RoleMatch};
use crate::state::AppState;
use crate::web::AppError;

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
}

/// The sign-in's inputs to [`roles_for`], kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
pub struct RoleInputs {
    pub values: Vec<String>,
    pub verified_email: Option<String>,
}

impl Staff {
    /// This person as a request sees them: the roles the configuration in force grants the
    /// sign-in's claims, and what the policy grants them for the pages.
    fn for_request(mut self, state: &AppState) -> Self {
        if let Some(inputs) = &self.role_inputs {
            self.roles = roles_for(
                &RoleRequest {
                    values: &inputs.values,
                    sub: &self.sub,
                    verified_email: inputs.verified_email.as_deref(),
                },
                &state.config.roles,
                state.config.oidc.role_values,
            );
        }
        self.can_lookup = state
            .policy
            .allows(&self.roles, crate::policy::Action::Lookup);
        self
    }

    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.email.as_deref())
            .unwrap_or(&self.sub)
    }

    /// Check a form's CSRF token against the session's, in constant time.
    pub fn check_csrf(&self, presented: &str) -> Result<(), AppError> {
        use subtle::ConstantTimeEq;
        if bool::from(self.csrf.as_bytes().ct_eq(presented.as_bytes())) {
            Ok(())
        } else {
            Err(AppError::Forbidden(
                "This form has expired or did not come from trustdesk. Reload the page and try again."
                    .into(),
            ))
        }
    }
}

/// A fresh random token (32 bytes, base64url), for CSRF tokens.
pub fn random_token() -> Result<String, AppError> {
    use base64::Engine;
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Internal(format!("CSPRNG: {e}")))?;
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

/// Extractor: the signed-in staff member (session, or `Authorization: Bearer <api key>`), or
/// a redirect to sign-in (401 under `/api/`).
pub struct CurrentStaff(pub Staff);

/// The person signed in on `session`, for a page that shows the navigation whoever looks
/// (the landing page, error pages): `None` when nobody is, when the session is past its
/// absolute lifetime, or when the store cannot say. Never moves the idle deadline on.
pub async fn session_staff(session: &Session, state: &AppState) -> Option<Staff> {
    let staff = session.get::<Staff>(STAFF_KEY).await.ok().flatten()?;
    let lifetime = i64::try_from(state.config.session.absolute_lifetime_secs).unwrap_or(i64::MAX);
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    (now - staff.signed_in_at < lifetime).then(|| staff.for_request(state))
}

impl FromRequestParts<AppState> for CurrentStaff {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if let Some(auth) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let key = auth
                .to_str()
                .ok()
                .and_then(|v| v.strip_prefix("Bearer "))
                .map(str::trim)
                .unwrap_or_default();
            return match api_keys::authenticate(&state.store, key).await? {
                Some(staff) => Ok(Self(staff.for_request(state))),
                None => Err(AppError::Unauthorized("unknown or revoked API key".into())),
            };
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| AppError::Internal(format!("session layer missing: {msg}")))?;
        let staff: Option<Staff> = session
            .get(STAFF_KEY)
            .await
            .map_err(|e| AppError::Unavailable(format!("session store: {e}")))?;
        let limits = &state.config.session;
        let lifetime = i64::try_from(limits.absolute_lifetime_secs).unwrap_or(i64::MAX);
        let idle = i64::try_from(limits.idle_timeout_secs).unwrap_or(i64::MAX);
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        match staff {
            Some(mut staff) if now - staff.signed_in_at < lifetime => {
                // Saving it moves the idle deadline on (tower-sessions saves only changed
                // sessions); at most one write per quarter of the timeout.
                if now - staff.touched_at >= (idle / 4).max(1) {
                    staff.touched_at = now;
                    session
                        .insert(STAFF_KEY, &staff)
                        .await
                        .map_err(|e| AppError::Unavailable(format!("session store: {e}")))?;
                }
                Ok(Self(staff.for_request(state)))
            }
            Some(_) => {
                // Past its absolute lifetime: end it, however busy it was.
                session
                    .flush()
                    .await
                    .map_err(|e| AppError::Unavailable(format!("session store: {e}")))?;
                let target = parts.uri.path_and_query().map(|p| p.as_str().to_string());
                Err(AppError::SignIn(safe_return_to(target.as_deref())))
            }
            None => {
                let target = parts.uri.path_and_query().map(|p| p.as_str().to_string());
                Err(AppError::SignIn(safe_return_to(target.as_deref())))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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

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

use crate::config::RoleConfig;
use crate::state::AppState;
use crate::web::AppError;

/// Session keys.
pub const PENDING_KEY: &str = "td.pending_login";
pub const STAFF_KEY: &str = "td.staff";

/// A signed-in staff member, as kept in the session.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Staff {
    pub sub: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub roles: Vec<String>,
    /// The synchronizer token every state-changing form of this session must carry.
    pub csrf: String,
}

impl Staff {
    pub fn display_name(&self) -> &str {
        self.name
            .as_deref()
            .or(self.email.as_deref())
            .unwrap_or(&self.sub)
    }

    /// Check a form's CSRF token against the session's, in constant time.
    pub fn check_csrf(&self, presented: &str) -> Result<(), AppError> {
        let a = self.csrf.as_bytes();
        let b = presented.as_bytes();
        let same =
            a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0;
        if same {
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

/// The roles the given OIDC groups grant, in config order. No group, no role: deny by default.
pub fn roles_for(groups: &[String], roles: &BTreeMap<String, RoleConfig>) -> Vec<String> {
    roles
        .iter()
        .filter(|(_, role)| role.groups.iter().any(|g| groups.contains(g)))
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
                Some(staff) => Ok(Self(staff)),
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
        match staff {
            Some(staff) => Ok(Self(staff)),
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
    fn roles_come_only_from_configured_groups() {
        let mut roles = BTreeMap::new();
        roles.insert(
            "senior".to_string(),
            RoleConfig {
                groups: vec!["helpdesk-senior".into()],
                actions: vec![],
                scopes: vec![],
                max_actions_per_hour: None,
                max_token_minutes: None,
            },
        );
        roles.insert(
            "auditor".to_string(),
            RoleConfig {
                groups: vec!["security-auditors".into()],
                actions: vec![],
                scopes: vec![],
                max_actions_per_hour: None,
                max_token_minutes: None,
            },
        );
        assert_eq!(
            roles_for(&["helpdesk-senior".into()], &roles),
            vec!["senior"]
        );
        assert!(roles_for(&[], &roles).is_empty());
        assert!(roles_for(&["Helpdesk-Senior".into()], &roles).is_empty());
    }
}

//! Where role values come from besides the ID token: userinfo (OIDC Core §5.3), and the
//! groups endpoint an Entra overage names (only at configured origins).

use openidconnect::core::CoreGenderClaim;
use openidconnect::{AccessToken, SubjectIdentifier, UserInfoClaims};
use serde_json::Value;

use super::claims::{self, RoleClaim};
use super::provider::Discovered;
use super::{AuthError, ExtraClaims, Identity, Oidc, http};

impl Oidc {
    /// The role claim (and a name or e-mail the ID token lacked) from userinfo, when the
    /// provider has that endpoint. The subject must be the ID token's (OIDC Core §5.3.2).
    pub(super) async fn read_userinfo(
        &self,
        d: &Discovered,
        access: &AccessToken,
        identity: &mut Identity,
    ) -> Result<RoleClaim, AuthError> {
        let Ok(req) = d.client.user_info(
            access.clone(),
            Some(SubjectIdentifier::new(identity.sub.clone())),
        ) else {
            return Ok(RoleClaim::Absent);
        };
        let info: UserInfoClaims<ExtraClaims, CoreGenderClaim> = req
            .request_async(&self.http)
            .await
            .map_err(|e| AuthError::UserInfo(crate::errors::error_chain(&e)))?;
        if identity.name.is_none() {
            identity.name = info.name().and_then(|n| n.get(None)).map(|n| n.to_string());
        }
        if identity.email.is_none() {
            identity.email = info.email().map(|e| e.to_string());
            identity.email_verified = info.email_verified().unwrap_or(false);
        }
        Ok(claims::read(
            &info.additional_claims().rest,
            &self.role_claim,
        ))
    }

    /// Entra's overage: the groups from the endpoint the token named, with the access token,
    /// only when that endpoint's origin is configured (`oidc.overage_origins`). `None` when
    /// they cannot be had; the caller then says so instead of "no role".
    pub(super) async fn resolve_overage(
        &self,
        endpoint: Option<&str>,
        access: &AccessToken,
    ) -> Option<Vec<String>> {
        let endpoint = endpoint?;
        if !claims::endpoint_allowed(endpoint, &self.overage_origins) {
            tracing::info!(
                endpoint,
                "group overage: the groups endpoint's origin is not in oidc.overage_origins"
            );
            return None;
        }
        let resp = self
            .http
            .0
            .post(endpoint)
            .bearer_auth(access.secret())
            .json(&serde_json::json!({"securityEnabledOnly": false}))
            .send()
            .await
            .map_err(|e| tracing::warn!(error = %e, "group overage: the groups endpoint failed"))
            .ok()?;
        if !resp.status().is_success() {
            tracing::warn!(status = %resp.status(), "group overage: the groups endpoint refused");
            return None;
        }
        let body = http::bounded_body(resp)
            .await
            .map_err(|e| tracing::warn!(error = %e, "group overage: reading the groups failed"))
            .ok()?;
        let groups = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("value").and_then(Value::as_array).cloned());
        let Some(groups) = groups else {
            tracing::warn!("group overage: the answer has no \"value\" list");
            return None;
        };
        Some(
            groups
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
        )
    }
}

//! `private_key_jwt` client authentication (OIDC Core §9; RFC 7523 §2.2): a short-lived JWT
//! signed with the portal's own RSA key, for tenants that forbid client secrets.
//!
//! openidconnect 4 signs ID tokens for providers but builds no client assertion, so the JWT is
//! put together here; the RSA signature is the crate's.

use base64::Engine;
use openidconnect::core::{CoreJwsSigningAlgorithm, CoreRsaPrivateSigningKey};
use openidconnect::{JsonWebKeyId, PrivateSigningKey};

/// RFC 7523 §2.2's assertion type.
pub const ASSERTION_TYPE: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
/// How long an assertion is valid.
const LIFETIME_SECS: i64 = 120;

/// The key file, checked (the check-config and the start read it the same way: see
/// [`crate::pem::load_rsa_key`]).
pub use crate::pem::load_rsa_key as load_key;

/// The signing key and the id the provider knows it by.
pub struct AssertionKey {
    key: CoreRsaPrivateSigningKey,
    kid: Option<String>,
}

impl AssertionKey {
    pub fn new(pem: &str, kid: Option<String>) -> Result<Self, String> {
        let key = CoreRsaPrivateSigningKey::from_pem(pem, kid.clone().map(JsonWebKeyId::new))?;
        Ok(Self { key, kid })
    }

    /// A fresh assertion for `client_id` at `token_url`, issued at `now` (unix seconds).
    pub fn assertion(&self, client_id: &str, token_url: &str, now: i64) -> Result<String, String> {
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let header = match &self.kid {
            // Entra finds a certificate credential by `x5t` (its base64url SHA-1
            // thumbprint); others by `kid`. The configured id is sent as both.
            Some(kid) => serde_json::json!({"alg": "RS256", "typ": "JWT", "kid": kid, "x5t": kid}),
            None => serde_json::json!({"alg": "RS256", "typ": "JWT"}),
        };
        let mut jti = [0u8; 16];
        getrandom::fill(&mut jti).map_err(|e| format!("CSPRNG: {e}"))?;
        let claims = serde_json::json!({
            "iss": client_id,
            "sub": client_id,
            "aud": token_url,
            "jti": b64.encode(jti),
            "iat": now,
            "nbf": now,
            "exp": now + LIFETIME_SECS,
        });
        let input = format!(
            "{}.{}",
            b64.encode(header.to_string()),
            b64.encode(claims.to_string())
        );
        let sig = self
            .key
            .sign(
                &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                input.as_bytes(),
            )
            .map_err(|e| format!("signing the client assertion: {e}"))?;
        Ok(format!("{input}.{}", b64.encode(sig)))
    }
}

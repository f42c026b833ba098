//! `[oidc]` and `[session]`: how staff sign in, and how long a sign-in lasts.
//!
//! Every provider differs in where it puts groups and what it accepts (README, "Identity
//! providers"): scopes are configured apart from the claim that carries roles, because a
//! claim name is not a scope (Entra refuses an unknown scope with AADSTS650053, Keycloak and
//! Google with `invalid_scope`).

use std::collections::BTreeMap;
use std::path::PathBuf;

use secrecy::SecretString;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OidcConfig {
    /// The issuer exactly as the provider's discovery document names it.
    pub issuer: String,
    pub client_id: String,
    /// Required unless `token_endpoint_auth = "private_key_jwt"`.
    pub client_secret: Option<SecretString>,
    /// Scopes requested at sign-in. `openid` is always sent.
    #[serde(default = "default_scopes")]
    pub scopes: Vec<String>,
    /// The claim that carries the user's roles or groups: a name (`groups`, `roles`), or a
    /// dotted path into nested objects (`realm_access.roles`). Read from the ID token, then
    /// from userinfo when the ID token lacks it. `groups_claim` is its former name.
    #[serde(default = "default_role_claim", alias = "groups_claim")]
    pub role_claim: String,
    /// How role-claim values are compared with `roles.*.groups`.
    #[serde(default)]
    pub role_values: RoleMatch,
    /// How the portal authenticates at the token endpoint.
    #[serde(default)]
    pub token_endpoint_auth: TokenEndpointAuth,
    /// With `private_key_jwt`: the PEM RSA private key (PKCS#1) that signs the client
    /// assertion, and the id the provider knows it by, sent as `kid` and `x5t` (Entra: the
    /// certificate's base64url SHA-1 thumbprint).
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    #[serde(default)]
    pub private_key_id: Option<String>,
    /// ID-token signature algorithms accepted. Default: asymmetric ones only; HS* (signed with
    /// the client secret) only when listed here.
    #[serde(default = "default_algs")]
    pub id_token_signing_algs: Vec<String>,
    /// How the provider returns the code: `query` (a redirect) or `form_post` (AD FS needs it
    /// for custom ID-token claims).
    #[serde(default)]
    pub response_mode: ResponseMode,
    /// Extra authorization-request parameters (AD FS `resource`, Entra `domain_hint`, …).
    /// The protocol's own parameters cannot be overridden here.
    #[serde(default)]
    pub extra_auth_params: BTreeMap<String, String>,
    /// Entra group overage (more than 200 groups): fetch the groups from the endpoint named in
    /// the token's `_claim_sources`, with the access token, when that endpoint's origin is
    /// listed here. Empty (default): the user is told why they have no role instead.
    #[serde(default)]
    pub overage_origins: Vec<String>,
}

/// How role-claim values match the configured ones.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RoleMatch {
    /// Case-insensitive (AD group names are).
    #[default]
    CaseInsensitive,
    /// Byte for byte.
    Exact,
}

/// OAuth 2.0 Multiple Response Type Encoding Practices / Form Post Response Mode.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResponseMode {
    #[default]
    Query,
    FormPost,
}

/// Client authentication at the token endpoint (OIDC Core §9).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TokenEndpointAuth {
    #[default]
    ClientSecretBasic,
    ClientSecretPost,
    PrivateKeyJwt,
}

/// Staff sessions (server-side; the cookie holds only an id).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionConfig {
    /// A session unused this long ends.
    #[serde(default = "default_idle")]
    pub idle_timeout_secs: u64,
    /// A session ends this long after sign-in, however busy.
    #[serde(default = "default_lifetime")]
    pub absolute_lifetime_secs: u64,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self {
            idle_timeout_secs: default_idle(),
            absolute_lifetime_secs: default_lifetime(),
        }
    }
}

fn default_scopes() -> Vec<String> {
    ["openid", "profile", "email"].map(String::from).to_vec()
}
fn default_role_claim() -> String {
    "groups".into()
}
fn default_algs() -> Vec<String> {
    ASYMMETRIC_ALGS.iter().map(|a| a.to_string()).collect()
}
fn default_idle() -> u64 {
    30 * 60
}
fn default_lifetime() -> u64 {
    8 * 3600
}

/// The signature algorithms accepted by default.
pub const ASYMMETRIC_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA",
];
/// Every algorithm the verifier knows; HS* only by explicit choice.
pub const KNOWN_ALGS: &[&str] = &[
    "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "EdDSA", "HS256",
    "HS384", "HS512",
];
/// Authorization-request parameters the protocol sets itself.
pub const RESERVED_AUTH_PARAMS: &[&str] = &[
    "client_id",
    "redirect_uri",
    "response_type",
    "response_mode",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
];

//! OIDC sign-in: authorization code with PKCE (S256), state and nonce (openidconnect crate),
//! shaped to what real providers do (README, "Identity providers").
//!
//! - Scopes are configured apart from the role claim; the claim is read from the ID token,
//!   then from userinfo (OIDC Core §5.4 puts scope claims there by default).
//! - Discovery and the JWKS are re-read hourly and on an unknown key (`provider.rs`).
//! - ID tokens are accepted only with an allowed algorithm (asymmetric by default).
//! - Entra's group overage is recognised, and resolved only at configured origins.
//! - Back-channel logout tokens are checked in `logout_token.rs`.

pub mod assertion;
pub mod check;
pub mod claims;
mod http;
pub mod logout_token;
mod provider;
mod refusal;
mod sources;

pub use refusal::TokenRefusal;

use std::str::FromStr;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AuthorizationCode, ClaimsVerificationError, Client, ClientId, CsrfToken,
    EmptyExtraTokenFields, EndpointMaybeSet, EndpointNotSet, EndpointSet, IdToken, IdTokenFields,
    LogoutRequest, Nonce, OAuth2TokenResponse, PkceCodeChallenge, PkceCodeVerifier,
    PostLogoutRedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use self::claims::RoleClaim;
use self::http::OidcHttp;
use self::provider::{ClientSettings, Discovered, ProviderCache};
use crate::config::{OidcConfig, ResponseMode, TokenEndpointAuth};

/// Every claim the standard set does not name, so the role claim's name can be configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    rest: Map<String, Value>,
}
impl AdditionalClaims for ExtraClaims {}

type PortalIdToken = IdToken<
    ExtraClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

type PortalTokenResponse = StandardTokenResponse<
    IdTokenFields<
        ExtraClaims,
        EmptyExtraTokenFields,
        CoreGenderClaim,
        CoreJweContentEncryptionAlgorithm,
        CoreJwsSigningAlgorithm,
    >,
    CoreTokenType,
>;

type OidcClient = Client<
    ExtraClaims,
    CoreAuthDisplay,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJsonWebKey,
    CoreAuthPrompt,
    StandardErrorResponse<CoreErrorResponseType>,
    PortalTokenResponse,
    CoreTokenIntrospectionResponse,
    CoreRevocableToken,
    CoreRevocationErrorResponse,
    EndpointSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointNotSet,
    EndpointMaybeSet,
    EndpointMaybeSet,
>;

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the sign-in provider is unavailable: {0}")]
    Provider(String),
    #[error("sign-in configuration: {0}")]
    Config(String),
    #[error("state_mismatch: the sign-in response did not match a sign-in started here")]
    StateMismatch,
    #[error("token_exchange: the sign-in provider refused the code: {0}")]
    Refused(String),
    #[error("{}: {detail}", refusal.code())]
    InvalidToken {
        refusal: TokenRefusal,
        detail: String,
    },
    #[error("userinfo: {0}")]
    UserInfo(String),
}

/// What a sign-in in progress keeps in the server-side session until the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    state: String,
    nonce: String,
    pkce_verifier: String,
    pub return_to: String,
}

/// What the role claim held.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RoleValues {
    Values(Vec<String>),
    /// Entra left the groups out (too many) and they could not be fetched.
    Overage,
}

/// The verified identity, from the ID token and, where it lacked them, userinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub issuer: String,
    pub sub: String,
    pub name: Option<String>,
    pub email: Option<String>,
    /// Only a verified address may grant a role (`roles.*.users`).
    pub email_verified: bool,
    pub role_values: RoleValues,
    /// The provider's session id (`sid`), for back-channel logout.
    pub sid: Option<String>,
    /// The raw ID token, kept server-side for `id_token_hint` at logout.
    pub id_token: String,
}

pub struct Oidc {
    http: OidcHttp,
    settings: ClientSettings,
    scopes: Vec<String>,
    role_claim: String,
    algs: Vec<CoreJwsSigningAlgorithm>,
    extra_auth_params: Vec<(String, String)>,
    response_mode: ResponseMode,
    overage_origins: Vec<String>,
    assertion_key: Option<assertion::AssertionKey>,
    post_logout_url: String,
    provider: ProviderCache,
}

impl Oidc {
    pub fn new(cfg: &OidcConfig, public_url: &str) -> Result<Self, AuthError> {
        let base = public_url.trim_end_matches('/');
        let algs = cfg
            .id_token_signing_algs
            .iter()
            .map(|a| {
                serde_json::from_value(Value::String(a.clone()))
                    .map_err(|_| AuthError::Config(format!("oidc.id_token_signing_algs: {a}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let assertion_key = match (&cfg.token_endpoint_auth, &cfg.private_key_file) {
            (TokenEndpointAuth::PrivateKeyJwt, Some(path)) => {
                let pem = assertion::load_key(path).map_err(AuthError::Config)?;
                Some(
                    assertion::AssertionKey::new(&pem, cfg.private_key_id.clone())
                        .map_err(AuthError::Config)?,
                )
            }
            (TokenEndpointAuth::PrivateKeyJwt, None) => {
                return Err(AuthError::Config("oidc.private_key_file is missing".into()));
            }
            _ => None,
        };
        Ok(Self {
            http: OidcHttp::new()?,
            settings: ClientSettings {
                issuer: cfg.issuer.clone(),
                client_id: cfg.client_id.clone(),
                client_secret: cfg.client_secret.clone(),
                redirect_url: format!("{base}/auth/callback"),
                auth: cfg.token_endpoint_auth,
            },
            scopes: cfg.scopes.clone(),
            role_claim: cfg.role_claim.clone(),
            algs,
            extra_auth_params: cfg
                .extra_auth_params
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            overage_origins: cfg.overage_origins.clone(),
            response_mode: cfg.response_mode,
            assertion_key,
            post_logout_url: format!("{base}/"),
            provider: ProviderCache::default(),
        })
    }

    pub fn issuer(&self) -> &str {
        &self.settings.issuer
    }

    async fn discovered(&self) -> Result<std::sync::Arc<Discovered>, AuthError> {
        self.provider.get(&self.http, &self.settings).await
    }

    /// Start a sign-in: the provider URL to send the browser to, and what to keep until the
    /// callback.
    pub async fn begin(&self, return_to: String) -> Result<(String, PendingLogin), AuthError> {
        let d = self.discovered().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut req = d.client.authorize_url(
            CoreAuthenticationFlow::AuthorizationCode,
            CsrfToken::new_random,
            Nonce::new_random,
        );
        // The crate always sends `openid`.
        for scope in self.scopes.iter().filter(|s| s.as_str() != "openid") {
            req = req.add_scope(Scope::new(scope.clone()));
        }
        for (k, v) in &self.extra_auth_params {
            req = req.add_extra_param(k.as_str(), v.as_str());
        }
        if self.response_mode == ResponseMode::FormPost {
            req = req.add_extra_param("response_mode", "form_post");
        }
        let (url, state, nonce) = req.set_pkce_challenge(challenge).url();
        Ok((
            url.to_string(),
            PendingLogin {
                state: state.secret().clone(),
                nonce: nonce.secret().clone(),
                pkce_verifier: verifier.secret().clone(),
                return_to,
            },
        ))
    }

    /// Finish a sign-in: check the state, redeem the code with the PKCE verifier, verify the ID
    /// token (allowed algorithm, signature, issuer, audience, expiry, nonce), then read the
    /// role claim.
    pub async fn complete(
        &self,
        pending: PendingLogin,
        code: &str,
        state: &str,
        now: i64,
    ) -> Result<Identity, AuthError> {
        use subtle::ConstantTimeEq;
        if !bool::from(pending.state.as_bytes().ct_eq(state.as_bytes())) {
            return Err(AuthError::StateMismatch);
        }
        let mut d = self.discovered().await?;
        let mut exchange = d
            .client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| AuthError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier));
        if let Some(key) = &self.assertion_key {
            let token_url = d
                .metadata
                .token_endpoint()
                .map(|u| u.as_str().to_string())
                .unwrap_or_default();
            let jwt = key
                .assertion(&self.settings.client_id, &token_url, now)
                .map_err(AuthError::Config)?;
            exchange = exchange
                .add_extra_param("client_assertion_type", assertion::ASSERTION_TYPE)
                .add_extra_param("client_assertion", jwt);
        }
        let token = exchange
            .request_async(&self.http)
            .await
            .map_err(|e| AuthError::Refused(crate::errors::error_chain(&e)))?;
        let id_token = token.id_token().ok_or(AuthError::InvalidToken {
            refusal: TokenRefusal::Missing,
            detail: "no ID token in the token response".into(),
        })?;
        let nonce = Nonce::new(pending.nonce);
        let verified = match self.verify(&d, id_token, &nonce) {
            Err(e) if TokenRefusal::of(&e) == TokenRefusal::UnknownKey => {
                match self
                    .provider
                    .refresh_for_unknown_key(&self.http, &self.settings)
                    .await?
                {
                    Some(fresh) => {
                        d = fresh;
                        self.verify(&d, id_token, &nonce)
                    }
                    None => Err(e),
                }
            }
            other => other,
        };
        let claims = verified.map_err(|e| AuthError::InvalidToken {
            refusal: TokenRefusal::of(&e),
            detail: e.to_string(),
        })?;
        let mut identity = Identity {
            issuer: self.settings.issuer.clone(),
            sub: claims.subject().to_string(),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string()),
            email: claims.email().map(|e| e.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            role_values: RoleValues::Values(Vec::new()),
            sid: claims
                .additional_claims()
                .rest
                .get("sid")
                .and_then(Value::as_str)
                .map(str::to_string),
            id_token: id_token.to_string(),
        };
        let mut role = claims::read(&claims.additional_claims().rest, &self.role_claim);
        if role == RoleClaim::Absent {
            role = self
                .read_userinfo(&d, token.access_token(), &mut identity)
                .await?;
        }
        identity.role_values = match role {
            RoleClaim::Values(v) => RoleValues::Values(v),
            RoleClaim::Absent => RoleValues::Values(Vec::new()),
            RoleClaim::Overage { endpoint } => self
                .resolve_overage(endpoint.as_deref(), token.access_token())
                .await
                .map_or(RoleValues::Overage, RoleValues::Values),
        };
        Ok(identity)
    }

    fn verify<'t>(
        &self,
        d: &Discovered,
        id_token: &'t PortalIdToken,
        nonce: &Nonce,
    ) -> Result<
        &'t openidconnect::IdTokenClaims<ExtraClaims, CoreGenderClaim>,
        ClaimsVerificationError,
    > {
        let verifier = d
            .client
            .id_token_verifier()
            .set_allowed_algs(self.algs.clone());
        id_token.claims(&verifier, nonce)
    }

    /// Where to send the browser after our session ended: the provider's end-session endpoint
    /// when it has one, with the ID token as `id_token_hint` (Okta requires it; Keycloak and
    /// others prompt without it), else our landing page. `state` brings the browser back to
    /// a landing page that says it is signed out (RP-Initiated Logout 1.0 §2: the provider
    /// passes it on to `post_logout_redirect_uri`).
    pub async fn logout_url(&self, id_token: Option<&str>) -> String {
        let here = format!("/?state={}", super::SIGNED_OUT_STATE);
        let Ok(d) = self.discovered().await else {
            return here;
        };
        let Some(end) = &d.end_session else {
            return here;
        };
        let mut req = LogoutRequest::from(end.clone())
            .set_client_id(ClientId::new(self.settings.client_id.clone()));
        if let Some(hint) = id_token.and_then(|t| PortalIdToken::from_str(t).ok()) {
            req = req.set_id_token_hint(&hint);
        }
        if let Ok(back) = PostLogoutRedirectUrl::new(self.post_logout_url.clone()) {
            req = req
                .set_post_logout_redirect_uri(back)
                .set_state(CsrfToken::new(super::SIGNED_OUT_STATE.to_string()));
        }
        req.http_get_url().to_string()
    }

    /// Check a back-channel `logout_token` (signature with the provider's keys, re-read once
    /// on an unknown key; claims per Back-Channel Logout 1.0 §2.6).
    pub async fn verify_logout_token(
        &self,
        token: &str,
        now: i64,
    ) -> Result<logout_token::LogoutClaims, (logout_token::LogoutRefusal, String)> {
        use logout_token::LogoutRefusal;
        let unavailable = |e: AuthError| (LogoutRefusal::UnknownKey, e.to_string());
        let d = self.discovered().await.map_err(unavailable)?;
        let secret = self
            .settings
            .client_secret
            .as_ref()
            .map(|s| s.expose_secret().as_bytes());
        let expect = logout_token::Expect {
            issuer: &self.settings.issuer,
            client_id: &self.settings.client_id,
            algs: &self.algs,
            hs_secret: secret,
            now,
        };
        match logout_token::verify(token, d.jwks(), &expect) {
            Err((LogoutRefusal::UnknownKey, detail)) => {
                match self
                    .provider
                    .refresh_for_unknown_key(&self.http, &self.settings)
                    .await
                    .map_err(unavailable)?
                {
                    Some(fresh) => logout_token::verify(token, fresh.jwks(), &expect),
                    None => Err((LogoutRefusal::UnknownKey, detail)),
                }
            }
            other => other,
        }
    }
}

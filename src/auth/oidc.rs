//! OIDC sign-in: authorization code with PKCE (S256), state and nonce (openidconnect crate).
//!
//! Discovery happens on first use and is cached; a provider that is down at startup does not
//! stop the portal, and the next sign-in retries. The HTTP client never follows redirects (the
//! openidconnect docs require it against SSRF).

use std::collections::HashMap;

use openidconnect::core::{
    CoreAuthDisplay, CoreAuthPrompt, CoreAuthenticationFlow, CoreErrorResponseType,
    CoreGenderClaim, CoreJsonWebKey, CoreJweContentEncryptionAlgorithm, CoreJwsSigningAlgorithm,
    CoreRevocableToken, CoreRevocationErrorResponse, CoreTokenIntrospectionResponse, CoreTokenType,
};
use openidconnect::{
    AdditionalClaims, AsyncHttpClient, AuthorizationCode, Client, ClientId, ClientSecret,
    CsrfToken, EmptyExtraTokenFields, EndSessionUrl, EndpointMaybeSet, EndpointNotSet, EndpointSet,
    HttpClientError, HttpRequest, HttpResponse, IdTokenFields, IssuerUrl, LogoutRequest, Nonce,
    PkceCodeChallenge, PkceCodeVerifier, PostLogoutRedirectUrl, ProviderMetadataWithLogout,
    RedirectUrl, Scope, StandardErrorResponse, StandardTokenResponse, TokenResponse,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use tokio::sync::OnceCell;

use crate::config::OidcConfig;

/// Every claim the standard set does not name, so the groups claim's name can be configured.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ExtraClaims {
    #[serde(flatten)]
    rest: HashMap<String, serde_json::Value>,
}
impl AdditionalClaims for ExtraClaims {}

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

/// oauth2 5 ships an adapter for reqwest 0.12 only; this is the same for the reqwest 0.13 the
/// rest of the stack uses (one TLS stack, one crypto provider).
#[derive(Clone)]
struct OidcHttp(reqwest::Client);

impl<'c> AsyncHttpClient<'c> for OidcHttp {
    type Error = HttpClientError<reqwest::Error>;
    type Future = std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<HttpResponse, Self::Error>> + Send + Sync + 'c>,
    >;
    fn call(&'c self, request: HttpRequest) -> Self::Future {
        Box::pin(async move {
            let resp = self
                .0
                .execute(request.try_into().map_err(Box::new)?)
                .await
                .map_err(Box::new)?;
            let mut b = openidconnect::http::Response::builder()
                .status(resp.status())
                .version(resp.version());
            for (k, v) in resp.headers() {
                b = b.header(k, v);
            }
            b.body(resp.bytes().await.map_err(Box::new)?.to_vec())
                .map_err(HttpClientError::Http)
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("the sign-in provider is unavailable: {0}")]
    Provider(String),
    #[error("sign-in configuration: {0}")]
    Config(String),
    #[error("the sign-in response did not match a sign-in started here (state mismatch or replay)")]
    StateMismatch,
    #[error("the sign-in provider refused: {0}")]
    Refused(String),
    #[error("the identity token was not valid: {0}")]
    InvalidToken(String),
}

/// What a sign-in in progress keeps in the server-side session until the callback.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingLogin {
    state: String,
    nonce: String,
    pkce_verifier: String,
    pub return_to: String,
}

/// The verified identity from the ID token.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct Identity {
    pub sub: String,
    pub name: Option<String>,
    pub email: Option<String>,
    pub groups: Vec<String>,
}

pub struct Oidc {
    http: OidcHttp,
    issuer: String,
    client_id: String,
    client_secret: Option<secrecy::SecretString>,
    redirect_url: String,
    post_logout_url: String,
    groups_claim: String,
    discovered: OnceCell<(OidcClient, Option<EndSessionUrl>)>,
}

impl Oidc {
    pub fn new(cfg: &OidcConfig, public_url: &str) -> Result<Self, AuthError> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(std::time::Duration::from_secs(10))
            .build()
            .map_err(|e| AuthError::Config(e.to_string()))?;
        let base = public_url.trim_end_matches('/');
        Ok(Self {
            http: OidcHttp(http),
            issuer: cfg.issuer.clone(),
            client_id: cfg.client_id.clone(),
            client_secret: cfg.client_secret.clone(),
            redirect_url: format!("{base}/auth/callback"),
            post_logout_url: format!("{base}/"),
            groups_claim: cfg.groups_claim.clone(),
            discovered: OnceCell::new(),
        })
    }

    async fn client(&self) -> Result<&(OidcClient, Option<EndSessionUrl>), AuthError> {
        self.discovered
            .get_or_try_init(|| async {
                let issuer = IssuerUrl::new(self.issuer.clone())
                    .map_err(|e| AuthError::Config(format!("oidc.issuer: {e}")))?;
                let md = ProviderMetadataWithLogout::discover_async(issuer, &self.http)
                    .await
                    .map_err(|e| AuthError::Provider(crate::errors::error_chain(&e)))?;
                let end_session = md.additional_metadata().end_session_endpoint.clone();
                let redirect = RedirectUrl::new(self.redirect_url.clone())
                    .map_err(|e| AuthError::Config(format!("public_url: {e}")))?;
                let client = Client::from_provider_metadata(
                    md,
                    ClientId::new(self.client_id.clone()),
                    self.client_secret
                        .as_ref()
                        .map(|s| ClientSecret::new(s.expose_secret().to_string())),
                )
                .set_redirect_uri(redirect);
                Ok((client, end_session))
            })
            .await
    }

    /// Start a sign-in: the provider URL to send the browser to, and what to keep until the
    /// callback.
    pub async fn begin(&self, return_to: String) -> Result<(String, PendingLogin), AuthError> {
        let (client, _) = self.client().await?;
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let (url, state, nonce) = client
            .authorize_url(
                CoreAuthenticationFlow::AuthorizationCode,
                CsrfToken::new_random,
                Nonce::new_random,
            )
            .add_scope(Scope::new("email".into()))
            .add_scope(Scope::new("profile".into()))
            .add_scope(Scope::new(self.groups_claim.clone()))
            .set_pkce_challenge(challenge)
            .url();
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
    /// token (signature, issuer, audience, expiry, nonce).
    pub async fn complete(
        &self,
        pending: PendingLogin,
        code: &str,
        state: &str,
    ) -> Result<Identity, AuthError> {
        if !constant_time_eq(pending.state.as_bytes(), state.as_bytes()) {
            return Err(AuthError::StateMismatch);
        }
        let (client, _) = self.client().await?;
        let token = client
            .exchange_code(AuthorizationCode::new(code.to_string()))
            .map_err(|e| AuthError::Config(e.to_string()))?
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|e| AuthError::Refused(crate::errors::error_chain(&e)))?;
        let id_token = token
            .id_token()
            .ok_or_else(|| AuthError::InvalidToken("no ID token in the response".into()))?;
        let claims = id_token
            .claims(&client.id_token_verifier(), &Nonce::new(pending.nonce))
            .map_err(|e| AuthError::InvalidToken(e.to_string()))?;
        let groups = match claims.additional_claims().rest.get(&self.groups_claim) {
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect(),
            Some(serde_json::Value::String(one)) => vec![one.clone()],
            _ => Vec::new(),
        };
        Ok(Identity {
            sub: claims.subject().to_string(),
            name: claims
                .name()
                .and_then(|n| n.get(None))
                .map(|n| n.to_string()),
            email: claims.email().map(|e| e.to_string()),
            groups,
        })
    }

    /// Where to send the browser after our session ended: the provider's end-session endpoint
    /// when it has one (with our client id, no token), else our landing page.
    pub async fn logout_url(&self) -> String {
        match self.client().await {
            Ok((_, Some(end))) => {
                let mut req = LogoutRequest::from(end.clone())
                    .set_client_id(ClientId::new(self.client_id.clone()));
                if let Ok(back) = PostLogoutRedirectUrl::new(self.post_logout_url.clone()) {
                    req = req.set_post_logout_redirect_uri(back);
                }
                req.http_get_url().to_string()
            }
            _ => "/".to_string(),
        }
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

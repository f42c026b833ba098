//! The provider's discovery document and signing keys, kept fresh.
//!
//! Providers roll their signing keys over (Entra, Okta, Google, AD FS yearly; Microsoft asks
//! relying parties to refresh at least hourly and on an unknown `kid`:
//! learn.microsoft.com/entra/identity-platform/signing-key-rollover). So discovery and the
//! JWKS are re-read when they are an hour old, and at once when a token names a key we do not
//! have, at most once per [`FORCED_REFRESH_GAP`] so that forged `kid`s cannot make the portal
//! hammer the provider. A provider that is down at startup does not stop the portal; one that
//! fails a routine refresh leaves the last good keys in use.

use std::sync::Arc;
use std::time::{Duration, Instant};

use openidconnect::core::CoreJsonWebKeySet;
use openidconnect::{Client, ClientId, ClientSecret, EndSessionUrl, IssuerUrl, RedirectUrl};
use openidconnect::{ProviderMetadataWithLogout, core::CoreJsonWebKey};
use secrecy::ExposeSecret;
use tokio::sync::Mutex;

use super::http::OidcHttp;
use super::{AuthError, OidcClient};
use crate::config::TokenEndpointAuth;

/// Routine refresh period.
const MAX_AGE: Duration = Duration::from_secs(3600);
/// The least time between two refreshes forced by an unknown key.
const FORCED_REFRESH_GAP: Duration = Duration::from_secs(10);

/// One reading of the provider.
pub(super) struct Discovered {
    pub client: OidcClient,
    pub end_session: Option<EndSessionUrl>,
    pub metadata: ProviderMetadataWithLogout,
    fetched_at: Instant,
}

impl Discovered {
    pub fn jwks(&self) -> &CoreJsonWebKeySet {
        self.metadata.jwks()
    }
}

/// What a reading needs from the configuration.
pub(super) struct ClientSettings {
    pub issuer: String,
    pub client_id: String,
    pub client_secret: Option<secrecy::SecretString>,
    pub redirect_url: String,
    pub auth: TokenEndpointAuth,
}

#[derive(Default)]
struct State {
    current: Option<Arc<Discovered>>,
    last_forced: Option<Instant>,
}

#[derive(Default)]
pub(super) struct ProviderCache {
    state: Mutex<State>,
}

impl ProviderCache {
    /// The current reading; re-read when missing or an hour old.
    pub async fn get(
        &self,
        http: &OidcHttp,
        settings: &ClientSettings,
    ) -> Result<Arc<Discovered>, AuthError> {
        let mut state = self.state.lock().await;
        if let Some(d) = &state.current
            && d.fetched_at.elapsed() < MAX_AGE
        {
            return Ok(d.clone());
        }
        match discover(http, settings).await {
            Ok(d) => {
                let d = Arc::new(d);
                state.current = Some(d.clone());
                Ok(d)
            }
            Err(e) => match &state.current {
                Some(old) => {
                    tracing::warn!(error = %e, "OIDC discovery refresh failed; keeping the last keys");
                    Ok(old.clone())
                }
                None => Err(e),
            },
        }
    }

    /// A fresh reading after a token named a key we do not have; `None` when one was taken
    /// moments ago (the caller then refuses the token).
    pub async fn refresh_for_unknown_key(
        &self,
        http: &OidcHttp,
        settings: &ClientSettings,
    ) -> Result<Option<Arc<Discovered>>, AuthError> {
        let mut state = self.state.lock().await;
        if state
            .last_forced
            .is_some_and(|t| t.elapsed() < FORCED_REFRESH_GAP)
        {
            return Ok(None);
        }
        state.last_forced = Some(Instant::now());
        let d = Arc::new(discover(http, settings).await?);
        tracing::info!("OIDC signing keys re-read after an unknown key id");
        state.current = Some(d.clone());
        Ok(Some(d))
    }
}

async fn discover(http: &OidcHttp, settings: &ClientSettings) -> Result<Discovered, AuthError> {
    let issuer = IssuerUrl::new(settings.issuer.clone())
        .map_err(|e| AuthError::Config(format!("oidc.issuer: {e}")))?;
    let metadata = ProviderMetadataWithLogout::discover_async(issuer, http)
        .await
        .map_err(|e| AuthError::Provider(crate::errors::error_chain(&e)))?;
    let end_session = metadata.additional_metadata().end_session_endpoint.clone();
    let redirect = RedirectUrl::new(settings.redirect_url.clone())
        .map_err(|e| AuthError::Config(format!("public_url: {e}")))?;
    let secret = match settings.auth {
        TokenEndpointAuth::PrivateKeyJwt => None,
        _ => settings
            .client_secret
            .as_ref()
            .map(|s| ClientSecret::new(s.expose_secret().to_string())),
    };
    let mut client = Client::from_provider_metadata(
        metadata.clone(),
        ClientId::new(settings.client_id.clone()),
        secret,
    )
    .set_redirect_uri(redirect);
    if settings.auth == TokenEndpointAuth::ClientSecretPost {
        client = client.set_auth_type(openidconnect::AuthType::RequestBody);
    }
    Ok(Discovered {
        client,
        end_session,
        metadata,
        fetched_at: Instant::now(),
    })
}

/// The key a compact JWS names, from `jwks`: by `kid` when it has one, else the only key.
pub(super) fn key_for<'a>(
    jwks: &'a CoreJsonWebKeySet,
    kid: Option<&str>,
) -> Option<&'a CoreJsonWebKey> {
    use openidconnect::JsonWebKey;
    let keys = jwks.keys();
    match kid {
        Some(kid) => keys
            .iter()
            .find(|k| k.key_id().is_some_and(|id| id.as_str() == kid)),
        None if keys.len() == 1 => keys.first(),
        None => None,
    }
}

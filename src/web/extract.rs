//! The extractors: who sent a request ([`RequestOrigin`]), who it acts for ([`CurrentStaff`]),
//! and a state-changing form that carries its session's CSRF token ([`Csrf`]).

use axum::body::Bytes;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use tower_sessions::Session;

use super::AppError;
use super::AppState;
use super::meta::origin_of;
use crate::audit::Origin;
use crate::auth::api_keys::KeyRefusal;
use crate::auth::{STAFF_KEY, Staff, safe_return_to};

/// Extractor: the audit's view of who sent the request (address through trusted proxies,
/// user agent, request id).
pub struct RequestOrigin(pub Origin);

impl FromRequestParts<AppState> for RequestOrigin {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        Ok(Self(origin_of(&parts.headers, &parts.extensions, state)))
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
    let now = crate::clock::now().unix_timestamp();
    (now - staff.signed_in_at < lifetime).then(|| staff.for_request(&state.config, &state.policy))
}

/// Extractor: the caller of a state-changing `/api/v1` route, by its API key
/// (`Authorization: Bearer tdk_…`) only. Such a route reads no cookie, so a page in another
/// tab cannot send it for the signed-in person: it needs no CSRF token. Without a key: 401.
pub struct ApiCaller(pub Staff);

impl FromRequestParts<AppState> for ApiCaller {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let key = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .ok_or(AppError::Unauthorized(KeyRefusal::Missing))?;
        let key = bearer(key);
        match state.api_keys.authenticate(key).await? {
            Ok(staff) => Ok(Self(staff.for_request(&state.config, &state.policy))),
            Err(refusal) => Err(AppError::Unauthorized(refusal)),
        }
    }
}

/// The key of an `Authorization: Bearer <key>` header (empty when it is not one).
fn bearer(value: &axum::http::HeaderValue) -> &str {
    value
        .to_str()
        .ok()
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(str::trim)
        .unwrap_or_default()
}

impl FromRequestParts<AppState> for CurrentStaff {
    type Rejection = AppError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        if parts
            .headers
            .contains_key(axum::http::header::AUTHORIZATION)
        {
            let ApiCaller(staff) = ApiCaller::from_request_parts(parts, state).await?;
            return Ok(Self(staff));
        }
        let session = Session::from_request_parts(parts, state)
            .await
            .map_err(|(_, msg)| AppError::internal(format!("session layer missing: {msg}")))?;
        let staff: Option<Staff> = session
            .get(STAFF_KEY)
            .await
            .map_err(|e| AppError::Unavailable(format!("session store: {e}")))?;
        let limits = &state.config.session;
        let lifetime = i64::try_from(limits.absolute_lifetime_secs).unwrap_or(i64::MAX);
        let idle = i64::try_from(limits.idle_timeout_secs).unwrap_or(i64::MAX);
        let now = crate::clock::now().unix_timestamp();
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
                Ok(Self(staff.for_request(&state.config, &state.policy)))
            }
            Some(_) => {
                // Past its absolute lifetime: end it, however busy it was.
                session
                    .flush()
                    .await
                    .map_err(|e| AppError::Unavailable(format!("session store: {e}")))?;
                Err(sign_in(parts))
            }
            None => Err(sign_in(parts)),
        }
    }
}

/// Sign in first, then come back to this request's path (when it is one of ours).
fn sign_in(parts: &Parts) -> AppError {
    let target = parts.uri.path_and_query().map(|p| p.as_str());
    AppError::SignIn(safe_return_to(target))
}

/// Extractor: a state-changing form from the signed-in person, with its CSRF token checked
/// (in constant time) before the handler runs: `Csrf(staff, form): Csrf<ResetForm>`. A form
/// without the token, or with another session's, is refused with 403 and changes nothing.
pub struct Csrf<T>(pub Staff, pub T);

/// A form with nothing but its CSRF token (a button).
#[derive(Deserialize)]
pub struct NoFields {}

/// The one field every state-changing form carries.
#[derive(Deserialize)]
struct CsrfField {
    #[serde(default)]
    csrf: String,
}

impl<T: DeserializeOwned + Send> FromRequest<AppState> for Csrf<T> {
    type Rejection = AppError;

    async fn from_request(req: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let (mut parts, body) = req.into_parts();
        let CurrentStaff(staff) = CurrentStaff::from_request_parts(&mut parts, state).await?;
        let is_form = parts
            .headers
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
        if !is_form {
            return Err(AppError::BadRequest("Expected a form.".into()));
        }
        let req = Request::from_parts(parts, body);
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(|e| AppError::BadRequest(e.body_text()))?;
        // The token first: a forged form learns nothing about which fields it lacks.
        let CsrfField { csrf } = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| AppError::BadRequest(format!("This form is not readable: {e}")))?;
        staff.check_csrf(&csrf)?;
        let form = serde_urlencoded::from_bytes(&bytes)
            .map_err(|e| AppError::BadRequest(format!("This form is not complete: {e}")))?;
        Ok(Self(staff, form))
    }
}

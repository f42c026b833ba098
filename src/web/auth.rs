//! Sign-in, callback, sign-out, back-channel logout and the no-access page.

use askama::Template;
use askama_web::WebTemplate;

use axum::Form;
use axum::extract::rejection::FormRejection;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use time::OffsetDateTime;
use tower_sessions::Session;

use super::AppError;
use super::AppState;
use super::extract::RequestOrigin;
use super::extract::{Csrf, NoFields};
use super::limits;
use super::pending_login;
use crate::audit::{self, Actor, Origin};
use crate::auth::oidc::{AuthError, Identity, PendingLogin, RoleValues};
use crate::auth::sessions::stored_id;
use crate::auth::{RoleRequest, STAFF_KEY, Staff, random_token, roles_for, safe_return_to};
use crate::db::{LoginRow, LoginsOf};
use crate::limits::ClientKey;

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

fn session_err(e: tower_sessions::session::Error) -> AppError {
    AppError::Unavailable(format!("session store: {e}"))
}

/// At most `max` characters, control characters as spaces: provider text shown and audited.
fn bounded(text: &str, max: usize) -> String {
    text.chars()
        .take(max)
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

/// Whether cookies get the Secure flag.
fn secure(state: &AppState) -> bool {
    state.config.public_url.starts_with("https://")
}

/// `GET /login?next=/path`: start the OIDC flow. The sign-in in progress goes to the browser
/// (`pending_login.rs`): an anonymous hit writes no session row.
pub async fn login(
    State(state): State<AppState>,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let return_to = safe_return_to(q.next.as_deref());
    let (url, pending) = state
        .oidc
        .begin(return_to)
        .await
        .map_err(|e| AppError::Unavailable(e.to_string()))?;
    let cookie = pending_login::start(pending, crate::clock::now(), secure(&state))?;
    Ok(([(header::SET_COOKIE, cookie)], Redirect::to(&url)).into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "callback_form_post.html")]
pub struct FormPostBounce {
    pub(super) fields: Vec<(&'static str, String)>,
}

/// `POST /auth/callback` (`response_mode = form_post`): the provider's page posts the answer
/// cross-site, so the browser leaves out our SameSite=Lax session cookie. This page hands the
/// same fields on, from our own origin, to the GET callback, which has the cookie and checks
/// the state. It changes nothing itself.
pub async fn callback_form_post(
    form: Result<Form<CallbackQuery>, FormRejection>,
) -> Result<Response, AppError> {
    let Ok(Form(q)) = form else {
        return Err(AppError::BadRequest(
            "This sign-in answer could not be read. Start again from the sign-in link.".into(),
        ));
    };
    let fields = [
        ("code", q.code),
        ("state", q.state),
        ("error", q.error),
        ("error_description", q.error_description),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k, bounded(&v, 2048))))
    .collect();
    Ok((
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        FormPostBounce { fields },
    )
        .into_response())
}

#[derive(Template, WebTemplate)]
#[template(path = "no_access.html")]
pub struct NoAccessPage {
    pub(super) name: String,
    pub(super) overage: bool,
    /// The provider's end-session URL: signing out there is how to come back as someone else.
    pub(super) switch: String,
}

#[derive(Template, WebTemplate)]
#[template(path = "signin_refused.html")]
pub struct SignInRefusedPage {
    pub(super) summary: String,
    pub(super) provider_error: Option<String>,
    pub(super) provider_description: Option<String>,
    pub(super) when: String,
}

impl SignInRefusedPage {
    fn invalid_response() -> Self {
        Self {
            summary: "This sign-in response is not valid here (expired, replayed, forged, or \
                      signed in a way trustdesk does not accept). Start again from the sign-in \
                      link; if it keeps failing, tell your trustdesk administrator."
                .into(),
            provider_error: None,
            provider_description: None,
            when: String::new(),
        }
    }
}

/// A failed callback: anyone can send one, so it is counted per client and audited only at
/// the 1st, 10th, 100th … of its window (`limits.rs`), never one row each.
async fn failed_callback(state: &AppState, origin: &Origin, why: &str) {
    let ip = origin.source_ip.as_deref().and_then(|ip| ip.parse().ok());
    let c = state
        .limits
        .callback_failures
        .count(ClientKey::of(ip), std::time::Instant::now());
    let why = bounded(why, 400);
    let what = (why.as_str(), "failed sign-in callback(s)");
    limits::audit_count(state, origin, audit::Action::SignIn, what, c).await;
}

/// `GET /auth/callback`: finish the flow, map the role claim to roles, rotate the session.
/// The sign-in in progress is cleared from the browser whatever happens, so a replayed
/// callback finds nothing.
pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> Response {
    let now = crate::clock::now();
    let pending = pending_login::read(&headers, now);
    let mut res = finish(&state, &session, &origin, pending, q, now)
        .await
        .unwrap_or_else(IntoResponse::into_response);
    if headers.contains_key(header::COOKIE) {
        res.headers_mut()
            .append(header::SET_COOKIE, pending_login::clear(secure(&state)));
    }
    res
}

async fn finish(
    state: &AppState,
    session: &Session,
    origin: &Origin,
    pending: Option<PendingLogin>,
    q: CallbackQuery,
    now: OffsetDateTime,
) -> Result<Response, AppError> {
    let denied = |reason: &str| {
        audit::event(
            audit::Action::SignIn,
            audit::Outcome::Denied,
            crate::clock::now(),
        )
        .origin(origin)
        .reason(reason)
    };
    if let Some(error) = q.error {
        // The provider refused (OAuth 2.0 §4.1.2.1): say what it said, without control
        // characters and bounded.
        let error = bounded(&error, 64);
        let description = q.error_description.map(|d| bounded(&d, 400));
        let reason = format!(
            "provider_error: {error}{}",
            description
                .as_deref()
                .map(|d| format!(": {d}"))
                .unwrap_or_default()
        );
        failed_callback(state, origin, &reason).await;
        let page = SignInRefusedPage {
            summary: "Your sign-in provider refused to sign you in to trustdesk.".into(),
            provider_error: Some(error),
            provider_description: description,
            when: now
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        };
        return Ok((StatusCode::BAD_REQUEST, page).into_response());
    }
    let (Some(pending), Some(code), Some(st)) = (pending, q.code, q.state) else {
        failed_callback(
            state,
            origin,
            "no_pending_login: callback without a sign-in in progress (replay, expiry or forgery)",
        )
        .await;
        return Err(AppError::BadRequest(
            "No sign-in is in progress in this browser, or it was already completed. Start again from the sign-in link.".into(),
        ));
    };
    let identity = match state
        .oidc
        .complete(pending.clone(), &code, &st, now.unix_timestamp())
        .await
    {
        Ok(identity) => identity,
        Err(e) => {
            failed_callback(state, origin, &e.to_string()).await;
            return match e {
                AuthError::Provider(_) | AuthError::Config(_) | AuthError::UserInfo(_) => {
                    Err(AppError::Unavailable(e.to_string()))
                }
                _ => Ok((
                    StatusCode::BAD_REQUEST,
                    SignInRefusedPage::invalid_response(),
                )
                    .into_response()),
            };
        }
    };
    let values = match &identity.role_values {
        RoleValues::Values(v) => v.as_slice(),
        RoleValues::Overage => &[],
    };
    let roles = roles_for(
        &RoleRequest {
            values,
            sub: &identity.sub,
            verified_email: identity
                .email
                .as_deref()
                .filter(|_| identity.email_verified),
        },
        &state.config.roles,
        state.config.oidc.role_values,
    );
    let who = Actor {
        sub: identity.sub.clone(),
        name: identity.name.clone(),
        email: identity.email.clone(),
        roles: roles.clone(),
    };
    if roles.is_empty() {
        let overage = identity.role_values == RoleValues::Overage;
        let reason = if overage {
            "group_overage: the provider sent no groups (too many); use app roles, group \
             filtering or oidc.overage_origins"
        } else {
            "no_role: no trustdesk role for this user's role-claim values"
        };
        audit::record(&state.store, &denied(reason).actor(&who)).await?;
        session.flush().await.map_err(session_err)?;
        let switch = state.oidc.logout_url(Some(&identity.id_token)).await;
        let page = NoAccessPage {
            name: identity.name.unwrap_or(identity.sub),
            overage,
            switch,
        };
        return Ok((StatusCode::FORBIDDEN, page).into_response());
    }
    let inputs = crate::auth::RoleInputs {
        values: values.to_vec(),
        verified_email: identity.email.clone().filter(|_| identity.email_verified),
    };
    start_session(state, session, identity, roles, inputs, now).await?;
    audit::record(
        &state.store,
        &audit::event(
            audit::Action::SignIn,
            audit::Outcome::Success,
            crate::clock::now(),
        )
        .actor(&who)
        .origin(origin),
    )
    .await?;
    Ok(Redirect::to(&pending.return_to).into_response())
}

/// A new session id at privilege change (a fixated id is worthless), the staff record in it,
/// and the login remembered by person and provider session for back-channel logout.
async fn start_session(
    state: &AppState,
    session: &Session,
    identity: Identity,
    roles: Vec<String>,
    role_inputs: crate::auth::RoleInputs,
    now: OffsetDateTime,
) -> Result<(), AppError> {
    session.cycle_id().await.map_err(session_err)?;
    let lifetime = i64::try_from(state.config.session.absolute_lifetime_secs).unwrap_or(i64::MAX);
    let staff = Staff {
        sub: identity.sub.clone(),
        name: identity.name.clone(),
        email: identity.email,
        roles,
        csrf: random_token().map_err(|e| AppError::Internal(e.into()))?,
        signed_in_at: now.unix_timestamp(),
        touched_at: now.unix_timestamp(),
        id_token: Some(identity.id_token),
        role_inputs: Some(role_inputs),
        can_lookup: false,
        can_approve: false,
    };
    session
        .insert(STAFF_KEY, &staff)
        .await
        .map_err(session_err)?;
    // Saved now, not at the end of the request, so that its id is known.
    session.save().await.map_err(session_err)?;
    let session_id = session
        .id()
        .ok_or_else(|| AppError::internal("the new session has no id"))?;
    state
        .store
        .add_login(&LoginRow {
            session_id: stored_id(&session_id).to_string(),
            issuer: identity.issuer,
            sub: identity.sub,
            sid: identity.sid,
            name: identity.name,
            signed_in_at: now,
            expires_at: now.saturating_add(time::Duration::seconds(lifetime)),
        })
        .await?;
    Ok(())
}

/// `POST /logout`: end our session, then the provider's (with `id_token_hint`).
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    Csrf(staff, NoFields {}): Csrf<NoFields>,
) -> Result<Response, AppError> {
    audit::record(
        &state.store,
        &audit::event(
            audit::Action::SignOut,
            audit::Outcome::Success,
            crate::clock::now(),
        )
        .actor(&staff.actor())
        .origin(&origin),
    )
    .await?;
    if let Some(id) = session.id() {
        state
            .store
            .remove_login(&stored_id(&id).to_string())
            .await?;
    }
    session.flush().await.map_err(session_err)?;
    let to = state.oidc.logout_url(staff.id_token.as_deref()).await;
    Ok(Redirect::to(&to).into_response())
}

#[derive(Deserialize)]
pub struct LogoutTokenForm {
    logout_token: Option<String>,
}

/// The longest logout token read.
const MAX_LOGOUT_TOKEN: usize = 16 * 1024;

/// `POST /auth/backchannel-logout` (OIDC Back-Channel Logout 1.0 §2.5, §2.8): the provider
/// says a session ended there. The token is checked, used once, and every trustdesk session
/// of that provider session (`sid`), or else of that person (`sub`), ends at once.
pub async fn backchannel_logout(
    State(state): State<AppState>,
    RequestOrigin(origin): RequestOrigin,
    form: Result<Form<LogoutTokenForm>, FormRejection>,
) -> Result<Response, AppError> {
    let now = crate::clock::now();
    let token = form.ok().and_then(|Form(f)| f.logout_token);
    let refuse = |code: &str, detail: &str| {
        audit::event(
            audit::Action::SignOut,
            audit::Outcome::Denied,
            crate::clock::now(),
        )
        .origin(&origin)
        .reason(bounded(&format!("backchannel {code}: {detail}"), 400))
    };
    let token = match token {
        Some(t) if !t.is_empty() && t.len() <= MAX_LOGOUT_TOKEN => t,
        _ => {
            audit::record(
                &state.store,
                &refuse("logout_token.missing", "no logout_token"),
            )
            .await?;
            return Ok(logout_answer(StatusCode::BAD_REQUEST, "no logout_token"));
        }
    };
    let claims = match state
        .oidc
        .verify_logout_token(&token, now.unix_timestamp())
        .await
    {
        Ok(c) => c,
        Err((refusal, detail)) => {
            audit::record(&state.store, &refuse(refusal.code(), &detail)).await?;
            return Ok(logout_answer(StatusCode::BAD_REQUEST, refusal.code()));
        }
    };
    let until = OffsetDateTime::from_unix_timestamp(claims.remember_until).unwrap_or(now);
    if !state.store.remember_logout_jti(&claims.jti, until).await? {
        let code = crate::auth::oidc::logout_token::LogoutRefusal::Replayed.code();
        audit::record(&state.store, &refuse(code, "this jti was already used")).await?;
        return Ok(logout_answer(StatusCode::BAD_REQUEST, code));
    }
    let issuer = state.oidc.issuer();
    let of = match (&claims.sid, &claims.sub) {
        (Some(sid), _) => LoginsOf::IssuerSid(issuer, sid),
        (None, Some(sub)) => LoginsOf::IssuerSubject(issuer, sub),
        (None, None) => LoginsOf::IssuerSid(issuer, ""),
    };
    let ended = state.sessions.end_logins(&state.store, of, now).await?;
    // A request of one of these sessions that was in flight saves its record as it ends;
    // delete again once every such request is over (they are bounded by the request timeout).
    let ids: Vec<String> = ended.iter().map(|l| l.session_id.clone()).collect();
    if !ids.is_empty() {
        let sessions = state.sessions.clone();
        tokio::spawn(async move {
            tokio::time::sleep(super::layers::REQUEST_TIMEOUT + std::time::Duration::from_secs(1))
                .await;
            if let Err(e) = sessions.delete_ids(&ids).await {
                tracing::warn!(error = %e, "back-channel logout: second delete failed");
            }
        });
    }
    let who = Actor {
        sub: claims
            .sub
            .clone()
            .or_else(|| ended.first().map(|l| l.sub.clone()))
            .unwrap_or_default(),
        name: ended.first().and_then(|l| l.name.clone()),
        email: None,
        roles: Vec::new(),
    };
    audit::record(
        &state.store,
        &audit::event(
            audit::Action::SignOut,
            audit::Outcome::Success,
            crate::clock::now(),
        )
        .actor(&who)
        .origin(&origin)
        .reason(format!(
            "backchannel_logout: {} session(s) ended",
            ended.len()
        )),
    )
    .await?;
    Ok(logout_answer(StatusCode::OK, ""))
}

/// The back-channel answer: no caching (§2.8), a JSON error body when refused.
fn logout_answer(status: StatusCode, error_description: &str) -> Response {
    let headers = [(axum::http::header::CACHE_CONTROL, "no-store")];
    if status.is_success() {
        (status, headers).into_response()
    } else {
        (
            status,
            headers,
            axum::Json(serde_json::json!({
                "error": "invalid_request",
                "error_description": error_description,
            })),
        )
            .into_response()
    }
}

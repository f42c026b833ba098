//! Sign-in, callback, sign-out and the no-access page.

use askama::Template;
use askama_web::WebTemplate;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use serde::Deserialize;
use tower_sessions::Session;

use super::AppError;
use super::meta::{RequestOrigin, actor};
use crate::audit::{self, Actor};
use crate::auth::oidc::{AuthError, PendingLogin};
use crate::auth::{
    CurrentStaff, PENDING_KEY, STAFF_KEY, Staff, random_token, roles_for, safe_return_to,
};
use crate::state::AppState;

#[derive(Deserialize)]
pub struct LoginQuery {
    next: Option<String>,
}

fn session_err(e: tower_sessions::session::Error) -> AppError {
    AppError::Unavailable(format!("session store: {e}"))
}

fn auth_err(e: AuthError) -> AppError {
    match e {
        AuthError::Provider(_) | AuthError::Config(_) => AppError::Unavailable(e.to_string()),
        AuthError::StateMismatch | AuthError::Refused(_) | AuthError::InvalidToken(_) => {
            AppError::BadRequest("Sign-in failed: this sign-in response is not valid here (expired, replayed or forged). Start again from the sign-in link.".into())
        }
    }
}

/// `GET /login?next=/path`: start the OIDC flow.
pub async fn login(
    State(state): State<AppState>,
    session: Session,
    Query(q): Query<LoginQuery>,
) -> Result<Response, AppError> {
    let return_to = safe_return_to(q.next.as_deref());
    let (url, pending) = state.oidc.begin(return_to).await.map_err(auth_err)?;
    session
        .insert(PENDING_KEY, &pending)
        .await
        .map_err(session_err)?;
    Ok(Redirect::to(&url).into_response())
}

#[derive(Deserialize)]
pub struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
}

#[derive(Template, WebTemplate)]
#[template(path = "no_access.html")]
pub struct NoAccessPage {
    name: String,
}

/// `GET /auth/callback`: finish the flow, map groups to roles, rotate the session.
pub async fn callback(
    State(state): State<AppState>,
    session: Session,
    RequestOrigin(origin): RequestOrigin,
    Query(q): Query<CallbackQuery>,
) -> Result<Response, AppError> {
    // Taking the pending login out first makes a replayed callback find nothing.
    let pending: Option<PendingLogin> = session.remove(PENDING_KEY).await.map_err(session_err)?;
    let denied = |reason: &str| {
        audit::event("sign_in", "denied")
            .origin(&origin)
            .reason(reason)
    };
    let (Some(pending), Some(code), Some(st)) = (pending, q.code, q.state) else {
        let reason = match q.error {
            Some(e) => format!(
                "provider returned an error: {}",
                e.chars().take(64).collect::<String>()
            ),
            None => "callback without a sign-in in progress (replay, expiry or forgery)".into(),
        };
        audit::record(&state.store, &denied(&reason)).await?;
        return Err(AppError::BadRequest(
            "No sign-in is in progress in this browser, or it was already completed. Start again from the sign-in link.".into(),
        ));
    };
    let identity = match state.oidc.complete(pending.clone(), &code, &st).await {
        Ok(identity) => identity,
        Err(e) => {
            audit::record(&state.store, &denied(&e.to_string())).await?;
            return Err(auth_err(e));
        }
    };
    let roles = roles_for(&identity.groups, &state.config.roles);
    let who = Actor {
        sub: identity.sub.clone(),
        name: identity.name.clone(),
        email: identity.email.clone(),
        roles: roles.clone(),
    };
    if roles.is_empty() {
        audit::record(
            &state.store,
            &denied("no trustdesk role for this user's groups").actor(&who),
        )
        .await?;
        session.flush().await.map_err(session_err)?;
        let page = NoAccessPage {
            name: identity.name.unwrap_or(identity.sub),
        };
        return Ok((axum::http::StatusCode::FORBIDDEN, page).into_response());
    }
    // New session id at privilege change: a fixated id is worthless.
    session.cycle_id().await.map_err(session_err)?;
    let staff = Staff {
        sub: identity.sub,
        name: identity.name,
        email: identity.email,
        roles,
        csrf: random_token()?,
    };
    session
        .insert(STAFF_KEY, &staff)
        .await
        .map_err(session_err)?;
    audit::record(
        &state.store,
        &audit::event("sign_in", "success")
            .actor(&who)
            .origin(&origin),
    )
    .await?;
    Ok(Redirect::to(&pending.return_to).into_response())
}

#[derive(Deserialize)]
pub struct CsrfForm {
    csrf: String,
}

/// `POST /logout`: end our session, then the provider's.
pub async fn logout(
    State(state): State<AppState>,
    session: Session,
    CurrentStaff(staff): CurrentStaff,
    RequestOrigin(origin): RequestOrigin,
    Form(form): Form<CsrfForm>,
) -> Result<Response, AppError> {
    staff.check_csrf(&form.csrf)?;
    audit::record(
        &state.store,
        &audit::event("sign_out", "success")
            .actor(&actor(&staff))
            .origin(&origin),
    )
    .await?;
    session.flush().await.map_err(session_err)?;
    Ok(Redirect::to(&state.oidc.logout_url().await).into_response())
}

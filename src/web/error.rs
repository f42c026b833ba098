//! `AppError`: the web layer's one error type. Handlers return it with `?`; the
//! [`render_errors`] middleware turns it into a page (or JSON under `/api/`) that shows the
//! request id and nothing internal. Details are logged once, inside the request span.

use askama::Template;
use axum::extract::Request;
use axum::http::{HeaderMap, StatusCode};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::auth::api_keys::KeyRefusal;

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("not found")]
    NotFound,
    /// Not signed in: pages redirect to sign-in (then back to this path), the API answers 401.
    #[error("sign-in required")]
    SignIn(String),
    #[error("{0}")]
    BadRequest(String),
    /// A credential was presented and is not valid (API keys).
    #[error("unauthorized: {0:?}")]
    Unauthorized(KeyRefusal),
    #[error("forbidden: {0}")]
    Forbidden(String),
    #[error("rate limited: {0}")]
    TooMany(String),
    /// The request clashes with what is already happening (a scan already running).
    #[error("conflict: {0}")]
    Conflict(String),
    #[error("service unavailable: {0}")]
    Unavailable(String),
    /// Ours: logged with its whole chain of causes, never shown.
    #[error("internal error")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl AppError {
    /// An internal error from a message of ours (no underlying error to keep).
    pub fn internal(message: impl Into<String>) -> Self {
        Self::Internal(message.into().into())
    }
}

impl AppError {
    fn status(&self) -> StatusCode {
        match self {
            Self::NotFound => StatusCode::NOT_FOUND,
            Self::SignIn(_) => StatusCode::UNAUTHORIZED,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::TooMany(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// What the user may read: their own input problems in full, internals never.
    pub(super) fn public_message(&self) -> String {
        match self {
            Self::NotFound => "Nothing here.".into(),
            Self::SignIn(_) => "Sign in first.".into(),
            Self::BadRequest(m) | Self::Forbidden(m) | Self::TooMany(m) | Self::Conflict(m) => {
                m.clone()
            }
            Self::Unauthorized(KeyRefusal::Invalid) => "That API key is not valid.".into(),
            Self::Unauthorized(KeyRefusal::Missing) => {
                "This route takes an API key: send Authorization: Bearer tdk_…. People use the pages."
                    .into()
            }
            Self::Unauthorized(KeyRefusal::Expired(at)) => format!(
                "That API key expired at {}. Ask an administrator for a new one.",
                at.replace_nanosecond(0)
                    .unwrap_or(*at)
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap_or_else(|_| at.to_string())
            ),
            Self::Unavailable(_) => {
                "A service trustdesk depends on is unavailable. Try again shortly.".into()
            }
            Self::Internal(_) => "Something went wrong on our side.".into(),
        }
    }
}

impl From<crate::db::StoreError> for AppError {
    fn from(e: crate::db::StoreError) -> Self {
        match e {
            crate::db::StoreError::Unavailable(m) => Self::Unavailable(m.to_string()),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::directory::DirectoryError> for AppError {
    fn from(e: crate::directory::DirectoryError) -> Self {
        use crate::directory::DirectoryError as D;
        match e {
            // Which computer is meant is the caller's to say, not a DC's failure.
            D::Ambiguous(_) => Self::Conflict(e.to_string()),
            D::Unmanaged(_) => Self::BadRequest(e.to_string()),
            _ => Self::Unavailable(e.to_string()),
        }
    }
}

impl From<crate::auth::CsrfMismatch> for AppError {
    fn from(e: crate::auth::CsrfMismatch) -> Self {
        Self::Forbidden(e.to_string())
    }
}

impl From<crate::auth::CredentialError> for AppError {
    fn from(e: crate::auth::CredentialError) -> Self {
        match e {
            crate::auth::CredentialError::Store(e) => e.into(),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::repair::RepairError> for AppError {
    fn from(e: crate::repair::RepairError) -> Self {
        match e {
            crate::repair::RepairError::Directory(d) => Self::Unavailable(d.to_string()),
            other => Self::Internal(other.into()),
        }
    }
}

impl From<crate::lookup::LookupError> for AppError {
    fn from(e: crate::lookup::LookupError) -> Self {
        match e {
            crate::lookup::LookupError::Directory(e) => e.into(),
            crate::lookup::LookupError::Audit(e) => e.into(),
        }
    }
}

/// Where an error page finds who is signed in: the request's session and the state, put in
/// the request's extensions by [`nav_source`] (inside the session layer, outside
/// [`render_errors`]).
#[derive(Clone)]
pub struct NavSource {
    session: tower_sessions::Session,
    state: super::AppState,
}

/// Hands [`render_errors`] the session and state, so an error page keeps the navigation.
pub async fn nav_source(
    axum::extract::State(state): axum::extract::State<super::AppState>,
    mut req: Request,
    next: Next,
) -> Response {
    // Only pages show the navigation: the API's errors are JSON, static files have none.
    let path = req.uri().path();
    let page = !path.starts_with("/api/") && !path.starts_with("/static/");
    if let Some(session) = req
        .extensions()
        .get::<tower_sessions::Session>()
        .filter(|_| page)
        .cloned()
    {
        req.extensions_mut().insert(NavSource { session, state });
    }
    next.run(req).await
}

/// Carried from [`AppError::SignIn`] to [`render_errors`], which knows whether it is a page.
#[derive(Clone)]
struct SignInRedirect(String);

/// A refusal of the companion client's API, in its stable codes (`RedeemCode`): carried to
/// [`render_errors`], which answers it in the API's one error shape, with the request id.
#[derive(Clone)]
pub struct ApiRefusal {
    code: &'static str,
    message: String,
}

impl ApiRefusal {
    pub fn response(status: StatusCode, code: &'static str, message: String) -> Response {
        let mut res = status.into_response();
        res.extensions_mut().insert(ApiRefusal { code, message });
        res
    }
}

/// The API's one error shape, for every `/api/v1` refusal and failure: a problem document
/// (RFC 9457, `application/problem+json`) with trustdesk's own members beside the standard
/// ones.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[schema(as = Error)]
pub struct ErrorBody<'a> {
    /// `about:blank` when the status says it all; `urn:trustdesk:problem:<error>` for a refusal
    /// with a stable code of its own (the companion client's).
    #[serde(rename = "type")]
    pub problem_type: String,
    /// The HTTP status's reason phrase.
    pub title: &'a str,
    pub status: u16,
    /// What went wrong, in words for the person reading it; nothing internal.
    pub detail: &'a str,
    /// A stable code (the companion client's refusals: `malformed`, `already_used`, …) or the
    /// HTTP reason.
    pub error: &'a str,
    /// The same as `detail` (the member the companion client and earlier integrations read).
    pub message: &'a str,
    /// The request's id, as in the `X-Request-Id` header and the portal's log.
    pub request_id: &'a str,
}

/// An [`ErrorBody`] under `status`: with `code`, a problem of that type; without, the status's.
fn api_error(status: StatusCode, code: Option<&str>, message: &str, request_id: &str) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let mut out = axum::Json(ErrorBody {
        problem_type: code.map_or_else(
            || "about:blank".to_string(),
            |c| format!("urn:trustdesk:problem:{c}"),
        ),
        title,
        status: status.as_u16(),
        detail: message,
        error: code.unwrap_or(title),
        message,
        request_id,
    })
    .into_response();
    *out.status_mut() = status;
    out.headers_mut().insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/problem+json"),
    );
    out
}

/// Carried in the response extensions from the handler to [`render_errors`].
#[derive(Clone)]
struct ErrorMarker {
    status: StatusCode,
    message: String,
}

impl IntoResponse for AppError {
    fn into_response(self) -> Response {
        let status = self.status();
        if let Self::SignIn(return_to) = &self {
            let mut res = status.into_response();
            res.extensions_mut()
                .insert(SignInRedirect(return_to.clone()));
            return res;
        }
        if status.is_server_error() {
            let chain = crate::errors::error_chain(&self);
            tracing::error!(error = %chain, "request failed");
        } else {
            tracing::info!(error = %self, "request refused");
        }
        let mut res = status.into_response();
        res.extensions_mut().insert(ErrorMarker {
            status,
            message: self.public_message(),
        });
        res
    }
}

/// What a panic anywhere below the error pages becomes: a 500 that [`render_errors`] turns into
/// the usual page (or JSON) with the request id. The panic's text is logged, never shown.
pub fn panic_response(panic: Box<dyn std::any::Any + Send + 'static>) -> Response {
    let text = panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
        .unwrap_or("(no message)");
    AppError::internal(format!("a request handler panicked: {text}")).into_response()
}

#[derive(Template)]
#[template(path = "error.html")]
pub(super) struct ErrorPage<'a> {
    /// Whoever is signed in, for the navigation (sign out, the search box).
    pub(super) staff: Option<crate::auth::Staff>,
    pub(super) status: u16,
    pub(super) title: &'a str,
    pub(super) message: &'a str,
    pub(super) request_id: &'a str,
}

fn is_plain_text(res: &Response) -> bool {
    res.headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/plain"))
}

fn request_id(headers: &HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("-")
        .to_string()
}

/// Render every `AppError` (and bare 404s) as a page, or as JSON for `/api/` paths.
pub async fn render_errors(req: Request, next: Next) -> Response {
    let rid = request_id(req.headers());
    let is_api = req.uri().path().starts_with("/api/");
    let nav = req.extensions().get::<NavSource>().cloned();
    let res = next.run(req).await;
    if let Some(SignInRedirect(return_to)) = res.extensions().get::<SignInRedirect>() {
        if !is_api {
            let query = url::form_urlencoded::Serializer::new(String::new())
                .append_pair("next", return_to)
                .finish();
            return Redirect::to(&format!("/login?{query}")).into_response();
        }
        return api_error(
            StatusCode::UNAUTHORIZED,
            None,
            "Sign in, or send Authorization: Bearer <api key>.",
            &rid,
        );
    }
    if let Some(r) = res.extensions().get::<ApiRefusal>() {
        return api_error(res.status(), Some(r.code), &r.message, &rid);
    }
    let marker = match res.extensions().get::<ErrorMarker>() {
        Some(m) => m.clone(),
        None if res.status() == StatusCode::NOT_FOUND
            && res.headers().get("content-type").is_none() =>
        {
            ErrorMarker {
                status: StatusCode::NOT_FOUND,
                message: AppError::NotFound.public_message(),
            }
        }
        // An extractor's own refusal of an API request (a query, path or body it cannot
        // read: axum answers it in plain text) becomes the API's problem document too.
        None if is_api && res.status().is_client_error() && is_plain_text(&res) => {
            let status = res.status();
            let text = axum::body::to_bytes(res.into_body(), 4096)
                .await
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .unwrap_or_default();
            ErrorMarker {
                status,
                message: text,
            }
        }
        None => return res,
    };
    let title = marker.status.canonical_reason().unwrap_or("Error");
    if is_api {
        return api_error(marker.status, None, &marker.message, &rid);
    }
    let mut out = {
        let staff = match nav {
            Some(n) => super::extract::session_staff(&n.session, &n.state).await,
            None => None,
        };
        let page = ErrorPage {
            staff,
            status: marker.status.as_u16(),
            title,
            message: &marker.message,
            request_id: &rid,
        };
        match page.render() {
            Ok(html) => Html(html).into_response(),
            Err(_) => marker.message.clone().into_response(),
        }
    };
    *out.status_mut() = marker.status;
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use axum::Router;
    use axum::body::Body;
    use axum::http::Request;
    use axum::routing::get;
    use tower::ServiceExt;
    use tower_http::catch_panic::CatchPanicLayer;

    use super::*;

    /// The error pages wrapped around the panic catcher, as `layers.rs` stacks them.
    fn app() -> Router {
        Router::new()
            .route(
                "/boom",
                get(|| async {
                    let v: Vec<u8> = Vec::new();
                    #[allow(clippy::indexing_slicing)]
                    v[1].to_string()
                }),
            )
            .route(
                "/api/v1/boom",
                get(|| async {
                    if "x".len() == 1 {
                        panic!("secret detail");
                    }
                    String::new()
                }),
            )
            .layer(CatchPanicLayer::custom(panic_response))
            .layer(axum::middleware::from_fn(render_errors))
    }

    async fn get_page(path: &str) -> (StatusCode, String) {
        let res = app()
            .oneshot(
                Request::get(path)
                    .header("x-request-id", "rid-7")
                    .body(Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap();
        let status = res.status();
        let body = axum::body::to_bytes(res.into_body(), 1 << 20)
            .await
            .unwrap();
        (status, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn a_panic_becomes_the_500_page_with_the_request_id() {
        let (status, page) = get_page("/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(page.contains("rid-7"), "{page}");
        assert!(page.contains("Something went wrong on our side."), "{page}");
        let (status, json) = get_page("/api/v1/boom").await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["request_id"], "rid-7");
        assert!(
            !json.contains("secret detail"),
            "the panic's text is never shown"
        );
    }
}

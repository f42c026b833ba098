//! The middleware stack, outermost first: vet an incoming request id → request id → trace →
//! propagate the id → compression → security headers (one step) → timeout → metrics →
//! no-store → error pages → catch panics → CSRF (Origin/Sec-Fetch-Site). The per-client rate
//! limits are on their routes (`limits.rs`).

use std::time::{Duration, Instant};

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::Response;
use tower::ServiceBuilder;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::csrf::CsrfLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use tower_sessions::cookie::SameSite;
use tower_sessions::{Expiry, SessionManagerLayer};

use super::AppState;
use super::error::{nav_source, panic_response, render_errors};
use crate::auth::sessions::SessionBackend;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");
pub(super) const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// Content-Security-Policy: everything from our own origin, no inline script, no framing.
/// `form-action` also allows the OIDC issuer, because logout posts a form that the portal
/// answers with a redirect to the provider's end-session endpoint.
fn csp(issuer_origin: &str) -> String {
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self' {issuer_origin}"
    )
}

fn origin_of(url: &str) -> String {
    url::Url::parse(url)
        .map(|u| u.origin().ascii_serialization())
        .unwrap_or_default()
}

pub fn apply(router: Router<AppState>, state: &AppState) -> Router<AppState> {
    let cfg = &state.config;
    let csp = HeaderValue::from_str(&csp(&origin_of(&cfg.oidc.issuer)))
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'; frame-ancestors 'none'"));
    let hsts = cfg
        .public_url
        .starts_with("https://")
        .then(|| HeaderValue::from_static("max-age=31536000; includeSubDomains"));

    let trace = TraceLayer::new_for_http().make_span_with(|req: &Request| {
        let rid = req
            .headers()
            .get(&REQUEST_ID)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("-");
        let route = req
            .extensions()
            .get::<MatchedPath>()
            .map(MatchedPath::as_str)
            .unwrap_or("-");
        tracing::info_span!("http.request", method = %req.method(), http.route = route, request_id = rid)
    });

    let stack = ServiceBuilder::new()
        .layer(middleware::from_fn_with_state(
            state.clone(),
            vet_request_id,
        ))
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .layer(trace)
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CompressionLayer::new())
        // Inside compression, where an answer is still axum's `Response` (compression changes
        // the body's type), and outside the timeout, so that its 408 gets the headers too.
        .map_response(security_headers(csp, hsts))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ))
        .layer(middleware::from_fn(track_metrics))
        .layer(middleware::from_fn(no_store))
        // Sessions outside the error pages, so that an error page shows who is signed in.
        .layer(session_layer(state))
        .layer(middleware::from_fn_with_state(state.clone(), nav_source))
        .layer(middleware::from_fn(render_errors))
        // Inside the error pages, so that a panic becomes the usual 500 page with the request id.
        .layer(CatchPanicLayer::custom(panic_response))
        // The provider's form_post answer is a cross-site POST by design; its handler only
        // hands the fields on to the GET callback (state-checked) and changes nothing.
        .layer(CsrfLayer::new().with_insecure_bypass(|method, uri| {
            method == axum::http::Method::POST && uri.path() == "/auth/callback"
        }));
    router.layer(stack)
}

/// The security headers of every answer, set in one step: the CSP, no framing, no MIME
/// sniffing, the referrer only to ourselves, and HSTS on https (unless the answer set its
/// own). One `map_response` instead of a layer per header: each layer was one more future
/// around every request's.
fn security_headers(
    csp: HeaderValue,
    hsts: Option<HeaderValue>,
) -> impl Fn(Response) -> Response + Clone {
    move |mut res: Response| {
        let h = res.headers_mut();
        h.insert(header::CONTENT_SECURITY_POLICY, csp.clone());
        h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        h.insert(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        );
        h.insert(
            header::REFERRER_POLICY,
            HeaderValue::from_static("same-origin"),
        );
        if let Some(hsts) = &hsts {
            h.entry(header::STRICT_TRANSPORT_SECURITY)
                .or_insert_with(|| hsts.clone());
        }
        res
    }
}

/// The session cookie's name (the OpenAPI document names it too).
pub(super) const SESSION_COOKIE: &str = "td_session";

/// Server-side sessions: only an opaque id in the cookie (HttpOnly, SameSite=Lax so the
/// provider's redirect back carries it, Secure on https), ended after
/// `session.idle_timeout_secs` unused (the absolute lifetime is checked by `CurrentStaff`).
fn session_layer(state: &AppState) -> SessionManagerLayer<SessionBackend> {
    SessionManagerLayer::new(state.sessions.clone())
        .with_name(SESSION_COOKIE)
        .with_http_only(true)
        .with_same_site(SameSite::Lax)
        .with_secure(state.config.public_url.starts_with("https://"))
        .with_path("/")
        .with_expiry(Expiry::OnInactivity(time::Duration::seconds(
            i64::try_from(state.config.session.idle_timeout_secs).unwrap_or(i64::MAX),
        )))
}

/// L-7: the request id is ours. An incoming `X-Request-Id` stays only when a trusted proxy
/// sent it and it has the shape of an id (`meta::keep_request_id`); otherwise it is removed
/// here and `SetRequestIdLayer` makes a new one (a UUID).
async fn vet_request_id(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let from_proxy = super::meta::peer(req.extensions())
        .is_some_and(|ip| crate::config::is_trusted(&state.config.trusted_proxies, ip));
    let mut ids = req.headers().get_all(&REQUEST_ID).iter();
    let keep = match (ids.next(), ids.next()) {
        (Some(id), None) => super::meta::keep_request_id(from_proxy, id),
        _ => false,
    };
    if !keep {
        req.headers_mut().remove(&REQUEST_ID);
    }
    next.run(req).await
}

/// `Cache-Control: no-store` on every answer that does not set its own, except the static
/// assets: no page (a diagnosis, a token shown once, the audit log) stays in the browser's
/// cache or its back/forward history, so Back after sign-out and Forward after a mint on a
/// shared helpdesk PC fetch again, and meet the sign-in instead of the last person's pages.
async fn no_store(req: Request, next: Next) -> Response {
    let asset = req.uri().path().starts_with("/static/");
    let mut res = next.run(req).await;
    if !asset && !res.headers().contains_key(header::CACHE_CONTROL) {
        res.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    res
}

/// Request count and latency per route and status, for `/metrics`.
async fn track_metrics(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".into());
    let method = req.method().to_string();
    let res = next.run(req).await;
    let labels = [
        ("method", method),
        ("route", route),
        ("status", res.status().as_u16().to_string()),
    ];
    metrics::counter!("trustdesk_http_requests_total", &labels).increment(1);
    metrics::histogram!("trustdesk_http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    res
}

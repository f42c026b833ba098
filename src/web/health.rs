//! `/healthz` (the process is up), `/readyz` (the database and a DC answer), `/metrics`.
//! Readiness answers only "ok"/"unavailable" per dependency, never which DC answered; the
//! reasons go to the log. `/metrics` answers only the monitoring system's bearer token
//! (`health.metrics_token`); anyone else gets 404, as if it did not exist.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;

use super::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.store.ping().await;
    // Ready when every managed domain has a DC that answers.
    let dc = futures_util::future::try_join_all(state.domains.iter().map(|d| d.root_dse())).await;
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unavailable");
    }
    if let Err(e) = &dc {
        tracing::warn!(error = %e, "readiness: no domain controller answered");
    }
    let status = if db.is_ok() && dc.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let body = json!({
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "directory": match &dc {
            Ok(_) => json!({"status": "ok"}),
            Err(_) => json!({"status": "unavailable"}),
        },
    });
    (status, Json(body))
}

pub async fn metrics(State(state): State<AppState>, headers: HeaderMap) -> Response {
    use secrecy::ExposeSecret;
    use subtle::ConstantTimeEq;
    let presented = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .unwrap_or_default();
    let allowed = state
        .config
        .health
        .metrics_token
        .as_ref()
        .is_some_and(|t| bool::from(t.expose_secret().as_bytes().ct_eq(presented.as_bytes())));
    if !allowed {
        return StatusCode::NOT_FOUND.into_response();
    }
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
        .into_response()
}

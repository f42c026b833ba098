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
    let dcs = futures_util::future::join_all(state.domains.iter().map(|d| d.root_dse())).await;
    if let Err(e) = &db {
        tracing::warn!(error = %e, "readiness: database unavailable");
    }
    let mut answered = 0;
    let mut domains = serde_json::Map::new();
    for (d, dc) in state.domains.iter().zip(&dcs) {
        if let Err(e) = dc {
            tracing::warn!(domain = d.dns_name(), error = %e, "readiness: no domain controller answered");
        }
        answered += usize::from(dc.is_ok());
        let status = if dc.is_ok() { "ok" } else { "unavailable" };
        domains.insert(d.dns_name().to_string(), json!(status));
    }
    // Ready while some domain answers: one forest's DCs down must not take the portal (and
    // every other domain's helpdesk) out of the load balancer; the body says which is down.
    let status = if db.is_ok() && answered > 0 {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    let directory = match answered {
        0 => "unavailable",
        n if n == dcs.len() => "ok",
        _ => "degraded",
    };
    let body = json!({
        "database": if db.is_ok() { "ok" } else { "unavailable" },
        "directory": {"status": directory, "domains": domains},
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

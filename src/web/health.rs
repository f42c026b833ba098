//! `/healthz` (the process is up), `/readyz` (the database and a DC answer), `/metrics`.
//! Readiness answers only "ok"/"unavailable" per dependency; the reasons go to the log.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use serde_json::json;

use crate::state::AppState;

pub async fn healthz() -> &'static str {
    "ok"
}

pub async fn readyz(State(state): State<AppState>) -> impl IntoResponse {
    let db = state.store.ping().await;
    let dc = state.directory.root_dse().await;
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
            Ok(root) => json!({"status": "ok", "dc": root.dc_url}),
            Err(_) => json!({"status": "unavailable"}),
        },
    });
    (status, Json(body))
}

pub async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [("content-type", "text/plain; version=0.0.4")],
        state.metrics.render(),
    )
}

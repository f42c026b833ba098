//! The HTTP edge: routers, handlers and their templates, the application state and the
//! extractors. The only place (with the `lib.rs` composition root) that imports axum or sees
//! `AppState` (`tests/tidy.rs` enforces it). Handlers are thin: extract (`extract.rs`) →
//! authorize (`authorize.rs`) → call a capability → render.

mod approval_flow;
mod approvals;
mod audit;
mod audit_api;
mod auth;
mod authorize;
mod computers;
mod computers_api;
mod downloads;
mod error;
mod extract;
mod fleet;
mod format;
mod health;
mod layers;
pub(crate) mod limits;
mod locate;
mod meta;
mod openapi;
mod pages;
mod pending_login;
mod policy;
mod redeem_api;
#[cfg(test)]
mod render_tests;
mod repair;
mod repair_api;
mod repair_gate;
mod state;
mod webhooks;

use axum::Router;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use tower_http::services::ServeDir;

pub use error::AppError;

pub use extract::{CurrentStaff, RequestOrigin};
pub use openapi::json as openapi_json;
/// The generated OpenAPI document, for the tests that hold a vocabulary against it.
#[cfg(test)]
pub(crate) use openapi::tests::schema as openapi_schema;
pub use state::{AppParts, AppState};

/// The whole application: every route and every layer.
pub fn app(state: AppState) -> Router {
    let routes = Router::new()
        .route("/", get(pages::index))
        .route(
            "/login",
            get(auth::login).layer(from_fn_with_state(state.clone(), limits::signin)),
        )
        .route(
            "/auth/callback",
            get(auth::callback)
                .post(auth::callback_form_post)
                .layer(from_fn_with_state(state.clone(), limits::signin)),
        )
        .route("/auth/backchannel-logout", post(auth::backchannel_logout))
        .route("/logout", post(auth::logout))
        .route("/computers", get(computers::search))
        .route("/computers/{name}", get(computers::show))
        .route("/computers/{domain}/{name}", get(computers::show))
        .route("/api/v1/computers", get(computers_api::api_search))
        .route("/api/v1/computers/{name}", get(computers_api::api_show))
        .route(
            "/api/v1/computers/{domain}/{name}",
            get(computers_api::api_show_in),
        )
        .route(
            "/computers/{name}/reset",
            get(repair::reset_confirm).post(repair::reset),
        )
        .route(
            "/computers/{domain}/{name}/reset",
            get(repair::reset_confirm).post(repair::reset),
        )
        .route("/computers/{name}/tokens", post(repair::mint))
        .route("/computers/{domain}/{name}/tokens", post(repair::mint))
        .route("/computers/{name}/tokens/{jti}", get(repair::minted))
        .route("/computers/{name}/reset/{id}", get(repair::reset_done))
        .route("/tokens/{jti}/revoke", post(repair::revoke))
        .route(
            "/api/v1/computers/{name}/tokens",
            get(repair_api::api_tokens).post(repair_api::api_mint),
        )
        .route(
            "/api/v1/computers/{name}/reset",
            post(repair_api::api_reset),
        )
        .route("/api/v1/tokens/{jti}/revoke", post(repair_api::api_revoke))
        .route("/approvals", get(approvals::page))
        .route("/approvals/{id}", get(approvals::one))
        .route("/approvals/{id}/approve", post(approvals::approve))
        .route("/approvals/{id}/deny", post(approvals::deny))
        .route("/approvals/{id}/token", post(approvals::collect))
        .route("/api/v1/approvals", get(approvals::api_list))
        .route("/api/v1/approvals/{id}", get(approvals::api_one))
        .route(
            "/api/v1/approvals/{id}/approve",
            post(approvals::api_approve),
        )
        .route("/api/v1/approvals/{id}/deny", post(approvals::api_deny))
        .route("/api/v1/approvals/{id}/token", post(approvals::api_collect))
        .route("/api/v1/tokens/{jti}", get(repair::token_state))
        .route(
            "/api/v1/redeem",
            post(redeem_api::api_redeem).layer(from_fn_with_state(state.clone(), limits::redeem)),
        )
        .route("/api/v1/redeem/outcome", post(redeem_api::api_outcome))
        .route("/api/v1/redeem/code", post(redeem_api::api_code))
        .route("/api/v1/token-key", get(redeem_api::api_token_key))
        .route("/downloads", get(downloads::page))
        .route("/downloads/", get(downloads::page))
        .route("/downloads/{file}", get(downloads::file))
        .route("/api/v1/openapi.json", get(openapi::serve))
        .route("/fleet", get(fleet::page))
        .route("/fleet/scans", post(fleet::start))
        .route("/fleet/export.csv", get(fleet::export_csv))
        .route("/api/v1/fleet", get(fleet::api_report))
        .route("/api/v1/fleet/progress", get(fleet::api_progress))
        .route("/audit", get(audit::page))
        .route("/api/v1/audit", get(audit_api::api_rows))
        .route("/policy", get(policy::page))
        .route("/webhooks", get(webhooks::page))
        .route("/audit/export.csv", get(audit::export_csv))
        .route("/audit/export.jsonl", get(audit::export_jsonl))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .nest_service("/static", ServeDir::new(static_dir()));
    layers::apply(routes, &state).with_state(state)
}

/// `static/` next to the binary's crate in development, or `TRUSTDESK_STATIC_DIR`-free
/// deployments: the Docker image copies it to the working directory.
fn static_dir() -> std::path::PathBuf {
    let local = std::path::PathBuf::from("static");
    if local.is_dir() {
        local
    } else {
        std::path::PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/static"))
    }
}

//! The web layer in-process, on plain `cargo test`: every route for every kind of caller,
//! CSRF refusals, security headers, error pages and JSON errors with the request id, the
//! OpenAPI document, health and metrics, the pages over stored rows, and the sign-in steps
//! that need no provider. All through [`crate::app::TestApp`]; none needs the lab.

mod api;
mod csrf;
mod headers;
mod pages;
mod roles;
mod routes;
mod signin;

use crate::app::TestApp;

/// The sequence number of the newest audit event (0 for none): a refused request must leave
/// it where it was.
async fn audit_seq(app: &TestApp) -> i64 {
    app.store()
        .audit_recent(1)
        .await
        .unwrap()
        .first()
        .map_or(0, |r| r.seq)
}

/// The newest audit events, newest first.
async fn audit_rows(app: &TestApp, n: i64) -> Vec<trustdesk::db::AuditRow> {
    app.store().audit_recent(n).await.unwrap()
}

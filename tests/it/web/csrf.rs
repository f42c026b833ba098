//! CSRF: every state-changing form POST needs the session's synchronizer token (missing or
//! wrong → 403, from `web/extract.rs`'s `Csrf` before the handler runs), and nothing changes when it is refused; a cross-site
//! POST is refused before any handler runs (Origin / Sec-Fetch-Site).

use axum::body::Body;
use axum::http::{Request, StatusCode};

use super::audit_seq;
use crate::app::{TestApp, Who};

/// The state-changing form POSTs of a signed-in person, and the role that may send them.
const FORMS: &[(&str, &str)] = &[
    ("/logout", "senior"),
    ("/computers/PAR-WS001/reset", "senior"),
    ("/computers/PAR-WS001/tokens", "senior"),
    ("/tokens/some-jti/revoke", "senior"),
    ("/fleet/scans", "admin"),
];

/// The session still works after a refused POST: the page that needs it answers 200.
async fn still_signed_in(app: &TestApp, who: &Who) {
    let r = app.get(who, "/policy").await;
    assert_eq!(r.status, StatusCode::OK, "the session lives: {}", r.body);
}

/// POST `path` with `form` as `role`; the refusal must leave the audit log and the session
/// as they were.
async fn refused(path: &str, role: &str, form: &[(&str, &str)]) -> StatusCode {
    let app = TestApp::default_app().await;
    let who = app.signed_in_as(role).await;
    let before = audit_seq(&app).await;
    let r = app.post_form(&who, path, form).await;
    assert_eq!(audit_seq(&app).await, before, "{path}: nothing audited");
    assert!(
        app.state.fleet.progress().is_none(),
        "{path}: no scan started"
    );
    still_signed_in(&app, &who).await;
    assert!(
        r.status.is_client_error(),
        "{path}: refused, not {}",
        r.status
    );
    r.status
}

#[tokio::test]
async fn logout_with_a_wrong_csrf_token_is_403_and_the_session_lives() {
    assert_eq!(
        refused("/logout", "senior", &[("csrf", "forged")]).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn logout_without_a_csrf_token_is_refused_and_the_session_lives() {
    assert_eq!(
        refused("/logout", "senior", &[]).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_reset_with_a_wrong_csrf_token_is_403_and_changes_nothing() {
    let form = [("csrf", "forged"), ("ticket", "INC-1")];
    assert_eq!(
        refused("/computers/PAR-WS001/reset", "senior", &form).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_reset_without_a_csrf_token_is_refused_and_changes_nothing() {
    let form = [("ticket", "INC-1")];
    assert_eq!(
        refused("/computers/PAR-WS001/reset", "senior", &form).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_mint_with_a_wrong_csrf_token_is_403_and_mints_nothing() {
    let form = [("csrf", "forged"), ("ticket", "INC-1")];
    assert_eq!(
        refused("/computers/PAR-WS001/tokens", "senior", &form).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_mint_without_a_csrf_token_is_refused_and_mints_nothing() {
    assert_eq!(
        refused(
            "/computers/PAR-WS001/tokens",
            "senior",
            &[("ticket", "INC-1")]
        )
        .await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_revoke_with_a_wrong_csrf_token_is_403() {
    assert_eq!(
        refused("/tokens/some-jti/revoke", "senior", &[("csrf", "forged")]).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_revoke_without_a_csrf_token_is_refused() {
    assert_eq!(
        refused("/tokens/some-jti/revoke", "senior", &[]).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_fleet_scan_with_a_wrong_csrf_token_is_403_and_starts_nothing() {
    assert_eq!(
        refused("/fleet/scans", "admin", &[("csrf", "forged")]).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn a_fleet_scan_without_a_csrf_token_is_refused_and_starts_nothing() {
    assert_eq!(
        refused("/fleet/scans", "admin", &[]).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn the_wrong_csrf_page_says_to_reload_and_shows_the_request_id() {
    let app = TestApp::default_app().await;
    let who = app.signed_in_as("senior").await;
    let r = app.post_form(&who, "/logout", &[("csrf", "forged")]).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(r.body.contains("Reload the page"), "{}", r.body);
    assert!(r.body.contains(r.request_id()));
}

#[tokio::test]
async fn an_api_key_cannot_send_the_forms() {
    let app = TestApp::default_app().await;
    let key = app.key("admin").await;
    for (path, _) in FORMS {
        let before = audit_seq(&app).await;
        let r = app.post_form(&key, path, &[("csrf", "")]).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert_eq!(audit_seq(&app).await, before, "{path}");
    }
}

#[tokio::test]
async fn logout_with_the_right_token_ends_the_session_and_its_login() {
    let app = TestApp::default_app().await;
    let who = app.signed_in_as("senior").await;
    let of = trustdesk::db::LoginsOf::Subject("senior-sub");
    let now = trustdesk::clock::now();
    assert_eq!(app.store().logins(of, now).await.unwrap().len(), 1);
    let r = app
        .post_form(&who, "/logout", &[("csrf", who.csrf())])
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "{}", r.body);
    assert!(app.store().logins(of, now).await.unwrap().is_empty());
    let r = app.get(&who, "/policy").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER, "the session is gone");
    let rows = super::audit_rows(&app, 1).await;
    assert_eq!(rows[0].event.action, "sign_out");
}

/// Moved from `http.rs` (it needs no lab), and extended to every POST route.
#[tokio::test]
async fn a_cross_site_post_is_refused_on_every_route_before_any_handler() {
    let app = TestApp::default_app().await;
    let who = app.signed_in_as("admin").await;
    let mut paths: Vec<&str> = FORMS.iter().map(|(p, _)| *p).collect();
    paths.extend([
        "/",
        "/auth/backchannel-logout",
        "/api/v1/redeem",
        "/api/v1/redeem/outcome",
        "/api/v1/redeem/code",
    ]);
    for path in paths {
        let before = audit_seq(&app).await;
        let req = Request::post(path)
            .header("origin", "https://evil.example")
            .header("sec-fetch-site", "cross-site")
            .header("content-type", "application/x-www-form-urlencoded")
            .body(Body::from(format!("csrf={}", who.csrf())))
            .unwrap();
        let r = app.send(&who, req).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "cross-site POST {path}");
        assert_eq!(audit_seq(&app).await, before, "{path}");
    }
    still_signed_in(&app, &who).await;
}

#[tokio::test]
async fn a_same_site_post_from_another_origin_is_refused_too() {
    let app = TestApp::default_app().await;
    let who = app.signed_in_as("senior").await;
    let req = Request::post("/logout")
        .header("origin", "https://evil.example")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(format!("csrf={}", who.csrf())))
        .unwrap();
    let r = app.send(&who, req).await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    still_signed_in(&app, &who).await;
}

//! The sign-in steps that need no provider round trip: `/login` when discovery fails, the
//! callback without a sign-in in progress or with the provider's refusal, the `form_post`
//! bounce, a back-channel logout the portal cannot read, and the per-client sign-in limit.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use super::{audit_rows, audit_seq};
use crate::app::{CLIENT, TestApp, Who};

#[tokio::test]
async fn login_without_a_reachable_provider_is_a_503_page_that_says_so() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/login?next=/audit").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body.contains("unavailable"), "{}", r.body);
    assert!(r.body.contains(r.request_id()));
    assert!(
        !r.headers.contains_key("location"),
        "no redirect to a provider the portal could not discover"
    );
    assert!(!r.body.contains("127.0.0.1:1"), "no internals: {}", r.body);
}

#[tokio::test]
async fn a_callback_without_a_sign_in_in_progress_is_refused_and_audited() {
    let app = TestApp::default_app().await;
    let before = audit_seq(&app).await;
    let r = app
        .get(&Who::Anonymous, "/auth/callback?code=abc&state=forged")
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("No sign-in is in progress"), "{}", r.body);
    assert!(r.body.contains(r.request_id()));
    assert!(audit_seq(&app).await > before);
    let row = &audit_rows(&app, 1).await[0];
    assert_eq!(
        (row.event.action.as_str(), row.event.outcome.as_str()),
        ("sign_in", "denied")
    );
    assert!(
        row.event
            .reason
            .as_deref()
            .unwrap()
            .contains("no_pending_login"),
        "{:?}",
        row.event.reason
    );
    assert_eq!(
        row.event.source_ip.as_deref(),
        Some(CLIENT.ip().to_string().as_str())
    );
    assert!(
        !r.headers.contains_key("set-cookie"),
        "a refused callback starts no session"
    );
}

#[tokio::test]
async fn the_providers_refusal_is_shown_escaped_and_audited() {
    let app = TestApp::default_app().await;
    let r = app
        .get(
            &Who::Anonymous,
            "/auth/callback?error=access_denied&error_description=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains("access_denied"), "{}", r.body);
    assert!(!r.body.contains("<script>alert(1)"), "{}", r.body);
    assert!(r.body.contains("&#60;script&#62;"), "{}", r.body);
    let row = &audit_rows(&app, 1).await[0];
    assert!(
        row.event
            .reason
            .as_deref()
            .unwrap()
            .contains("provider_error: access_denied")
    );
}

/// `response_mode = form_post`: the provider posts cross-site; the page hands the fields on
/// to the GET callback (which checks them) and changes nothing.
#[tokio::test]
async fn the_form_post_callback_is_let_through_cross_site_and_bounces_the_fields() {
    let app = TestApp::default_app().await;
    let before = audit_seq(&app).await;
    let req = Request::post("/auth/callback")
        .header("origin", "https://idp.example")
        .header("sec-fetch-site", "cross-site")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from("code=the-code&state=st%22ate"))
        .unwrap();
    let r = app.send(&Who::Anonymous, req).await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("action=\"/auth/callback\""), "{}", r.body);
    assert!(r.body.contains("the-code"));
    assert!(
        r.body.contains("st&#34;ate") || r.body.contains("st&quot;ate"),
        "{}",
        r.body
    );
    assert_eq!(audit_seq(&app).await, before, "it changes nothing");
}

#[tokio::test]
async fn a_back_channel_logout_without_a_token_is_400_and_audited() {
    let app = TestApp::default_app().await;
    let r = app
        .post_form(&Who::Anonymous, "/auth/backchannel-logout", &[])
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let row = &audit_rows(&app, 1).await[0];
    assert_eq!(row.event.action, "sign_out");
    assert_eq!(row.event.outcome, "denied");
}

#[tokio::test]
async fn a_back_channel_logout_token_the_portal_cannot_verify_ends_no_session() {
    let app = TestApp::default_app().await;
    let senior = app.signed_in_as("senior").await;
    let r = app
        .post_form(
            &Who::Anonymous,
            "/auth/backchannel-logout",
            &[("logout_token", "eyJhbGciOiJub25lIn0.e30.")],
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    let r = app.get(&senior, "/policy").await;
    assert_eq!(r.status, StatusCode::OK, "the session lives");
}

#[tokio::test]
async fn sign_in_hits_are_limited_per_client_and_the_refusal_is_audited() {
    let app = TestApp::new()
        .with_config(|c| {
            c.limits.signin_burst = 2;
            c.limits.signin_refill_secs = 3600;
        })
        .start()
        .await;
    for _ in 0..2 {
        let r = app.get(&Who::Anonymous, "/login").await;
        assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    }
    let before = audit_seq(&app).await;
    let r = app.get(&Who::Anonymous, "/login").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.body.contains(r.request_id()));
    assert!(
        audit_seq(&app).await > before,
        "the first refusal is audited"
    );
    let row = &audit_rows(&app, 1).await[0];
    assert_eq!(
        row.event.source_ip.as_deref(),
        Some(CLIENT.ip().to_string().as_str())
    );
    // The callback shares the sign-in bucket.
    let r = app.get(&Who::Anonymous, "/auth/callback").await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
}

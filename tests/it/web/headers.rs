//! The headers `web/layers.rs` sets: CSP, frame options, nosniff, referrer policy, HSTS only
//! on an https public URL, `no-store` on everything but static assets, the request id (ours,
//! unless a trusted proxy sent one), and the session cookie's flags.

use axum::body::Body;
use axum::http::{Request, StatusCode};

use crate::app::{CLIENT, TestApp, Who};

/// The headers every answer carries, page or error or JSON.
fn assert_security_headers(r: &crate::app::Resp, what: &str) {
    let csp = r.header("content-security-policy");
    for part in [
        "default-src 'self'",
        "script-src 'self'",
        "object-src 'none'",
        "frame-ancestors 'none'",
    ] {
        assert!(csp.contains(part), "{what}: {part} in {csp}");
    }
    assert_eq!(r.header("x-content-type-options"), "nosniff", "{what}");
    assert_eq!(r.header("x-frame-options"), "DENY", "{what}");
    assert_eq!(r.header("referrer-policy"), "same-origin", "{what}");
    assert!(!r.request_id().is_empty(), "{what}");
}

/// Moved from `http.rs` (the lab DC was not needed for these).
#[tokio::test]
async fn pages_carry_the_security_headers_and_no_hsts_on_http() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_security_headers(&r, "/");
    assert!(
        !r.headers.contains_key("strict-transport-security"),
        "no HSTS on an http:// public URL"
    );
}

#[tokio::test]
async fn error_pages_and_api_errors_carry_the_security_headers_too() {
    let app = TestApp::default_app().await;
    for path in [
        "/no/such/page",
        "/api/v1/no-such",
        "/api/v1/fleet",
        "/readyz",
    ] {
        let r = app.get(&Who::Anonymous, path).await;
        assert!(!r.status.is_success(), "{path}");
        assert_security_headers(&r, path);
    }
}

#[tokio::test]
async fn hsts_is_sent_when_the_public_url_is_https() {
    let app = TestApp::new()
        .with_config(|c| c.public_url = "https://portal.test".into())
        .start()
        .await;
    for path in ["/", "/healthz", "/no/such/page"] {
        let r = app.get(&Who::Anonymous, path).await;
        assert_eq!(
            r.header("strict-transport-security"),
            "max-age=31536000; includeSubDomains",
            "{path}"
        );
    }
}

#[tokio::test]
async fn the_csp_lets_forms_go_to_the_issuer_origin_only() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/").await;
    let csp = r.header("content-security-policy");
    assert!(
        csp.contains("form-action 'self' http://127.0.0.1:1"),
        "the issuer's origin, not its path: {csp}"
    );
    assert!(!csp.contains("/issuer"), "{csp}");
}

#[tokio::test]
async fn pages_and_api_answers_are_no_store_but_static_assets_are_not() {
    let app = TestApp::default_app().await;
    let admin = app.signed_in_as("admin").await;
    for path in ["/", "/policy", "/audit", "/api/v1/openapi.json", "/no/such"] {
        let r = app.get(&admin, path).await;
        assert_eq!(r.header("cache-control"), "no-store", "{path}");
    }
    let r = app.get(&Who::Anonymous, "/static/trustdesk.css").await;
    assert_ne!(
        r.headers.get("cache-control").map(|v| v.to_str().unwrap()),
        Some("no-store")
    );
}

#[tokio::test]
async fn a_request_id_sent_by_a_client_is_replaced_by_ours() {
    let app = TestApp::default_app().await;
    let req = Request::get("/no/such/page")
        .header("x-request-id", "chosen-by-the-client")
        .body(Body::empty())
        .unwrap();
    let r = app.send(&Who::Anonymous, req).await;
    assert_ne!(r.request_id(), "chosen-by-the-client");
    assert!(!r.body.contains("chosen-by-the-client"));
    assert!(r.body.contains(r.request_id()));
}

#[tokio::test]
async fn a_request_id_sent_by_a_trusted_proxy_is_kept() {
    let app = TestApp::new()
        .with_config(|c| {
            c.trusted_proxies = vec![CLIENT.ip().to_string().parse().unwrap()];
        })
        .start()
        .await;
    let req = Request::get("/no/such/page")
        .header("x-request-id", "proxy-id-0123456789")
        .body(Body::empty())
        .unwrap();
    let r = app.send(&Who::Anonymous, req).await;
    assert_eq!(r.request_id(), "proxy-id-0123456789");
    assert!(r.body.contains("proxy-id-0123456789"));
}

#[tokio::test]
async fn every_answer_gets_a_fresh_request_id() {
    let app = TestApp::default_app().await;
    let a = app.get(&Who::Anonymous, "/healthz").await;
    let b = app.get(&Who::Anonymous, "/healthz").await;
    assert_ne!(a.request_id(), b.request_id());
}

/// A session saved by the portal comes back in a cookie that scripts cannot read, sent on
/// the provider's redirect back (Lax), and Secure on an https portal.
#[tokio::test]
async fn the_session_cookie_is_httponly_lax_and_secure_on_https() {
    for (public_url, secure) in [("http://portal.test", false), ("https://portal.test", true)] {
        let app = TestApp::new()
            .with_config(|c| c.public_url = public_url.into())
            .start()
            .await;
        // A session last saved long ago is saved again on use, which sends the cookie.
        let now = trustdesk::clock::now();
        let mut staff = trustdesk::auth::Staff {
            sub: "s".into(),
            name: None,
            email: None,
            roles: Vec::new(),
            csrf: "c".into(),
            signed_in_at: now.unix_timestamp(),
            touched_at: 0,
            id_token: None,
            role_inputs: Some(trustdesk::auth::RoleInputs {
                values: vec!["trustdesk-admins".into()],
                verified_email: None,
            }),
            can_lookup: false,
            can_approve: false,
        };
        staff.touched_at = now.unix_timestamp() - 100_000;
        let who = app.seed_session(staff, now).await;
        let r = app.get(&who, "/policy").await;
        assert_eq!(r.status, StatusCode::OK);
        let cookie = r.header("set-cookie");
        assert!(cookie.starts_with("td_session="), "{cookie}");
        assert!(cookie.contains("HttpOnly"), "{cookie}");
        assert!(cookie.contains("SameSite=Lax"), "{cookie}");
        assert!(cookie.contains("Path=/"), "{cookie}");
        assert_eq!(cookie.contains("Secure"), secure, "{public_url}: {cookie}");
    }
}

#[tokio::test]
async fn an_anonymous_page_view_sets_no_cookie() {
    let app = TestApp::default_app().await;
    for path in ["/", "/healthz", "/no/such/page"] {
        let r = app.get(&Who::Anonymous, path).await;
        assert!(!r.headers.contains_key("set-cookie"), "{path}");
    }
}

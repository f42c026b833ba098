//! Every route of `web/mod.rs` for every kind of caller: anonymous (pages redirect to sign-in,
//! the API answers 401 JSON), a signed-in person per role (403 where the role does not
//! reach), an API key, and the router's own 404 and 405.

use axum::http::{Method, StatusCode};

use super::{audit_rows, audit_seq};
use crate::app::{CLIENT, TestApp, Who};

/// The pages only a signed-in person sees (GET).
const SIGNED_IN_PAGES: &[&str] = &[
    "/computers",
    "/computers?q=PAR",
    "/computers/PAR-WS001",
    "/computers/PAR-WS001/reset",
    "/computers/PAR-WS001/tokens/some-jti",
    "/computers/PAR-WS001/reset/some-id",
    "/downloads",
    "/downloads/",
    "/fleet",
    "/fleet/export.csv",
    "/audit",
    "/audit/export.csv",
    "/audit/export.jsonl",
    "/policy",
];

/// The API's GETs that need a caller (a session or a key).
const STAFF_API: &[&str] = &[
    "/api/v1/computers?q=PAR",
    "/api/v1/computers/PAR-WS001",
    "/api/v1/tokens/some-jti",
    "/api/v1/fleet",
    "/api/v1/fleet/progress",
    "/api/v1/audit",
];

#[tokio::test]
async fn healthz_answers_ok_to_anyone() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/healthz").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.body, "ok");
}

/// Moved from `http.rs`: it needs only a CA and a dead URL, not the lab.
#[tokio::test]
async fn readyz_is_503_when_no_dc_answers_and_does_not_name_the_dc() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/readyz").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(
        !r.body.contains("127.0.0.1:1"),
        "readiness does not leak internals: {}",
        r.body
    );
    let body = r.json();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["directory"]["status"], "unavailable");
}

/// Moved from `http.rs`.
#[tokio::test]
async fn an_unknown_page_is_a_404_page_showing_the_request_id() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/no/such/page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.header("content-type").starts_with("text/html"));
    assert!(
        r.body.contains(r.request_id()),
        "the error page shows the request id"
    );
    assert!(r.body.contains("Nothing here."), "{}", r.body);
}

#[tokio::test]
async fn an_unknown_api_path_is_a_404_json_with_the_request_id() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/api/v1/no-such-thing").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let body = r.json();
    assert_eq!(body["error"], "Not Found");
    assert_eq!(body["request_id"], r.request_id());
}

#[tokio::test]
async fn a_method_a_route_does_not_have_is_405() {
    let app = TestApp::default_app().await;
    for (method, path) in [
        (Method::POST, "/healthz"),
        (Method::DELETE, "/"),
        (Method::PUT, "/audit"),
        (Method::GET, "/logout"),
        (Method::GET, "/fleet/scans"),
        (Method::GET, "/tokens/some-jti/revoke"),
        (Method::GET, "/computers/PAR-WS001/tokens"),
        (Method::GET, "/api/v1/redeem"),
        (Method::GET, "/auth/backchannel-logout"),
        (Method::DELETE, "/api/v1/computers/PAR-WS001"),
    ] {
        let r = app.call(&Who::Anonymous, method.clone(), path).await;
        assert_eq!(
            r.status,
            StatusCode::METHOD_NOT_ALLOWED,
            "{method} {path}: {}",
            r.body
        );
        assert!(r.headers.contains_key("allow"), "{method} {path}");
    }
}

#[tokio::test]
async fn anonymous_pages_redirect_to_sign_in_and_back() {
    let app = TestApp::default_app().await;
    for path in SIGNED_IN_PAGES {
        let r = app.get(&Who::Anonymous, path).await;
        assert_eq!(r.status, StatusCode::SEE_OTHER, "{path}");
        let next = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("next", path)
            .finish();
        assert_eq!(r.location(), format!("/login?{next}"), "{path}");
    }
}

#[tokio::test]
async fn anonymous_api_calls_are_401_json_with_the_request_id() {
    let app = TestApp::default_app().await;
    for path in STAFF_API {
        let r = app.get(&Who::Anonymous, path).await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{path}");
        // A problem document (RFC 9457) with no type beyond its status.
        assert_eq!(
            r.header("content-type"),
            "application/problem+json",
            "{path}"
        );
        let body = r.json();
        assert_eq!(body["error"], "Unauthorized", "{path}");
        assert_eq!(body["type"], "about:blank", "{path}");
        assert_eq!(body["title"], "Unauthorized", "{path}");
        assert_eq!(body["status"], 401, "{path}");
        assert_eq!(body["detail"], body["message"], "{path}");
        assert_eq!(body["request_id"], r.request_id(), "{path}");
        assert!(!r.headers.contains_key("location"), "{path}: no redirect");
    }
}

#[tokio::test]
async fn an_unknown_api_key_is_401_json_that_names_no_detail() {
    let app = TestApp::default_app().await;
    for key in ["tdk_not-a-real-key", "not-even-the-prefix", ""] {
        let r = app
            .get(&Who::Key(key.into()), "/api/v1/fleet/progress")
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{key:?}");
        let body = r.json();
        assert_eq!(body["message"], "That API key is not valid.");
        assert_eq!(body["request_id"], r.request_id());
    }
}

#[tokio::test]
async fn a_revoked_api_key_is_refused_like_an_unknown_one() {
    let app = TestApp::default_app().await;
    let key = app.key("admin").await;
    assert_eq!(
        app.get(&key, "/api/v1/fleet/progress").await.status,
        StatusCode::OK
    );
    let name = app.store().api_keys().await.unwrap()[0].name.clone();
    let by = trustdesk::audit::Actor::default();
    assert!(
        trustdesk::auth::api_keys::revoke_audited(app.store(), &name, &by)
            .await
            .unwrap()
    );
    let r = app.get(&key, "/api/v1/fleet/progress").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.json()["message"], "That API key is not valid.");
}

/// #18: an expired key is refused with a 401 that says when it expired (its holder then knows
/// to ask for a new one, rather than suspect a typo).
#[tokio::test]
async fn an_expired_api_key_is_401_naming_its_expiry() {
    let app = TestApp::default_app().await;
    let key = app.key("admin").await;
    let trustdesk::db::Store::Sqlite(db) = app.store() else {
        unreachable!("the test app runs on SQLite")
    };
    let ended = time::macros::datetime!(2026-01-02 03:04:05 UTC);
    sqlx::query("UPDATE api_keys SET expires_at = $1")
        .bind(ended)
        .execute(&db.pool)
        .await
        .unwrap();
    let r = app.get(&key, "/api/v1/fleet/progress").await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    let body = r.json();
    assert_eq!(
        body["message"],
        "That API key expired at 2026-01-02T03:04:05Z. Ask an administrator for a new one."
    );
    assert_eq!(body["request_id"], r.request_id());
}

#[tokio::test]
async fn an_api_key_opens_the_pages_its_role_reaches() {
    let app = TestApp::default_app().await;
    let auditor = app.key("auditor").await;
    let r = app.get(&auditor, "/audit").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("Audit log"), "{}", r.body);
    let r = app.get(&auditor, "/api/v1/fleet").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.json()["request_id"], r.request_id());
}

#[tokio::test]
async fn the_landing_page_offers_sign_in_to_anonymous() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("href=\"/login\""), "{}", r.body);
    assert!(!r.body.contains("name=\"csrf\""), "no sign-out form");
}

#[tokio::test]
async fn the_landing_page_names_the_signed_in_admin_and_links_their_pages() {
    let app = TestApp::default_app().await;
    let admin = app.signed_in_as("admin").await;
    let r = app.get(&admin, "/").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("Test admin-sub"), "{}", r.body);
    for link in ["href=\"/audit\"", "href=\"/policy\""] {
        assert!(r.body.contains(link), "{link}: {}", r.body);
    }
    assert!(
        r.body.contains(&format!("value=\"{}\"", admin.csrf())),
        "the sign-out form carries the session's CSRF token"
    );
}

#[tokio::test]
async fn the_landing_page_back_from_the_provider_says_signed_out() {
    let app = TestApp::default_app().await;
    let plain = app.get(&Who::Anonymous, "/").await.body;
    let back = app.get(&Who::Anonymous, "/?state=signed-out").await.body;
    assert_ne!(plain, back, "the signed-out note is shown");
    assert!(back.to_lowercase().contains("signed out"), "{back}");
}

#[tokio::test]
async fn a_person_with_no_role_is_refused_every_capability_page_and_it_is_audited() {
    let app = TestApp::default_app().await;
    let nobody = app.signed_in("nobody-sub", &["some-other-group"]).await;
    for path in ["/computers?q=PAR", "/fleet", "/audit", "/downloads/"] {
        let before = audit_seq(&app).await;
        let r = app.get(&nobody, path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert!(r.body.contains(r.request_id()), "{path}");
        let rows = audit_rows(&app, 1).await;
        assert!(
            audit_seq(&app).await > before,
            "{path}: the refusal is audited"
        );
        assert_eq!(rows[0].event.outcome, "denied", "{path}");
        assert_eq!(rows[0].event.actor_sub.as_deref(), Some("nobody-sub"));
        assert_eq!(
            rows[0].event.source_ip.as_deref(),
            Some(CLIENT.ip().to_string().as_str()),
            "the audit names the client address"
        );
    }
}

#[tokio::test]
async fn the_auditor_is_refused_the_computer_search() {
    let app = TestApp::default_app().await;
    let auditor = app.signed_in_as("auditor").await;
    let r = app.get(&auditor, "/computers?q=PAR").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = app.get(&auditor, "/api/v1/computers/PAR-WS001").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert_eq!(r.json()["request_id"], r.request_id());
}

#[tokio::test]
async fn a_junior_is_refused_the_audit_log_and_its_exports() {
    let app = TestApp::default_app().await;
    let junior = app.signed_in_as("junior").await;
    for path in ["/audit", "/audit/export.csv", "/audit/export.jsonl"] {
        let r = app.get(&junior, path).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
    }
}

#[tokio::test]
async fn a_junior_without_mint_is_refused_the_downloads_page() {
    let app = TestApp::default_app().await;
    let junior = app.signed_in_as("junior").await;
    let r = app.get(&junior, "/downloads/").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
}

#[tokio::test]
async fn the_downloads_page_without_downloads_keeps_the_plain_instructions() {
    let app = TestApp::default_app().await;
    let senior = app.signed_in_as("senior").await;
    for path in ["/downloads", "/downloads/"] {
        let r = app.get(&senior, path).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {}", r.body);
    }
    let r = app
        .get(&Who::Anonymous, "/downloads/trustdesk-client.exe")
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "no file is served");
    assert!(r.body.contains(r.request_id()));
}

#[tokio::test]
async fn a_lookup_with_no_dc_answering_is_a_503_page_with_the_request_id() {
    let app = TestApp::default_app().await;
    let senior = app.signed_in_as("senior").await;
    let r = app.get(&senior, "/computers?q=PAR").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body.contains(r.request_id()));
    assert!(!r.body.contains("127.0.0.1:1"), "no internals: {}", r.body);
}

#[tokio::test]
async fn an_api_lookup_with_no_dc_answering_is_503_json() {
    let app = TestApp::default_app().await;
    let key = app.key("senior").await;
    let r = app.get(&key, "/api/v1/computers/PAR-WS001").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    let body = r.json();
    assert_eq!(body["request_id"], r.request_id());
    assert!(!r.body.contains("127.0.0.1:1"), "no internals: {}", r.body);
}

#[tokio::test]
async fn the_state_of_a_token_nobody_minted_is_404_json() {
    let app = TestApp::default_app().await;
    let key = app.key("senior").await;
    let r = app.get(&key, "/api/v1/tokens/no-such-jti").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert_eq!(r.json()["request_id"], r.request_id());
}

#[tokio::test]
async fn a_session_past_its_absolute_lifetime_is_ended_and_sent_to_sign_in() {
    let app = TestApp::default_app().await;
    let lifetime = i64::try_from(app.state.config.session.absolute_lifetime_secs).unwrap();
    let long_ago = trustdesk::clock::now() - time::Duration::seconds(lifetime + 60);
    let staff = trustdesk::auth::Staff {
        sub: "old-sub".into(),
        name: None,
        email: None,
        roles: Vec::new(),
        csrf: "c".into(),
        signed_in_at: long_ago.unix_timestamp(),
        touched_at: long_ago.unix_timestamp(),
        id_token: None,
        role_inputs: Some(trustdesk::auth::RoleInputs {
            values: vec!["trustdesk-admins".into()],
            verified_email: None,
        }),
        can_lookup: false,
        can_approve: false,
    };
    let old = app.seed_session(staff, long_ago).await;
    let r = app.get(&old, "/audit").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert!(r.location().starts_with("/login?next="), "{}", r.location());
    let r = app.get(&old, "/").await;
    assert!(!r.body.contains("old-sub"), "nobody is signed in any more");
}

#[tokio::test]
async fn a_session_cookie_the_portal_never_issued_is_anonymous() {
    let app = TestApp::default_app().await;
    let forged = Who::Session {
        cookie: "td_session=AAAAAAAAAAAAAAAAAAAAAA".into(),
        csrf: String::new(),
    };
    let r = app.get(&forged, "/audit").await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/login?next=%2Faudit");
}

#[tokio::test]
async fn static_assets_are_served() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/static/trustdesk.css").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/css"));
    let r = app.get(&Who::Anonymous, "/static/no-such.css").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_token_key_is_public_json() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/api/v1/token-key").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.json().is_object(), "{}", r.body);
}

/// The lab-independent half of `search_lab.rs`'s navigation test: error pages keep the
/// navigation (who is signed in, sign out, the search box for whoever may look computers up),
/// and offer sign-in to nobody.
#[tokio::test]
async fn error_pages_keep_the_navigation_of_whoever_is_signed_in() {
    let app = TestApp::default_app().await;
    let senior = app.signed_in_as("senior").await;
    for path in ["/", "/downloads/", "/no-such-page"] {
        let r = app.get(&senior, path).await;
        for id in ["whoami", "logout", "nav-q"] {
            assert!(
                r.body.contains(&format!("id=\"{id}\"")),
                "{path} keeps #{id}: {}",
                r.body
            );
        }
    }
    // An auditor may not look computers up: no search box, and the refusal keeps the rest.
    let auditor = app.signed_in_as("auditor").await;
    let r = app.get(&auditor, "/computers/PAR-WS001").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    assert!(
        r.body.contains("id=\"whoami\"") && r.body.contains("id=\"logout\""),
        "{}",
        r.body
    );
    assert!(!r.body.contains("id=\"nav-q\""), "{}", r.body);
    let r = app.get(&auditor, "/audit").await;
    assert!(!r.body.contains("id=\"nav-q\""), "{}", r.body);
    // Signed out: the error page offers sign-in.
    let r = app.get(&Who::Anonymous, "/no-such-page").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    assert!(r.body.contains("id=\"login\""));
}

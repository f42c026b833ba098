//! Every signed-in GET route for every test role, by session and by API key: what the policy
//! lets each reach (200, or 503 where the answer needs the DC nobody runs here), and 403
//! elsewhere; plus the pages that show something once (a minted token, a reset's result)
//! when there is nothing held for the caller.

use axum::http::StatusCode;

use crate::app::{TestApp, Who};

/// The roles of `app::ROLES`, and someone signed in with none.
const CALLERS: [&str; 5] = ["senior", "junior", "auditor", "admin", "nobody"];

/// `(path, [status for senior, junior, auditor, admin, nobody])`. 503: allowed, and the
/// answer needs a DC (none answers in these tests). Every refusal shows the request id.
const EXPECTED: &[(&str, [u16; 5])] = &[
    ("/", [200, 200, 200, 200, 200]),
    ("/policy", [200, 200, 200, 200, 200]),
    ("/audit", [403, 403, 200, 200, 403]),
    ("/audit/export.csv", [403, 403, 200, 200, 403]),
    ("/audit/export.jsonl", [403, 403, 200, 200, 403]),
    ("/api/v1/audit", [403, 403, 200, 200, 403]),
    ("/fleet", [200, 200, 403, 200, 403]),
    ("/fleet/export.csv", [200, 200, 403, 200, 403]),
    ("/downloads/", [200, 403, 403, 200, 403]),
    ("/computers?q=PAR", [503, 503, 403, 503, 403]),
    ("/computers/PAR-WS001", [503, 503, 403, 503, 403]),
    ("/api/v1/computers?q=PAR", [503, 503, 403, 503, 403]),
    ("/api/v1/computers/PAR-WS001", [503, 503, 403, 503, 403]),
    // No scan has run: no report (404 JSON); `pages.rs` reads one that exists.
    ("/api/v1/fleet", [404, 404, 403, 404, 403]),
    ("/api/v1/fleet/progress", [200, 200, 403, 200, 403]),
    (
        "/api/v1/computers/PAR-WS001/tokens",
        [503, 503, 403, 503, 403],
    ),
    // Everyone signed in has a queue: their own requests and those they may decide.
    ("/approvals", [200, 200, 200, 200, 200]),
    ("/api/v1/approvals", [200, 200, 200, 200, 200]),
    (
        "/api/v1/approvals/no-such-request",
        [404, 404, 404, 404, 404],
    ),
    // Unscoped audit viewers only (the admin's view is scoped).
    ("/webhooks", [403, 403, 200, 403, 403]),
];

/// The `/api/v1` routes that change something, with a body that would pass, and the status
/// each caller's API key gets (same order as [`CALLERS`]). 503: allowed, and it needs the DC.
/// A browser session gets 401 on every one: they take API keys only.
const CHANGING_API: &[(&str, &str, [u16; 5])] = &[
    (
        "/api/v1/computers/PAR-WS001/tokens",
        r#"{"ticket":"INC1"}"#,
        [503, 403, 403, 503, 403],
    ),
    (
        "/api/v1/computers/PAR-WS001/reset",
        r#"{"ticket":"INC1"}"#,
        [503, 403, 403, 503, 403],
    ),
    (
        "/api/v1/tokens/no-such-jti/revoke",
        "{}",
        [404, 404, 404, 404, 404],
    ),
    (
        "/api/v1/approvals/no-such-request/approve",
        "{}",
        [404, 404, 404, 404, 404],
    ),
    (
        "/api/v1/approvals/no-such-request/deny",
        "{}",
        [404, 404, 404, 404, 404],
    ),
    (
        "/api/v1/approvals/no-such-request/token",
        "{}",
        [404, 404, 404, 404, 404],
    ),
];

#[tokio::test]
async fn the_changing_api_routes_answer_each_roles_key_and_refuse_every_session() {
    let app = TestApp::default_app().await;
    let mut wrong = Vec::new();
    for (i, name) in CALLERS.iter().enumerate() {
        for key in [true, false] {
            let who = caller(&app, name, key).await;
            for (path, body, statuses) in CHANGING_API {
                let body: serde_json::Value = serde_json::from_str(body).unwrap();
                let r = app.post_json(&who, path, &body).await;
                let want = if key { statuses[i] } else { 401 };
                if r.status.as_u16() != want {
                    wrong.push(format!("{name} key={key} {path}: {} not {want}", r.status));
                }
                assert!(r.body.contains(r.request_id()), "{name} {path}: {}", r.body);
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// The caller `name` as a signed-in person, or (`key`) as an API key of that role.
async fn caller(app: &TestApp, name: &str, key: bool) -> Who {
    match (name, key) {
        ("nobody", false) => app.signed_in("nobody-sub", &["no-such-group"]).await,
        ("nobody", true) => app.key("no-such-role").await,
        (role, false) => app.signed_in_as(role).await,
        (role, true) => app.key(role).await,
    }
}

async fn check_matrix(key: bool) {
    let app = TestApp::default_app().await;
    let mut wrong = Vec::new();
    for (i, name) in CALLERS.iter().enumerate() {
        let who = caller(&app, name, key).await;
        for (path, statuses) in EXPECTED {
            let r = app.get(&who, path).await;
            if r.status.as_u16() != statuses[i] {
                wrong.push(format!("{name} {path}: {} not {}", r.status, statuses[i]));
            }
            if !r.status.is_success() {
                assert!(r.body.contains(r.request_id()), "{name} {path}: {}", r.body);
            }
        }
    }
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn every_page_answers_each_signed_in_role_as_the_policy_says() {
    check_matrix(false).await;
}

#[tokio::test]
async fn every_route_answers_each_roles_api_key_as_the_policy_says() {
    check_matrix(true).await;
}

#[tokio::test]
async fn a_token_page_with_nothing_held_says_it_was_shown_once() {
    let app = TestApp::default_app().await;
    let senior = app.signed_in_as("senior").await;
    let r = app
        .get(&senior, "/computers/PAR-WS001/tokens/never-minted")
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("PAR-WS001"));
    assert!(!r.body.contains("td1."), "no token: {}", r.body);
}

#[tokio::test]
async fn a_reset_result_with_nothing_held_goes_back_to_the_computer() {
    let app = TestApp::default_app().await;
    let senior = app.signed_in_as("senior").await;
    let r = app
        .get(&senior, "/computers/PAR-WS001/reset/never-done")
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.location(), "/computers/PAR-WS001");
}

#[tokio::test]
async fn the_reset_confirm_page_needs_the_dc_and_says_when_none_answers() {
    let app = TestApp::default_app().await;
    let senior = app.signed_in_as("senior").await;
    let r = app.get(&senior, "/computers/PAR-WS001/reset").await;
    assert_eq!(r.status, StatusCode::SERVICE_UNAVAILABLE, "{}", r.body);
    assert!(r.body.contains(r.request_id()));
    let auditor = app.signed_in_as("auditor").await;
    let r = app.get(&auditor, "/computers/PAR-WS001/reset").await;
    assert!(r.status.is_client_error() || r.status.is_server_error());
    assert!(!r.body.contains("name=\"ticket\""), "no reset form");
}

/// Moved from `tier0_lab.rs` (it needed no lab): what needs no directory is checked before it
/// (security review L-4). With no DC answering, a refusal for an action not granted is still
/// a 403, not a directory error, and it is audited.
#[tokio::test]
async fn refusals_that_need_no_directory_come_before_it() {
    let app = TestApp::default_app().await;
    let junior = app.signed_in_as("junior").await;
    let form = [("csrf", junior.csrf()), ("ticket", "INC-L4")];
    let r = app
        .post_form(&junior, "/computers/PAR-WS001/reset", &form)
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "a junior's reset is refused before any LDAP: {}",
        r.body
    );
    let row = &crate::web::audit_rows(&app, 1).await[0].event;
    assert_eq!(row.action, "reset_account");
    assert_eq!(row.target_name.as_deref(), Some("PAR-WS001"));
    assert_eq!(row.outcome, "denied");
    let auditor = app.signed_in_as("auditor").await;
    let r = app.get(&auditor, "/computers/PAR-WS001").await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "an auditor's lookup is refused before any LDAP"
    );
}

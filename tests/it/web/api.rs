//! The API surface that needs no directory: the OpenAPI document against the router, the
//! redeem API's refusals of what it cannot read, `/metrics` behind its bearer token.

use std::collections::BTreeSet;

use axum::http::{Method, StatusCode};

use crate::app::{METRICS_TOKEN, TestApp, Who};

/// `(method, path)` of every `/api/v1` route the router declares, read from the source of
/// `src/web/` (every file, so routers split per capability are read too): a route added
/// without a line in the document (or the reverse) fails the test below.
fn routed_api() -> BTreeSet<(String, String)> {
    let mut out = BTreeSet::new();
    let mut dirs = vec![std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/web")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let src = std::fs::read_to_string(&path).unwrap();
                // Not the routers unit tests build for themselves.
                let src = src.split("\nmod tests {").next().unwrap();
                routes_in(src, &mut out);
            }
        }
    }
    out
}

/// The `/api/v1` routes of `.route("path", handlers)` calls in `src`: the handlers' text runs
/// to the call's closing parenthesis; a method is a `get(`, `post(`, … in it.
fn routes_in(src: &str, out: &mut BTreeSet<(String, String)>) {
    for chunk in src.split(".route(").skip(1) {
        let Some(path) = chunk.split('"').nth(1) else {
            continue;
        };
        if !path.starts_with("/api/v1") {
            continue;
        }
        let mut depth = 1;
        let end = chunk
            .char_indices()
            .find(|(_, c)| {
                match c {
                    '(' => depth += 1,
                    ')' => depth -= 1,
                    _ => {}
                }
                depth == 0
            })
            .map_or(chunk.len(), |(at, _)| at);
        let call = &chunk[..end];
        for method in ["get", "post", "put", "patch", "delete"] {
            let named = call.match_indices(&format!("{method}(")).any(|(at, _)| {
                !call[..at]
                    .chars()
                    .next_back()
                    .is_some_and(|c| c.is_alphanumeric() || c == '_')
            });
            if named {
                out.insert((method.to_string(), path.to_string()));
            }
        }
    }
}

fn documented(spec: &serde_json::Value) -> BTreeSet<(String, String)> {
    spec["paths"]
        .as_object()
        .unwrap()
        .iter()
        .flat_map(|(path, ops)| {
            ops.as_object()
                .unwrap()
                .keys()
                .filter(|k| ["get", "post", "put", "patch", "delete"].contains(&k.as_str()))
                .map(|m| (m.clone(), path.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test]
async fn the_openapi_document_is_openapi_3_1_json() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/api/v1/openapi.json").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    let spec = r.json();
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["info"]["title"].is_string());
    assert!(spec["paths"]["/api/v1/computers/{name}"].is_object());
}

#[tokio::test]
async fn every_api_route_is_documented_and_every_documented_one_is_routed() {
    let app = TestApp::default_app().await;
    let spec = app
        .get(&Who::Anonymous, "/api/v1/openapi.json")
        .await
        .json();
    let mut routed = routed_api();
    // The document does not describe itself.
    assert!(routed.remove(&("get".into(), "/api/v1/openapi.json".into())));
    assert!(routed.len() >= 9, "the parse found the routes: {routed:?}");
    assert_eq!(routed, documented(&spec));
}

/// Each documented operation reaches a handler: no 405, and no bare router 404 (a handler's
/// own 404 is JSON with a request id, like every other API error).
#[tokio::test]
async fn every_documented_operation_reaches_a_handler() {
    let app = TestApp::default_app().await;
    let spec = app
        .get(&Who::Anonymous, "/api/v1/openapi.json")
        .await
        .json();
    for (method, path) in documented(&spec) {
        let concrete = path.replace("{name}", "PAR-WS001").replace("{jti}", "x");
        let method: Method = method.to_uppercase().parse().unwrap();
        let r = if method == Method::POST {
            app.post_json(&Who::Anonymous, &concrete, &serde_json::json!({}))
                .await
        } else {
            app.call(&Who::Anonymous, method.clone(), &concrete).await
        };
        assert_ne!(r.status, StatusCode::METHOD_NOT_ALLOWED, "{method} {path}");
        assert!(
            r.json().is_object(),
            "{method} {path}: a JSON answer ({}): {}",
            r.status,
            r.body
        );
    }
}

#[tokio::test]
async fn a_redeem_the_portal_cannot_read_is_400_with_its_code() {
    let app = TestApp::default_app().await;
    for body in [
        serde_json::json!({}),
        serde_json::json!({"token": "td1.garbage", "password": 5}),
    ] {
        let r = app
            .post_json(&Who::Anonymous, "/api/v1/redeem", &body)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "{body}: {}", r.body);
        // The API's one error shape, with the request id, as every other API error: a problem
        // document (RFC 9457) whose type is the code's.
        assert_eq!(r.header("content-type"), "application/problem+json");
        let json = r.json();
        assert_eq!(json["error"], "malformed", "{}", r.body);
        assert_eq!(
            json["type"], "urn:trustdesk:problem:malformed",
            "{}",
            r.body
        );
        assert_eq!(json["status"], 400, "{}", r.body);
        assert_eq!(json["title"], "Bad Request", "{}", r.body);
        assert_eq!(json["detail"], json["message"], "{}", r.body);
        assert!(json["message"].is_string(), "{}", r.body);
        assert!(
            json["request_id"]
                .as_str()
                .is_some_and(|id| !id.is_empty() && id != "-"),
            "{}",
            r.body
        );
    }
}

#[tokio::test]
async fn a_redeem_with_a_token_that_is_not_ours_is_refused_and_changes_nothing() {
    let app = TestApp::default_app().await;
    let before = super::audit_seq(&app).await;
    let body = serde_json::json!({"token": "td1.AAAA.BBBB", "password": "x".repeat(120)});
    let r = app
        .post_json(&Who::Anonymous, "/api/v1/redeem", &body)
        .await;
    assert!(r.status.is_client_error(), "{}: {}", r.status, r.body);
    assert!(r.json()["error"].is_string());
    assert!(
        super::audit_seq(&app).await >= before,
        "a refusal may be audited, never un-audited"
    );
}

/// M-1 (moved from `anon_flood.rs`, it needs no lab): redeems refused before any token row
/// is found (here: malformed tokens) are counted per client and audited at the 1st and 10th,
/// not one row each. The portal allows 30 in its burst so that the count, not the rate limit,
/// is what is seen.
#[tokio::test]
async fn junk_redeems_are_audited_as_counts() {
    let app = TestApp::new()
        .with_config(|c| c.limits.redeem_burst = 30)
        .start()
        .await;
    let before = app.store().audit_recent(1000).await.unwrap().len();
    for i in 0..25 {
        let body = serde_json::json!({ "token": format!("td1.junk{i}"), "password": "x" });
        let r = app
            .post_json(&Who::Anonymous, "/api/v1/redeem", &body)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST, "attempt {i}");
    }
    let after = app.store().audit_recent(1000).await.unwrap().len();
    assert_eq!(after - before, 2, "rows at the 1st and the 10th");
    let last = &super::audit_rows(&app, 1).await[0];
    assert_eq!(last.event.action, "redeem_token");
    assert!(
        last.event
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("10 refused redeem(s)")),
        "{:?}",
        last.event.reason
    );
}

#[tokio::test]
async fn an_unknown_repair_code_is_refused_with_its_code() {
    let app = TestApp::default_app().await;
    let r = app
        .post_json(
            &Who::Anonymous,
            "/api/v1/redeem/code",
            &serde_json::json!({}),
        )
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.json()["error"].is_string());
}

#[tokio::test]
async fn the_redeem_api_is_rate_limited_per_client() {
    let app = TestApp::new()
        .with_config(|c| {
            c.limits.redeem_burst = 2;
            c.limits.redeem_refill_secs = 3600;
        })
        .start()
        .await;
    let body = serde_json::json!({});
    for _ in 0..2 {
        let r = app
            .post_json(&Who::Anonymous, "/api/v1/redeem", &body)
            .await;
        assert_eq!(r.status, StatusCode::BAD_REQUEST);
    }
    let r = app
        .post_json(&Who::Anonymous, "/api/v1/redeem", &body)
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert_eq!(r.json()["error"], "rate_limited", "{}", r.body);
    assert!(r.json()["request_id"].is_string(), "{}", r.body);
}

/// Moved from `http.rs`: without the monitoring system's token, /metrics does not exist
/// (security review L-5).
#[tokio::test]
async fn metrics_is_404_without_the_bearer_token_or_with_a_wrong_one() {
    let app = TestApp::default_app().await;
    let r = app.get(&Who::Anonymous, "/metrics").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
    let r = app.get(&Who::Key("not-the-token".into()), "/metrics").await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn metrics_answers_the_monitoring_token_with_the_request_counts() {
    let app = TestApp::default_app().await;
    app.get(&Who::Anonymous, "/healthz").await;
    let r = app.get(&Who::Key(METRICS_TOKEN.into()), "/metrics").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/plain"));
    assert!(
        r.body.contains("trustdesk_http_requests_total"),
        "{}",
        r.body
    );
}

#[tokio::test]
async fn metrics_is_404_to_everyone_when_no_token_is_configured() {
    let app = TestApp::new()
        .with_config(|c| c.health.metrics_token = None)
        .start()
        .await;
    for who in [
        Who::Anonymous,
        Who::Key(METRICS_TOKEN.into()),
        Who::Key(String::new()),
    ] {
        let r = app.get(&who, "/metrics").await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{who:?}");
    }
}

/// #18 `GET /api/v1/audit`: the audit page's rows as JSON for an API key with `view_audit`,
/// with the page's filters and its chain fields; a filter it cannot read is a 400 problem.
#[tokio::test]
async fn the_audit_api_answers_the_pages_rows_as_json() {
    let app = TestApp::default_app().await;
    let auditor = app.key("auditor").await;
    // Something to find: a refusal of another key, audited as `denied`.
    let junior = app.key("junior").await;
    let r = app.get(&junior, "/api/v1/audit").await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);

    let r = app.get(&auditor, "/api/v1/audit").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let all = r.json();
    let rows = all["rows"].as_array().unwrap();
    assert!(!rows.is_empty(), "{}", r.body);
    assert!(all["next"].is_null(), "fewer than a page: {}", r.body);
    let seqs: Vec<i64> = rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] > w[1]),
        "newest first: {seqs:?}"
    );
    for row in rows {
        assert_eq!(row["hash"].as_str().map(str::len), Some(64), "{row}");
        assert!(row["at"].is_string() && row["action"].is_string(), "{row}");
    }

    let r = app.get(&auditor, "/api/v1/audit?outcome=denied").await;
    let denied = r.json()["rows"].as_array().unwrap().clone();
    assert!(!denied.is_empty(), "{}", r.body);
    assert!(
        denied.iter().all(|r| r["outcome"] == "denied"),
        "{}",
        r.body
    );

    // A query the extractor cannot read is the same problem document (axum's text as detail).
    let r = app.get(&auditor, "/api/v1/audit?before=soon").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/problem+json");
    let body = r.json();
    assert!(
        body["detail"].as_str().unwrap().contains("before"),
        "{}",
        r.body
    );
    assert_eq!(body["request_id"], r.request_id());

    let r = app.get(&auditor, "/api/v1/audit?from=yesterday").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert_eq!(r.header("content-type"), "application/problem+json");
    assert!(
        r.json()["detail"].as_str().unwrap().contains("from"),
        "{}",
        r.body
    );
}

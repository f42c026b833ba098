//! The pages over stored rows: the audit log (and its exports), the fleet report, the policy
//! page. Rows go in through the public `audit` and `Store` APIs, as the portal writes them;
//! hostile text in them comes out escaped.

use axum::http::StatusCode;
use trustdesk::audit::{self, Actor};

use crate::app::{BASE_DN, TestApp};

const HOSTILE: &str = "<script>alert(1)</script>";

/// An audit event by a person whose display name is hostile, about `PAR-WS001`.
async fn hostile_event(app: &TestApp, action: audit::Action, reason: &str) {
    let actor = Actor {
        sub: "mallory-sub".into(),
        name: Some(HOSTILE.into()),
        email: None,
        roles: vec!["senior".into()],
    };
    let event = audit::event(action, audit::Outcome::Success, trustdesk::clock::now())
        .actor(&actor)
        .target_name("PAR-WS001")
        .reason(reason);
    audit::record(app.store(), &event).await.unwrap();
}

#[tokio::test]
async fn the_audit_page_lists_stored_events_with_hostile_text_escaped() {
    let app = TestApp::default_app().await;
    hostile_event(&app, audit::Action::ResetAccount, "ticket INC-42").await;
    let auditor = app.signed_in_as("auditor").await;
    let r = app.get(&auditor, "/audit").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("PAR-WS001"));
    assert!(r.body.contains("reset_account"));
    assert!(r.body.contains("ticket INC-42"));
    assert!(!r.body.contains(HOSTILE), "never raw: {}", r.body);
    assert!(r.body.contains("&#60;script&#62;"), "escaped: {}", r.body);
}

#[tokio::test]
async fn the_audit_page_filters_by_action() {
    let app = TestApp::default_app().await;
    hostile_event(&app, audit::Action::ResetAccount, "first").await;
    hostile_event(&app, audit::Action::MintToken, "second").await;
    let auditor = app.signed_in_as("auditor").await;
    let r = app.get(&auditor, "/audit?action=mint_token").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.body.contains("second"), "{}", r.body);
    assert!(!r.body.contains(">first<"), "{}", r.body);
}

#[tokio::test]
async fn a_bad_audit_filter_is_a_400_page_naming_it() {
    let app = TestApp::default_app().await;
    let auditor = app.signed_in_as("auditor").await;
    let r = app.get(&auditor, "/audit?from=not-a-date").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST, "{}", r.body);
    assert!(r.body.contains(r.request_id()));
}

#[tokio::test]
async fn the_audit_csv_export_has_the_rows_formula_safe_and_is_audited() {
    let app = TestApp::default_app().await;
    hostile_event(
        &app,
        audit::Action::ResetAccount,
        "=HYPERLINK(\"http://evil\")",
    )
    .await;
    let auditor = app.signed_in_as("auditor").await;
    let r = app.get(&auditor, "/audit/export.csv").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.header("content-type").starts_with("text/csv"));
    assert!(
        r.header("content-disposition")
            .contains("trustdesk-audit.csv")
    );
    assert!(r.body.starts_with("seq,at,actor_sub"), "{}", r.body);
    assert!(r.body.contains("\"'=HYPERLINK"), "defused: {}", r.body);
    assert!(!r.body.contains(",\"=HYPERLINK"), "{}", r.body);
    let last = super::audit_rows(&app, 1).await;
    assert_eq!(last[0].event.action, "export_audit");
    assert_eq!(last[0].event.actor_sub.as_deref(), Some("auditor-sub"));
}

#[tokio::test]
async fn the_audit_jsonl_export_is_one_object_per_row() {
    let app = TestApp::default_app().await;
    hostile_event(&app, audit::Action::ResetAccount, "one").await;
    hostile_event(&app, audit::Action::MintToken, "two").await;
    let auditor = app.key("auditor").await;
    let r = app.get(&auditor, "/audit/export.jsonl").await;
    assert_eq!(r.status, StatusCode::OK);
    let lines: Vec<serde_json::Value> = r
        .body
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(lines.len() >= 2, "{}", r.body);
    assert!(lines.iter().any(|l| l["reason"] == "two"), "{}", r.body);
    assert!(lines.iter().all(|l| l["hash"].is_string()));
}

/// A complete fleet report of two rows: one in the senior's scope (Workstations), one
/// outside it (Servers).
async fn stored_report(app: &TestApp) -> i64 {
    let store = app.store();
    let t = trustdesk::clock::now() - time::Duration::minutes(5);
    let id = store.fleet_begin(t, "test", "instance-a").await.unwrap();
    let summary = format!("disabled {HOSTILE}");
    let row =
        |name: &str, ou: &str| crate::store::finding(name, &format!("{ou},{BASE_DN}"), &summary, t);
    let rows = [
        row("PAR-WS777", "OU=Paris,OU=Workstations"),
        row("SRV-DB9", "OU=Servers"),
    ];
    store.fleet_add_findings(id, &rows).await.unwrap();
    let end = crate::store::completed(t + time::Duration::seconds(3));
    store.fleet_finish(id, &end).await.unwrap();
    id
}

#[tokio::test]
async fn the_fleet_page_without_a_report_says_so_and_is_audited() {
    let app = TestApp::default_app().await;
    let senior = app.signed_in_as("senior").await;
    let r = app.get(&senior, "/fleet").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(!r.body.contains("PAR-WS777"));
    let last = super::audit_rows(&app, 1).await;
    assert_eq!(last[0].event.action, "fleet_view");
}

#[tokio::test]
async fn the_fleet_page_shows_a_stored_report_cut_to_the_viewers_scope() {
    let app = TestApp::default_app().await;
    stored_report(&app).await;
    let senior = app.signed_in_as("senior").await;
    let r = app.get(&senior, "/fleet").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("PAR-WS777"), "{}", r.body);
    assert!(!r.body.contains("SRV-DB9"), "outside the scope: {}", r.body);
    assert!(!r.body.contains(HOSTILE), "escaped");
    assert!(
        !r.body.contains("action=\"/fleet/scans\""),
        "a senior cannot start a scan"
    );
}

#[tokio::test]
async fn the_fleet_page_offers_a_scan_to_whoever_may_run_one() {
    let app = TestApp::default_app().await;
    let admin = app.signed_in_as("admin").await;
    let r = app.get(&admin, "/fleet").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("/fleet/scans"), "{}", r.body);
    assert!(r.body.contains(&format!("value=\"{}\"", admin.csrf())));
}

#[tokio::test]
async fn the_fleet_csv_export_has_the_rows_in_scope() {
    let app = TestApp::default_app().await;
    stored_report(&app).await;
    let senior = app.signed_in_as("senior").await;
    let r = app.get(&senior, "/fleet/export.csv").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("PAR-WS777"));
    assert!(!r.body.contains("SRV-DB9"));
}

#[tokio::test]
async fn the_fleet_api_gives_the_report_in_scope_to_a_key() {
    let app = TestApp::default_app().await;
    let id = stored_report(&app).await;
    let key = app.key("senior").await;
    let r = app.get(&key, "/api/v1/fleet").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("PAR-WS777"), "{}", r.body);
    assert!(!r.body.contains("SRV-DB9"), "{}", r.body);
    assert!(r.body.contains(&id.to_string()));
    let r = app.get(&key, "/api/v1/fleet/progress").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
}

#[tokio::test]
async fn the_policy_page_shows_an_admin_every_role_and_the_protections() {
    let app = TestApp::new()
        .with_config(|c| {
            c.domains[0].protected_ous = vec![format!("OU=Protected,{BASE_DN}")];
            c.domains[0].protected_groups = vec![format!("CN=Tier0 <b>,OU=Groups,{BASE_DN}")];
        })
        .start()
        .await;
    let admin = app.signed_in_as("admin").await;
    let r = app.get(&admin, "/policy").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (role, _, _) in crate::app::ROLES {
        assert!(r.body.contains(role), "{role}: {}", r.body);
    }
    // Shown as the policy compares it: normalised, lower case.
    assert!(r.body.contains("ou=protected,dc=lab"), "{}", r.body);
    assert!(r.body.contains("Tier0 &#60;b&#62;"), "escaped: {}", r.body);
}

#[tokio::test]
async fn the_policy_page_shows_anyone_else_only_their_own_roles() {
    let app = TestApp::default_app().await;
    let junior = app.signed_in_as("junior").await;
    let r = app.get(&junior, "/policy").await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert!(r.body.contains("junior"));
    assert!(!r.body.contains("auditor"), "{}", r.body);
}

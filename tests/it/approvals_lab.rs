//! #18 against the lab, through the automation API with API keys of each role: four eyes on a
//! junior's changes in OU=Servers (request, self-approval refused, a non-approver refused, a
//! senior's approval, the token to its requester only and once, an expired request, a deny and
//! an approved reset, each audited with both names), and a mint by API redeemed by the real
//! companion client on the Samba member, told to a webhook receiver on loopback with a valid
//! signature.

use std::time::Duration;

use serde_json::{Value, json};

use crate::common::{Lab, Portal, browser_for, install_crypto, lab, start_portal_roles};
use crate::labctl::{admin, create_computer, random_pw};
use crate::webhooks::{Receiver, SECRET};

/// The roles of these tests: a junior whose mints and resets in OU=Servers wait for a senior.
pub(crate) fn roles(base: &str) -> String {
    format!(
        r#"
[roles.senior]
groups = ["helpdesk-senior"]
actions = ["lookup", "diagnose", "mint_token", "revoke_token", "reset_account"]
scopes = ["OU=Workstations,{base}", "OU=Servers,{base}"]

[roles.junior]
groups = ["helpdesk-junior-paris"]
actions = ["lookup", "diagnose", "mint_token", "reset_account"]
scopes = ["OU=Workstations,{base}", "OU=Servers,{base}"]
approval = {{ actions = ["mint_token", "reset_account"], scopes = ["OU=Servers,{base}"], approvers = ["senior"], expires_minutes = 30 }}

[roles.auditor]
groups = ["security-auditors"]
actions = ["view_audit", "export_audit"]
"#
    )
}

/// A `[[webhooks]]` table sending `events` to `url`.
pub fn hook(url: &str, events: &[&str]) -> String {
    format!("\n[[webhooks]]\nurl = {url:?}\nevents = {events:?}\nsecret = {SECRET:?}\n")
}

/// The portal's webhook tasks, as `serve` starts them.
pub async fn webhooks_of(p: &Portal) -> trustdesk::webhooks::Running {
    let timing = trustdesk::webhooks::Timing {
        poll: Duration::from_millis(100),
        ..Default::default()
    };
    trustdesk::webhooks::Webhooks::new(&p.state.config.webhooks, p.state.store.clone(), timing)
        .unwrap()
        .expect("a hook is configured")
        .start()
        .await
        .unwrap()
}

/// An HTTP client that presents API key `key` on every request.
pub fn with_key(p: &Portal, key: &str) -> reqwest::Client {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        reqwest::header::AUTHORIZATION,
        format!("Bearer {key}").parse().unwrap(),
    );
    let mut b = reqwest::Client::builder()
        .default_headers(headers)
        .redirect(reqwest::redirect::Policy::none());
    if let Some(ca) = &p.ca {
        let pem = std::fs::read(ca).unwrap();
        b = b.add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap());
    }
    b.build().unwrap()
}

/// A new API key named `name` for `role`, and a client that presents it.
pub async fn caller(p: &Portal, name: &str, role: &str) -> reqwest::Client {
    let key = trustdesk::auth::api_keys::create(&p.state.store, name, role)
        .await
        .unwrap();
    with_key(p, &key)
}

/// `POST base+path` with a JSON body (`{}` when none): the status and the JSON answer.
pub async fn post(
    c: &reqwest::Client,
    p: &Portal,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let r = c
        .post(format!("{}{path}", p.base))
        .json(&body.unwrap_or_else(|| json!({})))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn get(c: &reqwest::Client, p: &Portal, path: &str) -> (u16, Value) {
    crate::common::api_get(c, &p.base, path).await
}

/// The audit events of `action` about `name`, oldest first.
async fn events(
    p: &Portal,
    action: trustdesk::audit::Action,
    name: &str,
) -> Vec<trustdesk::db::AuditRow> {
    let f = trustdesk::db::AuditFilter {
        action: Some(action.as_str().to_string()),
        target: Some(name.to_string()),
        ..Default::default()
    };
    let mut rows = p.state.store.audit_query(&f, i64::MAX, 500).await.unwrap();
    rows.reverse();
    rows
}

/// A server in OU=Servers the tests may change, settled on every DC.
pub(crate) async fn server(lab: &Lab, p: &Portal, c: &reqwest::Client, name: &str) -> String {
    let mut dc = admin(&lab.ldaps_url).await;
    let dn = create_computer(&mut dc, lab, name, "OU=Servers", &random_pw()).await;
    crate::e2e_repair::settled_diagnosis(c, p, name).await;
    dn
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_juniors_change_on_a_server_waits_for_a_senior_and_is_audited_with_both_names() {
    install_crypto();
    let lab = lab();
    let hooks = Receiver::start().await;
    let roles = roles(&lab.base_dn)
        + &hook(
            &hooks.url,
            &["approval.requested", "approval.decided", "repair.completed"],
        );
    let p = start_portal_roles(&lab, "", &roles).await;
    let _hooks = webhooks_of(&p).await;
    let junior = caller(&p, "appr-junior", "junior").await;
    let junior2 = caller(&p, "appr-junior-2", "junior").await;
    let senior = caller(&p, "appr-senior", "senior").await;
    let auditor = caller(&p, "appr-auditor", "auditor").await;
    const NAME: &str = "T-APPROVE";
    let dn = server(&lab, &p, &senior, NAME).await;
    let tokens = format!("/api/v1/computers/{NAME}/tokens");

    // A cookie-less route that changes something takes API keys only.
    let anonymous = browser_for(None);
    let (status, body) = post(&anonymous, &p, &tokens, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("API key"),
        "{body}"
    );

    // 1. the junior's mint on a server waits; a request needs a ticket
    let (status, body) = post(&junior, &p, &tokens, None).await;
    assert_eq!(status, 400, "{body}");
    let (status, asked) = post(&junior, &p, &tokens, Some(json!({"ticket": "INC0042"}))).await;
    assert_eq!(status, 202, "{asked}");
    assert_eq!(asked["state"], "pending");
    assert_eq!(asked["approvers"], "senior");
    assert!(asked.get("token").is_none(), "{asked}");
    let id = asked["id"].as_str().unwrap().to_string();
    assert_eq!(asked["requester_sub"], "api-key:appr-junior");

    // 2. nobody approves their own request; a junior is not an approver; nothing to collect yet
    let (status, body) = post(
        &junior,
        &p,
        &format!("/api/v1/approvals/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("own request"),
        "{body}"
    );
    let (status, body) = post(
        &junior2,
        &p,
        &format!("/api/v1/approvals/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("senior"),
        "{body}"
    );
    let (status, body) = post(
        &auditor,
        &p,
        &format!("/api/v1/approvals/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 403, "an auditor decides nothing: {body}");
    let (status, body) = post(&auditor, &p, &tokens, Some(json!({"ticket": "INC0042"}))).await;
    assert_eq!(status, 403, "nor mints: {body}");
    let collect = format!("/api/v1/approvals/{id}/token");
    let (status, body) = post(&junior, &p, &collect, None).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("waits for approval"),
        "{body}"
    );
    // The other junior cannot even see it; the senior's queue lists it.
    let (status, _) = get(&junior2, &p, &format!("/api/v1/approvals/{id}")).await;
    assert_eq!(status, 404);
    let (_, queue) = get(&senior, &p, "/api/v1/approvals?waiting=true").await;
    assert!(
        queue["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .any(|a| a["id"] == id.as_str()),
        "{queue}"
    );

    // 3. a senior approves (once); only the junior collects the token, once
    let (status, body) = post(
        &senior,
        &p,
        &format!("/api/v1/approvals/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approval"]["state"], "approved");
    assert_eq!(body["approval"]["decider_sub"], "api-key:appr-senior");
    let (status, _) = post(
        &senior,
        &p,
        &format!("/api/v1/approvals/{id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 409, "decided already");
    let (status, _) = post(&senior, &p, &collect, None).await;
    assert_eq!(status, 404, "the token is the requester's");
    let (status, minted) = post(&junior, &p, &collect, None).await;
    assert_eq!(status, 201, "{minted}");
    assert!(minted["token"].as_str().unwrap().len() > 100, "{minted}");
    let jti = minted["jti"].as_str().unwrap().to_string();
    let (status, body) = post(&junior, &p, &collect, None).await;
    assert_eq!(status, 409, "shown once: {body}");
    let (_, listed) = get(&senior, &p, &tokens).await;
    let row = listed["tokens"]
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["jti"] == jti.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["approval_id"], id.as_str(), "{row}");
    assert_eq!(row["issued_by_sub"], "api-key:appr-junior");
    assert!(
        !listed
            .to_string()
            .contains(minted["token"].as_str().unwrap())
    );
    // Every step named both people.
    let approve = events(&p, trustdesk::audit::Action::ApprovalApprove, NAME).await;
    let ok = approve
        .iter()
        .find(|r| r.event.outcome == "success")
        .unwrap();
    assert_eq!(ok.event.actor_sub.as_deref(), Some("api-key:appr-senior"));
    assert!(
        ok.event
            .reason
            .as_deref()
            .unwrap()
            .contains("api-key:appr-junior"),
        "{ok:?}"
    );
    let refused: Vec<_> = approve
        .iter()
        .filter(|r| r.event.outcome == "denied")
        .collect();
    assert!(
        refused.len() >= 3,
        "own, not an approver, decided already: {refused:?}"
    );
    let mint = events(&p, trustdesk::audit::Action::MintToken, NAME).await;
    let mint = mint.last().unwrap();
    assert_eq!(mint.event.actor_sub.as_deref(), Some("api-key:appr-junior"));
    assert!(
        mint.event
            .reason
            .as_deref()
            .unwrap()
            .contains("approved by API key appr-senior"),
        "{mint:?}"
    );
    assert_eq!(mint.event.ticket.as_deref(), Some("INC0042"));

    // 4. an expired request cannot be approved
    let now = trustdesk::clock::now();
    let mut old = p.state.store.approval(&id).await.unwrap().unwrap();
    old.id = "expired0000000000000000000000000".into();
    old.state = trustdesk::db::ApprovalState::Pending;
    old.created_at = now - time::Duration::hours(3);
    old.expires_at = now - time::Duration::hours(1);
    (
        old.decided_at,
        old.decider_iss,
        old.decider_sub,
        old.decider_name,
    ) = (None, None, None, None);
    (old.used_at, old.detail) = (None, None);
    p.state.store.insert_approval(&old).await.unwrap();
    let (status, body) = post(
        &senior,
        &p,
        &format!("/api/v1/approvals/{}/approve", old.id),
        None,
    )
    .await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("expired"),
        "{body}"
    );
    let (_, seen) = get(&senior, &p, &format!("/api/v1/approvals/{}", old.id)).await;
    assert_eq!(seen["state"], "expired", "{seen}");
    let (_, queue) = get(&senior, &p, "/api/v1/approvals?waiting=true").await;
    assert!(!queue.to_string().contains(&old.id), "not waiting: {queue}");

    // 5. a deny, audited with both names; then an approved reset, which runs at once
    let reset = format!("/api/v1/computers/{NAME}/reset");
    let (status, asked) = post(&junior, &p, &reset, Some(json!({"ticket": "INC0043"}))).await;
    assert_eq!(status, 202, "{asked}");
    let denied_id = asked["id"].as_str().unwrap();
    let (status, body) = post(
        &senior,
        &p,
        &format!("/api/v1/approvals/{denied_id}/deny"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approval"]["state"], "denied");
    let deny = events(&p, trustdesk::audit::Action::ApprovalDeny, NAME).await;
    let deny = deny.iter().find(|r| r.event.outcome == "success").unwrap();
    assert_eq!(deny.event.actor_sub.as_deref(), Some("api-key:appr-senior"));
    assert!(
        deny.event
            .reason
            .as_deref()
            .unwrap()
            .contains("API key appr-junior (api-key:appr-junior)"),
        "{deny:?}"
    );
    assert_eq!(deny.event.ticket.as_deref(), Some("INC0043"));
    let (status, _) = post(
        &senior,
        &p,
        &format!("/api/v1/approvals/{denied_id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 409, "a denied request stays denied");

    let (status, asked) = post(&junior, &p, &reset, Some(json!({"ticket": "INC0044"}))).await;
    assert_eq!(status, 202, "{asked}");
    let reset_id = asked["id"].as_str().unwrap();
    // Disabled since the request: the reset the approval would run is refused now, and the
    // request waits again rather than being spent.
    let mut dc = admin(&lab.ldaps_url).await;
    crate::labctl::set_attr(&mut dc, &dn, "userAccountControl", "4098").await;
    let approve = format!("/api/v1/approvals/{reset_id}/approve");
    let (status, body) = post(&senior, &p, &approve, None).await;
    assert_eq!(status, 403, "{body}");
    let (_, now) = get(&junior, &p, &format!("/api/v1/approvals/{reset_id}")).await;
    assert_eq!(now["state"], "pending", "{now}");
    let approvals = events(&p, trustdesk::audit::Action::ApprovalApprove, NAME).await;
    let failed = approvals
        .iter()
        .rfind(|r| r.event.outcome == "failure")
        .unwrap();
    assert!(
        failed
            .event
            .reason
            .as_deref()
            .unwrap()
            .contains("waits again"),
        "{failed:?}"
    );
    crate::labctl::set_attr(&mut dc, &dn, "userAccountControl", "4096").await;
    crate::e2e_repair::settled_diagnosis(&senior, &p, NAME).await;
    let (status, body) = post(
        &senior,
        &p,
        &format!("/api/v1/approvals/{reset_id}/approve"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["approval"]["state"], "used");
    assert!(
        body["dc"].as_str().unwrap().contains("lab.example.test"),
        "{body}"
    );
    let resets = events(&p, trustdesk::audit::Action::ResetAccount, NAME).await;
    let done = resets
        .iter()
        .find(|r| r.event.outcome == "success")
        .unwrap();
    assert_eq!(done.event.actor_sub.as_deref(), Some("api-key:appr-junior"));
    assert!(
        done.event
            .reason
            .as_deref()
            .unwrap()
            .contains("approved by API key appr-senior"),
        "{done:?}"
    );

    // 6. the ticketing system heard of each request and decision, and of the reset
    let heard = crate::webhooks::eventually_got(&hooks, |got| {
        let kinds: Vec<&str> = got.iter().map(|g| g.event.as_str()).collect();
        kinds.iter().filter(|k| **k == "approval.requested").count() >= 3
            && kinds.iter().filter(|k| **k == "approval.decided").count() >= 3
            && kinds.contains(&"repair.completed")
    })
    .await;
    assert!(heard.iter().all(|g| g.verified.is_ok()), "{heard:?}");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn an_api_mint_redeemed_on_the_member_is_told_to_a_webhook_receiver() {
    install_crypto();
    let lab = lab();
    let _member = crate::e2e_repair::MEMBER.lock().await;
    let conf = crate::e2e_repair::env("LAB_MEMBER_CONF");
    let member = crate::e2e_repair::env("LAB_MEMBER_NAME");
    let hooks = Receiver::start().await;
    let extra = format!(
        "{}{}",
        crate::watch_lab::SHORT_WATCH,
        hook(
            &hooks.url,
            &["token.minted", "repair.completed", "repair.failed"]
        )
    );
    let p = crate::common::start_portal_with(
        &lab,
        &crate::e2e_repair::member_portal_db(),
        &extra,
        true,
    )
    .await;
    let _hooks = webhooks_of(&p).await;
    let senior = caller(&p, "e2e-ticketing", "senior").await;
    crate::e2e_repair::settled_diagnosis(&senior, &p, &member).await;

    let (status, minted) = post(
        &senior,
        &p,
        &format!("/api/v1/computers/{member}/tokens"),
        Some(json!({"ticket": "INC0099"})),
    )
    .await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["token"].as_str().unwrap();
    let out = crate::e2e_repair::run_client(&p, &senior, &conf, token).await;
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        crate::e2e_repair::testjoin(&conf),
        "the channel works after the repair"
    );

    let heard = crate::webhooks::eventually_got(&hooks, |got| {
        got.iter().any(|g| g.event == "repair.completed")
    })
    .await;
    let done = heard
        .iter()
        .find(|g| g.event == "repair.completed")
        .unwrap();
    assert!(done.verified.is_ok(), "{done:?}");
    let body: Value = serde_json::from_str(&done.body).unwrap();
    assert_eq!(body["type"], "repair.completed");
    assert_eq!(
        body["computer"]["name"].as_str().unwrap().to_uppercase(),
        member.to_uppercase()
    );
    assert_eq!(body["ticket"], "INC0099");
    assert!(heard.iter().any(|g| g.event == "token.minted"), "{heard:?}");
    assert!(
        heard.iter().all(|g| !g.body.contains(token)),
        "no token in any body"
    );
}

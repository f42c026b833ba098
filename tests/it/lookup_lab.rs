//! Lookup against the lab DC: exact and prefix searches, scopes, the injection corpus, DC
//! failover, API keys.

use crate::common::{api_get, browser, install_crypto, lab, sign_in, start_portal, top_cause};

/// The names in a prefix search's JSON answer.
fn match_names(body: &serde_json::Value) -> Vec<&str> {
    body.as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect()
}

fn enc(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn exact_names_go_to_the_diagnosis_and_prefixes_list_matches() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let c = browser();
    sign_in(&c, &p.base, "alice", "alice-pw").await;

    for input in [
        "PAR-WS001",
        "par-ws001",
        "PAR-WS001$",
        "par-ws001.lab.example.test",
    ] {
        let r = c
            .get(format!("{}/computers?q={}", p.base, enc(input)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 303, "{input}");
        // The page in its domain (issue #19: URLs carry the domain).
        assert_eq!(
            r.headers()["location"],
            "/computers/lab.example.test/PAR-WS001",
            "{input}"
        );
    }
    let r = c
        .get(format!("{}/computers?q=PAR-WS", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let html = r.text().await.unwrap();
    for n in ["PAR-WS001", "PAR-WS002", "PAR-WS003"] {
        assert!(
            html.contains(&format!("/computers/lab.example.test/{n}")),
            "{n} listed"
        );
    }
    assert!(!html.contains("BER-WS"), "only names with the prefix");

    let (status, body) = api_get(&c, &p.base, "/api/v1/computers?prefix=PAR-WS").await;
    assert_eq!(status, 200);
    let names = match_names(&body);
    assert!(
        names.contains(&"PAR-WS001") && names.iter().all(|n| n.starts_with("PAR-WS")),
        "{names:?}"
    );

    let (status, r) = api_get(&c, &p.base, "/api/v1/computers/PAR-WS001").await;
    assert_eq!(status, 200, "{r}");
    assert!(r["account"]["dn"].as_str().unwrap().contains("OU=Paris"));
    assert!(!top_cause(&r).is_empty());
    assert!(
        r["diagnosis"]["per_dc"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
    );

    let (status, r) = api_get(&c, &p.base, "/api/v1/computers/NO-SUCH-PC").await;
    assert_eq!(status, 200);
    assert_eq!(top_cause(&r), "account_missing");
    assert_eq!(r["diagnosis"]["verdict"]["state"], "broken", "{r:#}");
    assert!(r["diagnosis"]["verdict"]["primary"].is_null(), "{r:#}");

    // The page opens with the verdict in plain words; the cause code is small print below it.
    let page = crate::common::get_text(&c, &format!("{}/computers/PAR-WS001", p.base)).await;
    let (headline, code) = (
        page.find("id=\"headline\"").expect("a headline"),
        page.find("id=\"top-cause\"").expect("the cause code"),
    );
    assert!(headline < code, "{page}");
    assert!(page.contains("pwdLastSet"), "{page}");
    let page = crate::common::get_text(&c, &format!("{}/computers/NO-SUCH-PC", p.base)).await;
    assert!(page.contains("no computer account in AD"), "{page}");
    assert!(!page.contains("id=\"primary-repair\""), "{page}");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_junior_sees_only_their_site() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let c = browser();
    sign_in(&c, &p.base, "bob", "bob-pw").await;
    let (status, body) = api_get(&c, &p.base, "/api/v1/computers?prefix=BER").await;
    assert_eq!(status, 200);
    assert_eq!(body, serde_json::json!([]), "Berlin is outside bob's scope");
    let (status, body) = api_get(&c, &p.base, "/api/v1/computers/BER-WS001").await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("outside the OUs"),
        "{body}"
    );
    // Where it is and where bob may look: he can hand the call on.
    let said = body["message"].as_str().unwrap();
    assert!(
        said.contains("BER-WS001 is in OU=Berlin,OU=Workstations,")
            && said.contains("(ou=paris,ou=workstations,"),
        "{said}"
    );
    let (status, _) = api_get(&c, &p.base, "/api/v1/computers/PAR-WS001").await;
    assert_eq!(status, 200);
    // An auditor may not look computers up at all.
    let c = browser();
    sign_in(&c, &p.base, "carol", "carol-pw").await;
    let (status, _) = api_get(&c, &p.base, "/api/v1/computers?prefix=PAR").await;
    assert_eq!(status, 403);
}

/// A role with `hide_outside_scope`: a computer outside its scopes and a name that does not
/// exist get the same answer, so a junior cannot learn which names exist elsewhere.
#[tokio::test]
#[ignore = "needs the lab"]
async fn a_role_that_hides_the_rest_cannot_tell_elsewhere_from_nowhere() {
    install_crypto();
    let lab = lab();
    let hiding = format!(
        "\n[roles.junior-hidden]\ngroups = [\"helpdesk-junior-paris\"]\nactions = [\"lookup\"]\nscopes = [\"OU=Paris,OU=Workstations,{}\"]\nhide_outside_scope = true\n",
        lab.base_dn
    );
    let p = start_portal(&lab, &hiding).await;
    let c = browser();
    sign_in(&c, &p.base, "bob", "bob-pw").await;
    let answer = |name: &'static str| {
        let c = c.clone();
        let base = p.base.clone();
        async move {
            let (status, body) = api_get(&c, &base, &format!("/api/v1/computers/{name}")).await;
            let message = body["message"].as_str().unwrap().replace(name, "NAME");
            (status, message)
        }
    };
    let elsewhere = answer("BER-WS001").await;
    let nowhere = answer("NO-SUCH-PC-9").await;
    assert_eq!(elsewhere.0, 403);
    assert_eq!(elsewhere, nowhere, "one answer for both");
    assert!(!elsewhere.1.contains("Berlin"), "{elsewhere:?}");
    // The same on the page.
    for name in ["BER-WS001", "NO-SUCH-PC-9"] {
        let r = c
            .get(format!("{}/computers/{name}", p.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403);
        let html = r.text().await.unwrap();
        assert!(
            html.contains(&format!("no computer named {name} in the OUs")),
            "{html}"
        );
    }
    let (status, _) = api_get(&c, &p.base, "/api/v1/computers/PAR-WS001").await;
    assert_eq!(status, 200, "his own site still answers");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn the_injection_corpus_gets_clean_errors_never_a_wider_search() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    let long = "A".repeat(5000);
    let corpus = [
        "*",
        "PAR*",
        "*)(objectClass=*",
        ")(",
        "PAR-WS001)(|(cn=*",
        "\\",
        "\\2a",
        "a\0b",
        "ПК-01",
        "é",
        "a b",
        &long,
        "(",
        "%00",
        "$",
    ];
    for bad in corpus {
        let (status, body) = api_get(
            &c,
            &p.base,
            &format!("/api/v1/computers?prefix={}", enc(bad)),
        )
        .await;
        assert_eq!(status, 400, "prefix {bad:?}: {body}");
        assert!(
            body["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty() && !m.contains("LDAP")),
            "{body}"
        );
        let (status, _) = api_get(&c, &p.base, &format!("/api/v1/computers/{}", enc(bad))).await;
        assert!(status == 400 || status == 404, "name {bad:?}: {status}");
        let r = c
            .get(format!("{}/computers?q={}", p.base, enc(bad)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "page {bad:?}");
        assert!(r.text().await.unwrap().contains("id=\"error\""));
    }
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn with_the_first_dc_dead_lookups_go_through_the_next() {
    install_crypto();
    let mut lab = lab();
    // A dead port first, the real DC second.
    lab.dc2_ldaps_url = Some(lab.ldaps_url.clone());
    lab.ldaps_url = "ldaps://127.0.0.2:1".into();
    let p = start_portal(&lab, "").await;
    let c = browser();
    sign_in(&c, &p.base, "alice", "alice-pw").await;
    let (status, r) = api_get(&c, &p.base, "/api/v1/computers/PAR-WS001").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["account"]["sam_account_name"], "PAR-WS001$");
    let (status, body) = api_get(&c, &p.base, "/api/v1/computers?prefix=PAR-WS").await;
    assert_eq!(status, 200);
    assert!(!body.as_array().unwrap().is_empty());
    // The failing DC is counted for alerting.
    let metrics = crate::common::metrics_text(&p.base).await;
    assert!(
        metrics.contains(
            r#"trustdesk_ldap_dc_failures_total{dc="ldaps://127.0.0.2:1",stage="connect"}"#
        ),
        "{metrics}"
    );
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn api_keys_authenticate_ticketing_automation() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let key = trustdesk::auth::api_keys::create(&p.state.store, "ticketing", "senior")
        .await
        .unwrap();
    assert!(key.starts_with("tdk_"));
    let c = reqwest::Client::new();
    let r = c
        .get(format!("{}/api/v1/computers/PAR-WS001", p.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let r = c
        .get(format!("{}/api/v1/computers/PAR-WS001", p.base))
        .bearer_auth("tdk_wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = c
        .get(format!("{}/api/v1/computers/PAR-WS001", p.base))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    assert!(r.text().await.unwrap().contains("Bearer"));
    assert!(
        p.state
            .store
            .revoke_api_key("ticketing", trustdesk::clock::now())
            .await
            .unwrap()
    );
    let r = c
        .get(format!("{}/api/v1/computers/PAR-WS001", p.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401, "a revoked key stops working");
    // Only the hash is stored.
    let rows = p.state.store.audit_recent(50).await.unwrap();
    assert!(
        rows.iter()
            .any(|r| r.event.actor_sub.as_deref() == Some("api-key:ticketing"))
    );
    assert!(!format!("{rows:?}").contains(&key));
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn per_user_limits_apply_with_a_clear_message() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let c = browser();
    sign_in(&c, &p.base, "bob", "bob-pw").await;
    // The junior role allows 40 lookups, diagnoses and repairs per hour.
    for i in 0..40 {
        let (status, body) = api_get(&c, &p.base, "/api/v1/computers?prefix=PAR-WS").await;
        assert_eq!(status, 200, "call {i}: {body}");
    }
    let (status, body) = api_get(&c, &p.base, "/api/v1/computers?prefix=PAR-WS").await;
    assert_eq!(status, 429, "{body}");
    assert!(
        body["message"].as_str().unwrap().contains("limit of 40"),
        "{body}"
    );
    let rows = p.state.store.audit_recent(5).await.unwrap();
    assert!(rows.iter().any(|r| {
        r.event.outcome == "denied"
            && r.event
                .reason
                .as_deref()
                .unwrap_or("")
                .contains("rate limit")
    }));
    // Another user is not affected.
    let c2 = browser();
    sign_in(&c2, &p.base, "alice", "alice-pw").await;
    assert_eq!(
        api_get(&c2, &p.base, "/api/v1/computers?prefix=PAR-WS")
            .await
            .0,
        200
    );
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_role_caps_the_token_lifetime() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let c = browser();
    sign_in(&c, &p.base, "bob", "bob-pw").await;
    let csrf = crate::common::csrf(&c, &p.base).await;
    let (status, html) = crate::repair_lab::post_mint(
        &c,
        &p.base,
        "PAR-WS002",
        &[("csrf", csrf.as_str()), ("lifetime_minutes", "60")],
    )
    .await;
    assert_eq!(status, 200);
    assert!(
        html.contains("Valid for 10 minutes"),
        "the junior role caps tokens at 10 minutes"
    );
    let r = c
        .post(format!("{}/computers/BER-WS001/tokens", p.base))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a junior mints only in their site");
}

/// DNS names are found through the indexed NetBIOS name or SPN first; a machine whose DNS
/// name matches neither (renamed, no SPN) is still found, by the full search.
#[tokio::test]
#[ignore = "needs the lab"]
async fn dns_names_find_truncated_and_renamed_machines() {
    use crate::labctl::{admin, create_computer, random_pw, set_attr};
    install_crypto();
    let lab = lab();
    let mut dc1 = admin(&lab.ldaps_url).await;
    let ou = "OU=Berlin,OU=Workstations";
    // A 17-character host name: Windows cuts its NetBIOS name to 15.
    let long = create_computer(&mut dc1, &lab, "T-LONGNAME-ABCD", ou, &random_pw()).await;
    set_attr(
        &mut dc1,
        &long,
        "dNSHostName",
        "t-longname-abcdef.lab.example.test",
    )
    .await;
    // Renamed in DNS only: neither its NetBIOS name nor an SPN says so.
    let renamed = create_computer(&mut dc1, &lab, "T-RENAMED", ou, &random_pw()).await;
    set_attr(
        &mut dc1,
        &renamed,
        "dNSHostName",
        "kiosk-7.lab.example.test",
    )
    .await;

    let p = start_portal(&lab, "").await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    for (dns, name) in [
        ("T-LongName-ABCDEF.lab.example.test", "T-LONGNAME-ABCD"),
        ("kiosk-7.lab.example.test", "T-RENAMED"),
        ("par-ws001.lab.example.test", "PAR-WS001"),
    ] {
        let (status, r) = api_get(&c, &p.base, &format!("/api/v1/computers/{dns}")).await;
        assert_eq!(status, 200, "{dns}: {r}");
        assert_eq!(r["name"], name, "{dns}");
        assert_ne!(top_cause(&r), "account_missing", "{dns}");
    }
    let (status, r) = api_get(
        &c,
        &p.base,
        "/api/v1/computers/nobody-here.lab.example.test",
    )
    .await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(top_cause(&r), "account_missing", "{r}");
    // A DNS prefix lists by its complete first label.
    let (status, r) = api_get(
        &c,
        &p.base,
        "/api/v1/computers?prefix=t-longname-abcdef.lab",
    )
    .await;
    assert_eq!(status, 200, "{r}");
    let names = match_names(&r);
    assert_eq!(names, ["T-LONGNAME-ABCD"]);
    let _ = dc1.delete(&long).await;
    let _ = dc1.delete(&renamed).await;
}

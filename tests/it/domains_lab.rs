//! Two managed domains in one portal (`[[domains]]`, issue #19), against the lab's two separate
//! forests (`lab/lab.sh up --forest2`): LAB.EXAMPLE.TEST and FOREST2.EXAMPLE.TEST, each with its
//! own DC, CA and service account, both holding a `PAR-WS001`. Every name form, the choice
//! for a name in both, and a scope matrix: a role scoped to the first forest can do nothing in
//! the second.

use crate::common::{install_crypto, lab};

pub(crate) fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: this test needs `lab/lab.sh up --forest2` (lab/lab.sh run -- …)")
    })
}

/// A portal managing both forests. Roles: `both` may look up and diagnose in both forests;
/// `first` may look up, diagnose, mint and reset in the first forest only. Returns the base URL
/// and the two roles' API keys.
async fn two_domain_portal(dir: &std::path::Path) -> (String, String, String) {
    let (url, both, first, _) = two_domain_app(dir).await;
    (url, both, first)
}

/// [`two_domain_portal`], with the app's state.
async fn two_domain_app(
    dir: &std::path::Path,
) -> (String, String, String, trustdesk::web::AppState) {
    let domains = crate::common::both_forests_domains(&env("LAB_F2_CA"));
    two_domain_app_with(dir, &domains).await
}

/// [`two_domain_app`] with these `[[domains]]`.
pub(crate) async fn two_domain_app_with(
    dir: &std::path::Path,
    domains: &str,
) -> (String, String, String, trustdesk::web::AppState) {
    let (base1, base2) = (lab().base_dn, env("LAB_F2_BASEDN"));
    let toml = format!(
        r#"listen = "127.0.0.1:0"
data_dir = {data:?}

{domains}
[oidc]
issuer = "http://127.0.0.1:9"
client_id = "portal"
client_secret = "portal-secret"

[roles.both]
groups = ["both"]
actions = ["lookup", "diagnose", "view_audit", "run_fleet_scan"]
scopes = [{base1:?}, {base2:?}]

[roles.first]
groups = ["first"]
actions = ["lookup", "diagnose", "mint_token", "reset_account"]
scopes = [{base1:?}]
"#,
        data = dir.join("data").display().to_string(),
    );
    let cfg = crate::common::load_config(dir, &toml);
    assert!(!cfg.single_ldap);
    let state = trustdesk::build(cfg).await.unwrap();
    let both = trustdesk::auth::api_keys::create(&state.store, "both", "both")
        .await
        .unwrap();
    let first = trustdesk::auth::api_keys::create(&state.store, "first", "first")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(trustdesk::serve(listener, state.clone()));
    (url, both, first, state)
}

/// GET `path` with `key`, redirects not followed: status, `Location`, body.
pub(crate) async fn get(base: &str, key: &str, path: &str) -> (u16, String, String) {
    let c = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = c
        .get(format!("{base}{path}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let location = r
        .headers()
        .get("location")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    (status, location, r.text().await.unwrap())
}

pub(crate) fn json(body: &str) -> serde_json::Value {
    serde_json::from_str(body).unwrap_or_else(|e| panic!("{e}: {body}"))
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn each_name_form_finds_its_domains_computer_and_a_name_in_both_gets_a_choice() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (base, both, _) = two_domain_portal(dir.path()).await;
    let (dns1, dns2) = (env("LAB_DNSDOMAIN"), env("LAB_F2_DNSDOMAIN"));
    let (nb1, nb2) = (env("LAB_DOMAIN"), env("LAB_F2_DOMAIN"));
    let (base1, base2) = (lab().base_dn, env("LAB_F2_BASEDN"));
    let dn = |b: &str| format!("CN=PAR-WS001,OU=Paris,OU=Workstations,{b}");

    // A bare name in both forests: the choice, never a guess (API and page alike).
    let (status, _, body) = get(&base, &both, "/api/v1/computers/PAR-WS001").await;
    assert_eq!(status, 300, "{body}");
    let choices = json(&body)["choices"].clone();
    let mut got: Vec<(String, String, String)> = choices
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let s = |k: &str| c[k].as_str().unwrap_or_default().to_string();
            (s("domain"), s("dn"), s("path"))
        })
        .collect();
    got.sort();
    let mut want = vec![
        (
            dns1.clone(),
            dn(&base1),
            format!("/computers/{dns1}/PAR-WS001"),
        ),
        (
            dns2.clone(),
            dn(&base2),
            format!("/computers/{dns2}/PAR-WS001"),
        ),
    ];
    want.sort();
    assert_eq!(got, want);
    let (status, _, page) = get(&base, &both, "/computers/PAR-WS001").await;
    assert_eq!(status, 300);
    // The search box's exact name in both forests goes to that choice, not to either one.
    let (status, location, _) = get(&base, &both, "/computers?q=par-ws001").await;
    assert_eq!((status, location.as_str()), (303, "/computers/PAR-WS001"));
    for d in [&dns1, &dns2] {
        assert!(
            page.contains(&format!("href=\"/computers/{d}/PAR-WS001\"")),
            "{page}"
        );
    }

    // Every qualified form reaches its own forest's object.
    for (path, domain, want_dn) in [
        (
            format!("/api/v1/computers/{nb1}%5CPAR-WS001"),
            &dns1,
            dn(&base1),
        ),
        (
            format!("/api/v1/computers/{nb2}%5CPAR-WS001"),
            &dns2,
            dn(&base2),
        ),
        (
            format!("/api/v1/computers/{dns2}%5CPAR-WS001"),
            &dns2,
            dn(&base2),
        ),
        (
            format!("/api/v1/computers/{dns1}/PAR-WS001"),
            &dns1,
            dn(&base1),
        ),
        (
            format!("/api/v1/computers/{dns2}/PAR-WS001"),
            &dns2,
            dn(&base2),
        ),
        (
            format!("/api/v1/computers/{nb2}/PAR-WS001"),
            &dns2,
            dn(&base2),
        ),
    ] {
        let (status, _, body) = get(&base, &both, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        let r = json(&body);
        assert_eq!(r["domain"], domain.as_str(), "{path}");
        assert_eq!(r["account"]["dn"], want_dn.as_str(), "{path}");
    }
    // The page in a domain is its computer's; the old URL of a qualified name redirects there.
    let (status, _, page) = get(&base, &both, &format!("/computers/{dns2}/PAR-WS001")).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("Domain {dns2}")), "{page}");
    let (status, location, _) = get(&base, &both, &format!("/computers/{nb2}%5CPAR-WS001")).await;
    assert_eq!(
        (status, location.as_str()),
        (303, format!("/computers/{dns2}/PAR-WS001").as_str())
    );
    // A domain nobody manages is a clear 400, not "not found".
    let (status, _, body) = get(&base, &both, "/api/v1/computers/NOPE%5CPAR-WS001").await;
    assert_eq!(status, 400, "{body}");
    assert!(
        body.contains("No domain this portal manages is named NOPE"),
        "{body}"
    );

    // A name in neither forest, asked for in the second: reported missing there.
    let (status, _, body) = get(
        &base,
        &both,
        &format!("/api/v1/computers/{dns2}/NO-SUCH-PC9"),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let r = json(&body);
    assert_eq!(
        (r["domain"].as_str(), r["account"].is_null()),
        (Some(dns2.as_str()), true)
    );
    let (_, _, body) = get(&base, &both, "/api/v1/audit?target=NO-SUCH-PC9").await;
    assert!(body.contains(&format!("not in {dns2}")), "{body}");

    // The audit names the domain: the diagnoses by their DNs, the choice by its domains.
    let (_, _, body) = get(&base, &both, "/api/v1/audit?target=PAR-WS001").await;
    let page = json(&body);
    let rows = page["rows"].as_array().unwrap();
    let dns_of: Vec<&str> = rows
        .iter()
        .filter_map(|r| r["target_dn"].as_str())
        .collect();
    assert!(dns_of.iter().any(|d| d.ends_with(&base1)), "{body}");
    assert!(dns_of.iter().any(|d| d.ends_with(&base2)), "{body}");
    assert!(
        rows.iter().any(|r| r["reason"]
            .as_str()
            .is_some_and(|s| s.contains(&dns1) && s.contains(&dns2))),
        "{body}"
    );
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_role_scoped_to_the_first_forest_can_do_nothing_in_the_second() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (base, _, first) = two_domain_portal(dir.path()).await;
    let (dns1, dns2, nb2) = (
        env("LAB_DNSDOMAIN"),
        env("LAB_F2_DNSDOMAIN"),
        env("LAB_F2_DOMAIN"),
    );
    // The bare name: only the first forest's is in its scopes, so that is the one, no choice.
    let (status, _, body) = get(&base, &first, "/api/v1/computers/PAR-WS001").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(json(&body)["domain"], dns1.as_str());
    // The second forest's, by every form: refused.
    for path in [
        format!("/api/v1/computers/{dns2}/PAR-WS001"),
        format!("/api/v1/computers/{nb2}%5CPAR-WS001"),
        format!("/computers/{dns2}/PAR-WS001"),
    ] {
        let (status, _, body) = get(&base, &first, &path).await;
        assert_eq!(status, 403, "{path}: {body}");
    }
    // The listing shows only the first forest's.
    let (status, _, body) = get(&base, &first, "/api/v1/computers?prefix=PAR-WS00").await;
    assert_eq!(status, 200, "{body}");
    let listed = json(&body);
    let domains: std::collections::BTreeSet<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|m| m["domain"].as_str())
        .collect();
    assert_eq!(
        domains,
        std::collections::BTreeSet::from([dns1.as_str()]),
        "{body}"
    );
    // Changes in the second forest: refused before anything is written.
    let c = reqwest::Client::new();
    for (what, path, body) in [
        (
            "mint",
            format!("/api/v1/computers/{nb2}%5CPAR-WS001/tokens"),
            serde_json::json!({"ticket": "INC-1"}),
        ),
        (
            "reset",
            format!("/api/v1/computers/{nb2}%5CPAR-WS001/reset"),
            serde_json::json!({"ticket": "INC-1"}),
        ),
    ] {
        let r = c
            .post(format!("{base}{path}"))
            .bearer_auth(&first)
            .json(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(
            r.status().as_u16(),
            403,
            "{what}: {}",
            r.text().await.unwrap()
        );
    }
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn one_fleet_report_covers_both_forests_and_the_page_filters_by_domain() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (base, both, _, state) = two_domain_app(dir.path()).await;
    let (dns1, dns2) = (env("LAB_DNSDOMAIN"), env("LAB_F2_DNSDOMAIN"));
    let grant = trustdesk::policy::Grant::for_service();
    let (id, outcome) = state
        .fleet
        .run(&grant, &state.scan, "test", &|_| {})
        .await
        .unwrap();
    let outcome = outcome.unwrap();
    // Each forest scanned on its own DC, its computers counted under its own name.
    let parts: Vec<(&str, u64)> = outcome
        .domains
        .iter()
        .map(|d| (d.domain.as_str(), d.scanned))
        .collect();
    assert_eq!(parts.len(), 2, "{parts:?}");
    assert_eq!((parts[0].0, parts[1].0), (dns1.as_str(), dns2.as_str()));
    assert!(parts.iter().all(|(_, n)| *n > 0), "{parts:?}");
    assert_eq!(outcome.scanned, parts[0].1 + parts[1].1);
    assert!(outcome.dc.contains(&format!("({dns2})")), "{}", outcome.dc);
    // The report's at-risk rows name their domains (the first forest's fixtures are at risk;
    // the second forest's computers may all be healthy); the filter keeps one domain's.
    let (status, _, body) = get(&base, &both, "/api/v1/fleet").await;
    assert_eq!(status, 200, "{body}");
    let report = json(&body);
    assert_eq!(report["report"], id);
    let rows = report["at_risk"].as_array().unwrap();
    let domains: std::collections::BTreeSet<&str> =
        rows.iter().filter_map(|r| r["domain"].as_str()).collect();
    assert!(domains.contains(dns1.as_str()), "{body}");
    assert!(domains.iter().all(|d| *d == dns1 || *d == dns2), "{body}");
    let (status, _, page) = get(&base, &both, &format!("/fleet?domain={dns1}")).await;
    assert_eq!(status, 200);
    assert!(page.contains(&format!("/computers/{dns1}/")), "{page}");
    let (status, _, page) = get(&base, &both, &format!("/fleet?domain={dns2}")).await;
    assert_eq!(status, 200);
    assert!(!page.contains(&format!("/computers/{dns1}/")), "{page}");
}

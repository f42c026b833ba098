//! The lab's second, separate forest (`lab/lab.sh up --forest2`): FOREST2.EXAMPLE.TEST on its
//! own loopback address, with its own CA, service account and computers, some named as in the
//! first forest (PAR-WS001). The ground several managed domains stand on: a portal configured
//! for it diagnoses its computers, and the first forest's CA does not verify its DC.

use crate::common::{install_crypto, lab};

/// A `LAB_F2_*` variable: the test fails, never skips, without the second forest.
fn f2(k: &str) -> String {
    std::env::var(format!("LAB_F2_{k}")).unwrap_or_else(|_| {
        panic!("LAB_F2_{k} is not set: this test needs `lab/lab.sh up --forest2`")
    })
}

/// A portal whose one domain is the second forest, its CA file `ca`; its base URL and an API
/// key of a role that may look up and diagnose anything in that forest.
async fn forest2_portal(dir: &std::path::Path, ca: &str) -> (String, String) {
    let lab = lab();
    let base = f2("BASEDN");
    let toml = format!(
        r#"listen = "127.0.0.1:0"
data_dir = {data:?}

[ldap]
urls = [{url:?}]
base_dn = {base:?}
bind_dn = {upn:?}
bind_password = {pw:?}
ca_file = {ca:?}
connect_timeout_secs = 3

[oidc]
issuer = "http://127.0.0.1:9"
client_id = "portal"
client_secret = "portal-secret"

[roles.f2]
groups = ["f2"]
actions = ["lookup", "diagnose"]
scopes = [{base:?}]
"#,
        data = dir.join("data").display().to_string(),
        url = f2("LDAPS_URL"),
        upn = f2("SVC_UPN"),
        pw = lab.svc_pw,
    );
    let cfg = crate::common::load_config(dir, &toml);
    let state = trustdesk::build(cfg).await.unwrap();
    let key = trustdesk::auth::api_keys::create(&state.store, "forest2", "f2")
        .await
        .unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(trustdesk::serve(listener, state));
    (url, key)
}

async fn diagnosis(base: &str, key: &str, name: &str) -> (u16, serde_json::Value) {
    let r = reqwest::Client::new()
        .get(format!("{base}/api/v1/computers/{name}"))
        .bearer_auth(key)
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn the_second_forest_is_diagnosed_with_its_own_ca_and_refused_with_the_firsts() {
    install_crypto();
    let first = lab();
    let dir = tempfile::tempdir().unwrap();
    let (base, key) = forest2_portal(dir.path(), &f2("CA")).await;
    // PAR-WS001 exists in both forests; this portal's domain is the second one.
    let (status, r) = diagnosis(&base, &key, "PAR-WS001").await;
    assert_eq!(status, 200, "{r}");
    let dn = r["account"]["dn"].as_str().unwrap_or_default();
    assert_eq!(
        dn,
        format!("CN=PAR-WS001,OU=Paris,OU=Workstations,{}", f2("BASEDN")),
        "{r}"
    );
    assert!(!dn.ends_with(&first.base_dn), "{dn}");
    // The first forest's CA does not vouch for the second forest's DC: no DC answers.
    let other = tempfile::tempdir().unwrap();
    let (base, key) = forest2_portal(other.path(), first.ca.to_str().unwrap()).await;
    let (status, r) = diagnosis(&base, &key, "PAR-WS001").await;
    assert_eq!(status, 503, "{r}");
}

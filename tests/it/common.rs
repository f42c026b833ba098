//! Helpers shared by the integration modules.

use std::path::{Path, PathBuf};

use trustdesk::config::Config;

/// The running lab, as `lab/lab.sh run` exports it.
pub struct Lab {
    pub ldaps_url: String,
    pub ca: PathBuf,
    pub svc_upn: String,
    pub svc_pw: String,
    pub base_dn: String,
}

fn lab_required() -> bool {
    std::env::var("CI").is_ok_and(|v| v == "true" || v == "1")
        || std::env::var("TD_REQUIRE_LAB").is_ok_and(|v| v == "1")
}

/// The lab, or `None` (skip) when it is not up and not required. Required and missing: panic,
/// so the test fails rather than silently passing.
pub fn lab() -> Option<Lab> {
    let get = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    match (
        get("LAB_LDAPS_URL"),
        get("LAB_CA"),
        get("LAB_SVC_UPN"),
        get("LAB_SVC_PW"),
        get("LAB_BASEDN"),
    ) {
        (Some(ldaps_url), Some(ca), Some(svc_upn), Some(svc_pw), Some(base_dn)) => Some(Lab {
            ldaps_url,
            ca: PathBuf::from(ca),
            svc_upn,
            svc_pw,
            base_dn,
        }),
        _ => {
            assert!(
                !lab_required(),
                "the lab is required (CI=true or TD_REQUIRE_LAB=1) but LAB_* is not set: run inside `lab/lab.sh run -- …`"
            );
            eprintln!("skipped: lab not up (run the README test command)");
            None
        }
    }
}

/// PostgreSQL for the store suite: `TD_TEST_PG_URL`, default the local server.
pub fn pg_admin_url() -> String {
    std::env::var("TD_TEST_PG_URL")
        .unwrap_or_else(|_| "postgres://trustdesk:trustdesk@127.0.0.1:5432/postgres".into())
}

pub fn install_crypto() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}

/// A config file for tests: `ldap_urls` in order, the lab CA, SQLite in `dir`.
pub fn config_toml(dir: &Path, ldap_urls: &[&str], ca: &Path, lab: &Lab) -> String {
    let urls = ldap_urls
        .iter()
        .map(|u| format!("{u:?}"))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        r#"listen = "127.0.0.1:0"
public_url = "http://127.0.0.1:8080"
data_dir = {data:?}

[ldap]
urls = [{urls}]
base_dn = {base:?}
bind_dn = {bind:?}
bind_password = {pw:?}
ca_file = {ca:?}
connect_timeout_secs = 3

[oidc]
issuer = "http://127.0.0.1:9400"
client_id = "portal"
client_secret = "portal-secret"
"#,
        data = dir.join("data").display().to_string(),
        base = lab.base_dn,
        bind = lab.svc_upn,
        pw = lab.svc_pw,
        ca = ca.display().to_string(),
    )
}

pub fn load_config(dir: &Path, toml: &str) -> Config {
    let path = dir.join("trustdesk.toml");
    std::fs::write(&path, toml).unwrap();
    Config::load(Some(&path)).unwrap()
}

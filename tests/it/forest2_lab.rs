//! The lab's second, separate forest (`lab/lab.sh up --forest2`): FOREST2.EXAMPLE.TEST on its
//! own loopback address, with its own CA, service account and computers, some named as in the
//! first forest (PAR-WS001), and its own Samba member workstation F2WS01. The ground several
//! managed domains stand on: a portal configured for it diagnoses its computers, the first
//! forest's CA does not verify its DC, and a token repairs its member end to end.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::common::{install_crypto, lab};

/// A lab variable: the test fails, never skips, without it.
fn var(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} is not set: this test needs `lab/lab.sh up --forest2`, and runs inside `lab/lab.sh run`")
    })
}

/// A `LAB_F2_*` variable: the test fails, never skips, without the second forest.
fn f2(k: &str) -> String {
    var(&format!("LAB_F2_{k}"))
}

/// A portal whose one domain is the second forest, behind a TLS front (the companion client
/// speaks HTTPS only).
struct F2Portal {
    /// The portal itself, for the API calls.
    base: String,
    /// Its public URL, the TLS front: what its tokens name and the client calls.
    public: String,
    /// The CA file that verifies the front.
    front_ca: PathBuf,
    /// An API key of a role that may look up, diagnose and mint for anything in that forest.
    key: String,
}

/// [`F2Portal`] in `dir`, verifying the second forest's DC with the CA file `ca`.
async fn forest2_portal(dir: &Path, ca: &str) -> F2Portal {
    let base = f2("BASEDN");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let internal = format!("http://{}", listener.local_addr().unwrap());
    let (front_ca, cert, cert_key) = crate::tap::test_pki(dir);
    let (public, _redeems) = crate::tap::start(internal.clone(), &cert, &cert_key).await;
    let toml = format!(
        r#"listen = "127.0.0.1:0"
public_url = {public:?}
data_dir = {data:?}

# Both forests managed (issue #19): the first, then the second, with the CA under test. The
# role may act in the second only; a token names its domain, and the redeem writes there.
{domains}
[oidc]
issuer = "http://127.0.0.1:9"
client_id = "portal"
client_secret = "portal-secret"

[roles.f2]
groups = ["f2"]
actions = ["lookup", "diagnose", "mint_token"]
scopes = [{base:?}]
"#,
        data = dir.join("data").display().to_string(),
        domains = crate::common::both_forests_domains(ca),
    );
    let cfg = crate::common::load_config(dir, &toml);
    let state = trustdesk::build(cfg).await.unwrap();
    let key = trustdesk::auth::api_keys::create(&state.store, "forest2", "f2")
        .await
        .unwrap();
    tokio::spawn(trustdesk::serve(listener, state));
    F2Portal {
        base: internal,
        public,
        front_ca,
        key,
    }
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
    let p = forest2_portal(dir.path(), &f2("CA")).await;
    // PAR-WS001 exists in both forests; this portal's role may look in the second only.
    let (status, r) = diagnosis(&p.base, &p.key, "PAR-WS001").await;
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
    let p = forest2_portal(other.path(), first.ca.to_str().unwrap()).await;
    let (status, r) = diagnosis(&p.base, &p.key, "PAR-WS001").await;
    assert_eq!(status, 503, "{r}");
    // Still ready (the first forest answers), and the body says which domain does not.
    let r = reqwest::get(format!("{}/readyz", p.base)).await.unwrap();
    assert_eq!(r.status().as_u16(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["directory"]["status"], "degraded", "{body}");
    assert_eq!(
        body["directory"]["domains"][f2("DNSDOMAIN")],
        "unavailable",
        "{body}"
    );
}

/// A DC-side reset of `dn` to a random password, as the second forest's Administrator with
/// `ldapmodify` over LDAPS verified against its CA (as `reset_ldif` in lab/lib.sh does): the
/// member still holds the old secret, so its channel breaks.
fn reset_on_forest2_dc(dn: &str) {
    use base64::Engine;
    use std::io::Write;
    let pw = crate::labctl::random_pw();
    let ldif = format!(
        "dn: {dn}\nchangetype: modify\nreplace: unicodePwd\nunicodePwd:: {}\n-\n",
        base64::engine::general_purpose::STANDARD.encode(crate::labctl::quoted_utf16(&pw))
    );
    // The admin password in a file (-y), out of the process list, as the lab scripts do.
    let dir = tempfile::tempdir().unwrap();
    let pw_file = dir.path().join("admin.pw");
    std::fs::write(&pw_file, f2("ADMIN_PW")).unwrap();
    let mut child = Command::new("ldapmodify")
        .args(["-x", "-H", &f2("LDAPS_URL"), "-D", &f2("ADMIN_UPN"), "-y"])
        .arg(&pw_file)
        .env("LDAPTLS_REQCERT", "demand")
        .env("LDAPTLS_CACERT", f2("CA"))
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(ldif.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "ldapmodify (reset of {dn}): {:?}\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A token for `name` through the automation API (`POST /api/v1/computers/{name}/tokens`).
async fn mint_by_api(p: &F2Portal, name: &str) -> String {
    let r = reqwest::Client::new()
        .post(format!("{}/api/v1/computers/{name}/tokens", p.base))
        .bearer_auth(&p.key)
        .json(&serde_json::json!({ "ticket": "INC-F2 F2WS01 lost its trust" }))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body: serde_json::Value = r.json().await.unwrap_or_default();
    assert_eq!(status, 201, "mint for {name}: {body}");
    let token = body["token"].as_str().unwrap_or_default().to_string();
    assert!(token.starts_with("td1."), "{body}");
    token
}

/// The companion client (Samba backend) redeeming `token` on the second forest's member: the
/// same binary and flags as for LABWS01 (`e2e_repair`), run in that member's view of the lab
/// (`lab.sh run --member f2`: its smb.conf, its KDC). Its configuration pins the portal's
/// current signing key and trusts the front's CA.
async fn redeem_on_f2_member(p: &F2Portal, token: &str) -> std::process::Output {
    let keys: serde_json::Value = reqwest::Client::new()
        .get(format!("{}/api/v1/token-key", p.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let current = keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == keys["current"])
        .unwrap();
    let pin = format!(
        "{}:{}",
        current["kid"].as_str().unwrap(),
        current["public_key"].as_str().unwrap()
    );
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("client.toml");
    std::fs::write(
        &cfg,
        format!(
            "portal_url = {:?}\npublic_keys = [{pin:?}]\nca_file = {:?}\nbackend = \"samba\"\nsamba_conf = {:?}\n",
            p.public,
            p.front_ca.display().to_string(),
            f2("MEMBER_CONF")
        ),
    )
    .unwrap();
    tokio::process::Command::new(var("LAB_SCRIPT"))
        .args(["run", "--member", "f2", "--"])
        .arg(crate::e2e_repair::client_binary())
        .arg("--config")
        .arg(&cfg)
        .arg("redeem")
        .env("TRUSTDESK_TOKEN", token)
        .output()
        .await
        .unwrap()
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_token_repairs_the_second_forests_member_after_a_dc_side_reset() {
    install_crypto();
    let (name, dn) = (f2("MEMBER_NAME"), f2("MEMBER_DN"));
    assert!(dn.ends_with(&f2("BASEDN")), "{dn} is in the second forest");
    // 1. The member is joined to the second forest, and its channel to f2dc1 works.
    assert!(
        crate::e2e_repair::lab_member(&["member-testjoin", "--member", "f2"]),
        "net rpc testjoin on {name} passes before the test"
    );

    // 2. Its Administrator resets the account on the DC: the member's secret is stale.
    reset_on_forest2_dc(&dn);
    assert!(
        !crate::e2e_repair::lab_member(&["member-testjoin", "--member", "f2"]),
        "after the DC-side reset {name}'s channel is broken"
    );

    // 3. A portal for the second forest mints a token for it through the API.
    let dir = tempfile::tempdir().unwrap();
    let p = forest2_portal(dir.path(), &f2("CA")).await;
    let token = mint_by_api(&p, &name).await;

    // 4. The companion client redeems it on the member.
    let out = redeem_on_f2_member(&p, &token).await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed ({:?}):\n{stderr}{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout)
    );
    assert!(
        !stderr.contains(&token),
        "the client never prints the token"
    );

    // 5. The channel works again (NETLOGON schannel), and so does a Kerberos logon at f2dc1.
    assert!(
        crate::e2e_repair::lab_member(&["member-testjoin", "--member", "f2"]),
        "net rpc testjoin on {name} passes after the repair"
    );
    assert!(
        crate::e2e_repair::lab_member(&["member-testjoin", "--member", "f2", "--kerberos"]),
        "the KDC of the second forest takes the repaired secret"
    );
    // The portal saw its repair complete. (No "healthy" asserted: this portal's database is
    // new, so on a lab where the test ran before, the earlier runs' resets and repairs count as
    // password churn, `clone_suspected`.)
    let (status, r) = diagnosis(&p.base, &p.key, &name).await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(r["account"]["dn"], dn.as_str(), "{r}");
    assert!(
        r["diagnosis"]["findings"]
            .to_string()
            .contains("portal_repair_completed"),
        "{r:#}"
    );
}

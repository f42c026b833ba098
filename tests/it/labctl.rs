//! Driving the lab directory as its Administrator, to build each scenario for real.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, Mod, Scope, SearchEntry};

use crate::common::Lab;

/// Held by every test that changes the lab's topology (a DC stopped, DC2's inbound
/// replication off), so that no two overlap.
pub static TOPOLOGY: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

pub async fn admin(url: &str) -> Ldap {
    let roots =
        trustdesk::directory::tls::load_ca(std::path::Path::new(&std::env::var("LAB_CA").unwrap()))
            .unwrap();
    let cfg = rustls::ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let (conn, mut ldap) =
        LdapConnAsync::with_settings(LdapConnSettings::new().set_config(Arc::new(cfg)), url)
            .await
            .unwrap();
    ldap3::drive!(conn);
    ldap.simple_bind(
        &std::env::var("LAB_ADMIN_UPN").unwrap(),
        &std::env::var("LAB_ADMIN_PW").unwrap(),
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    ldap
}

pub fn quoted_utf16(pw: &str) -> Vec<u8> {
    format!("\"{pw}\"")
        .encode_utf16()
        .flat_map(u16::to_le_bytes)
        .collect()
}

/// A random 32-char password.
pub fn random_pw() -> String {
    let mut b = [0u8; 24];
    getrandom::fill(&mut b).unwrap();
    use base64::Engine;
    format!(
        "Lab-{}",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b)
    )
}

/// Create an enabled workstation account with a password under `ou` (an RDN path below the
/// base, e.g. "OU=Berlin,OU=Workstations"). Deletes a leftover of the same name first.
pub async fn create_computer(ldap: &mut Ldap, lab: &Lab, name: &str, ou: &str, pw: &str) -> String {
    let dn = format!("CN={name},{ou},{}", lab.base_dn);
    let _ = ldap.delete(&dn).await;
    let sam = format!("{name}$");
    let dns = format!("{}.lab.example.test", name.to_ascii_lowercase());
    ldap.add(
        &dn,
        vec![
            ("objectClass", HashSet::from(["computer"])),
            ("sAMAccountName", HashSet::from([sam.as_str()])),
            ("userAccountControl", HashSet::from(["4096"])),
            ("dNSHostName", HashSet::from([dns.as_str()])),
        ],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
    set_password(ldap, &dn, pw).await;
    dn
}

pub async fn set_password(ldap: &mut Ldap, dn: &str, pw: &str) {
    ldap.modify(
        dn,
        vec![Mod::Replace(
            b"unicodePwd".to_vec(),
            HashSet::from([quoted_utf16(pw)]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
}

pub async fn set_attr(ldap: &mut Ldap, dn: &str, attr: &str, value: &str) {
    ldap.modify(
        dn,
        vec![Mod::Replace(
            attr.as_bytes().to_vec(),
            HashSet::from([value.as_bytes().to_vec()]),
        )],
    )
    .await
    .unwrap()
    .success()
    .unwrap();
}

pub async fn read_attr(ldap: &mut Ldap, dn: &str, attr: &str) -> Option<String> {
    let (entries, _) = ldap
        .search(dn, Scope::Base, "(objectClass=*)", vec![attr])
        .await
        .ok()?
        .success()
        .ok()?;
    let e = SearchEntry::construct(entries.into_iter().next()?);
    e.attrs.get(attr).and_then(|v| v.first().cloned())
}

/// Authenticate as the machine account with Kerberos (a real logon on the KDC at DC1).
pub fn kinit(name: &str, pw: &str) -> bool {
    kinit_with(None, name, pw)
}

/// The same, with this krb5.conf (`LAB_DC3_KRB5_CONF`: a logon at DC3 only), or the lab's.
pub fn kinit_with(krb5_conf: Option<&str>, name: &str, pw: &str) -> bool {
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let mut cmd = std::process::Command::new("kinit");
    if let Some(conf) = krb5_conf {
        cmd.env("KRB5_CONFIG", conf);
    }
    let mut child = cmd
        .arg(format!("{name}$@{}", std::env::var("LAB_REALM").unwrap()))
        .env(
            "KRB5CCNAME",
            format!("FILE:{}", dir.path().join("cc").display()),
        )
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("kinit (krb5-user) must be installed; run inside lab/lab.sh run");
    let _ = child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{pw}\n").as_bytes());
    child.wait().unwrap().success()
}

/// Wait until `read` on DC2 returns `want` (replication), at most 30 s.
pub async fn wait_replicated(dc2: &mut Ldap, dn: &str, attr: &str, want: &str) {
    for _ in 0..120 {
        if read_attr(dc2, dn, attr).await.as_deref() == Some(want) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    panic!("{dn} {attr} did not replicate to DC2 within 30 s");
}

/// `samba-tool drs ARGS` as the lab's Administrator, against DC1's configuration.
fn samba_tool_drs(args: &[&str]) {
    let out = std::process::Command::new("samba-tool")
        .arg("drs")
        .args(args)
        .arg(format!(
            "-U{}%{}",
            std::env::var("LAB_ADMIN_UPN").unwrap(),
            std::env::var("LAB_ADMIN_PW").unwrap()
        ))
        .arg("-s")
        .arg(std::env::var("LAB_DC1_SMBCONF").unwrap())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "samba-tool drs {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// `samba-tool drs replicate DEST SOURCE <domain>`: make `dest` pull from `source` now (DC
/// host names, `dc1.lab.example.test`), instead of waiting for a change notification that a
/// DC restarted moments ago may not send.
pub fn replicate_now(dest: &str, source: &str) {
    samba_tool_drs(&[
        "replicate",
        dest,
        source,
        &std::env::var("LAB_BASEDN").unwrap(),
    ]);
}

/// Every other DC of the lab (DC2, and DC3 when it is up) pulls the domain from DC1 now. Hold
/// [`TOPOLOGY`]: a test holding it may have turned a DC's inbound replication off.
pub fn replicate_from_dc1() {
    let source = std::env::var("LAB_DC_NAME").unwrap();
    for dest in ["LAB_DC2_NAME", "LAB_DC3_HOST"] {
        if let Ok(dest) = std::env::var(dest) {
            replicate_now(&dest, &source);
        }
    }
}

/// `samba-tool drs options dc2 --dsa-option=±DISABLE_INBOUND_REPL` (inside the lab namespace).
pub fn dc2_inbound(enabled: bool) {
    let opt = if enabled {
        "-DISABLE_INBOUND_REPL"
    } else {
        "+DISABLE_INBOUND_REPL"
    };
    samba_tool_drs(&[
        "options",
        &std::env::var("LAB_DC2_NAME").unwrap(),
        &format!("--dsa-option={opt}"),
    ]);
}

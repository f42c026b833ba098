//! `trustdesk check-config`: bad configuration gives one line naming the problem, never a panic.

use std::process::Command;

pub fn check(toml: &str, extra_env: &[(&str, &str)], offline: bool) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trustdesk"));
    cmd.arg("--config").arg(&path).arg("check-config");
    if offline {
        cmd.arg("--offline");
    }
    // Only this test's variables: none of the caller's TRUSTDESK_* leak in.
    for (k, _) in std::env::vars() {
        if k.starts_with("TRUSTDESK_") {
            cmd.env_remove(k);
        }
    }
    for (k, v) in extra_env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (out.status.success(), stderr)
}

pub const GOOD: &str = r#"
[ldap]
urls = ["ldaps://127.0.0.2"]
base_dn = "DC=lab,DC=example,DC=test"
bind_dn = "svc-trustdesk@lab.example.test"
bind_password = "s3cret-bind-pw"

[oidc]
issuer = "http://127.0.0.1:9400"
client_id = "portal"
client_secret = "s3cret-client"
"#;

pub fn one_error_line(stderr: &str) -> &str {
    let lines: Vec<&str> = stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(lines.len(), 1, "exactly one error line: {stderr}");
    lines[0]
}

#[test]
fn a_good_config_passes_offline() {
    let (ok, err) = check(GOOD, &[], true);
    assert!(ok, "{err}");
}

#[test]
fn an_unknown_key_is_named() {
    let (ok, err) = check(
        &GOOD.replace("[oidc]", "[oidc]\nclient_sekret = \"x\""),
        &[],
        true,
    );
    assert!(!ok);
    let line = one_error_line(&err);
    assert!(line.contains("client_sekret"), "{line}");
}

#[test]
fn a_missing_secret_is_named_without_echoing_others() {
    let (ok, err) = check(
        &GOOD.replace("bind_password = \"s3cret-bind-pw\"", ""),
        &[],
        true,
    );
    assert!(!ok);
    let line = one_error_line(&err);
    assert!(line.contains("ldap.bind_password"), "{line}");
    assert!(
        line.contains("TRUSTDESK_LDAP__BIND_PASSWORD_FILE"),
        "{line}"
    );
    assert!(!line.contains("s3cret-client"));
}

#[test]
fn a_secret_can_come_from_a_file() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("pw");
    std::fs::write(&secret, "from-a-file\n").unwrap();
    let toml = GOOD.replace("bind_password = \"s3cret-bind-pw\"", "");
    let (ok, err) = check(
        &toml,
        &[(
            "TRUSTDESK_LDAP__BIND_PASSWORD_FILE",
            secret.to_str().unwrap(),
        )],
        true,
    );
    assert!(ok, "{err}");
    let (ok, err) = check(
        &toml,
        &[("TRUSTDESK_LDAP__BIND_PASSWORD_FILE", "/nonexistent/pw")],
        true,
    );
    assert!(!ok);
    assert!(one_error_line(&err).contains("/nonexistent/pw"));
}

#[test]
fn an_unreadable_ca_file_is_named() {
    let toml = GOOD.replace("[oidc]", "ca_file = \"/nonexistent/ca.pem\"\n\n[oidc]");
    let (ok, err) = check(&toml, &[], true);
    assert!(!ok);
    let line = one_error_line(&err);
    assert!(
        line.contains("ldap.ca_file") && line.contains("/nonexistent/ca.pem"),
        "{line}"
    );
}

#[test]
fn an_out_of_range_dc_rest_is_named() {
    let toml = GOOD.replace("[oidc]", "retry_after_secs = 9223372036854775807\n\n[oidc]");
    let (ok, err) = check(&toml, &[], true);
    assert!(!ok);
    assert!(
        one_error_line(&err).contains("ldap.retry_after_secs"),
        "{err}"
    );
}

#[test]
fn plain_ldap_without_starttls_is_refused() {
    let (ok, err) = check(
        &GOOD.replace("ldaps://127.0.0.2", "ldap://127.0.0.2"),
        &[],
        true,
    );
    assert!(!ok);
    assert!(one_error_line(&err).contains("StartTLS"));
}

#[test]
fn an_unreachable_dc_is_named() {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    let (ok, err) = check(
        &GOOD.replace("ldaps://127.0.0.2", "ldaps://127.0.0.1:1"),
        &[],
        false,
    );
    assert!(!ok);
    let line = one_error_line(&err);
    assert!(line.contains("ldaps://127.0.0.1:1"), "{line}");
    assert!(!line.contains("s3cret-bind-pw"));
}

#[test]
fn a_missing_config_file_is_named() {
    let out = Command::new(env!("CARGO_BIN_EXE_trustdesk"))
        .args(["--config", "/nonexistent/trustdesk.toml", "check-config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(one_error_line(&stderr).contains("/nonexistent/trustdesk.toml"));
}

/// Every TOML example in the README that configures sign-in loads (unknown keys are errors),
/// so the documented settings are the real ones. Snippets that are only `[oidc]` and roles are
/// loaded beside a minimal `[ldap]`.
#[test]
fn the_readme_sign_in_examples_load() {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md")).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut loaded = 0;
    for block in readme.split("```toml\n").skip(1) {
        let block = block.split("```").next().unwrap();
        if !block.contains("[oidc]") {
            continue;
        }
        let toml = if block.contains("[ldap]") {
            block.to_string()
        } else {
            format!("[ldap]\nurls = [\"ldaps://dc\"]\nbase_dn = \"DC=x\"\nbind_dn = \"b\"\n{block}")
        };
        let path = dir.path().join("readme.toml");
        std::fs::write(&path, &toml).unwrap();
        if let Err(e) = trustdesk::config::Config::load(Some(&path)) {
            panic!("README example does not load: {e}\n{toml}");
        }
        loaded += 1;
    }
    assert!(
        loaded >= 7,
        "the main example and one per provider: {loaded}"
    );
}

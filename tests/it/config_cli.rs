//! `trustdesk check-config`: bad configuration gives one line naming the problem, never a panic.
//! The key commands: `token-key rotate` (#16 L-13) and the audited API-key lifecycle (L-2).

use std::process::Command;

use trustdesk::db::Store;

pub fn check(toml: &str, extra_env: &[(&str, &str)], offline: bool) -> (bool, String) {
    let (ok, _, stderr) = check_printing(toml, extra_env, offline);
    (ok, stderr)
}

/// [`check`], with what it printed on stdout (its `ok:` and `warning:` lines) too.
fn check_printing(toml: &str, extra_env: &[(&str, &str)], offline: bool) -> (bool, String, String) {
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
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    (out.status.success(), stdout, stderr)
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

/// #19: several instances need PostgreSQL; on SQLite the check says so, and passes.
#[test]
fn several_instances_on_sqlite_are_warned_about_and_zero_is_named() {
    let (ok, out, err) = check_printing(&format!("instances = 2\n{GOOD}"), &[], true);
    assert!(ok, "{err}");
    assert!(
        out.contains("warning: instances = 2, but SQLite serves one portal instance"),
        "{out}"
    );
    let (ok, out, err) = check_printing(GOOD, &[], true);
    assert!(ok && !out.contains("instances"), "{out}{err}");
    let (ok, err) = check(&format!("instances = 0\n{GOOD}"), &[], true);
    assert!(!ok);
    assert!(one_error_line(&err).contains("instances"), "{err}");
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

/// #18: `ticket_url_template` is checked when the config is read; a bad one is named with why.
#[test]
fn a_ticket_url_template_is_checked_and_named() {
    let with = |t: &str| format!("ticket_url_template = {t:?}\n{GOOD}");
    let (ok, err) = check(&with("https://jira.example.com/browse/{ticket}"), &[], true);
    assert!(ok, "{err}");
    for (bad, why) in [
        ("https://jira.example.com/browse/", "must contain {ticket}"),
        ("http://jira.example.com/browse/{ticket}", "https"),
        ("https://{ticket}.example.com/", "after the host"),
    ] {
        let (ok, err) = check(&with(bad), &[], true);
        assert!(!ok, "{bad}");
        let line = one_error_line(&err);
        assert!(
            line.contains("ticket_url_template") && line.contains(why),
            "{line}"
        );
    }
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
fn a_role_name_with_a_comma_is_refused() {
    let toml = format!("{GOOD}\n[roles.\"a,b\"]\ngroups = [\"x\"]\nactions = [\"lookup\"]\n");
    let (ok, err) = check(&toml, &[], true);
    assert!(!ok);
    assert!(one_error_line(&err).contains("no comma"), "{err}");
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

/// Run `trustdesk ARGS` on a data directory with [`GOOD`] and an `auditor` role:
/// (success, stdout, stderr).
fn run_on(dir: &std::path::Path, extra_toml: &str, args: &[&str]) -> (bool, String, String) {
    let path = dir.join("c.toml");
    let toml = format!(
        "data_dir = \"{}\"\n{extra_toml}{GOOD}\n[roles.auditor]\ngroups = [\"Auditors\"]\nactions = [\"view_audit\"]\n",
        dir.display()
    );
    std::fs::write(&path, toml).unwrap();
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_trustdesk"));
    cmd.arg("--config").arg(&path).args(args);
    for (k, _) in std::env::vars() {
        if k.starts_with("TRUSTDESK_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).to_string(),
        stderr,
    )
}

/// The audit rows of one action in `dir`'s database, oldest first.
async fn audited(dir: &std::path::Path, action: &str) -> Vec<trustdesk::db::AuditRow> {
    let store = open(dir).await;
    let rows = store.audit_page(0, 1000).await.unwrap();
    close(store).await;
    rows.into_iter()
        .filter(|r| r.event.action == action)
        .collect()
}

async fn open(dir: &std::path::Path) -> Store {
    Store::connect(&trustdesk::db::default_url(dir))
        .await
        .unwrap()
}

/// Close the pool before a `trustdesk` process reads what it wrote: sqlx's SQLite
/// connection thread may still be finishing the last statement when its result arrives.
async fn close(store: Store) {
    if let Store::Sqlite(db) = store {
        db.pool.close().await;
    }
}

fn uid_sub() -> String {
    use std::os::unix::fs::MetadataExt;
    // A file this process creates is owned by its uid.
    let f = tempfile::NamedTempFile::new().unwrap();
    format!("uid:{}", f.as_file().metadata().unwrap().uid())
}

fn mode(path: &std::path::Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// #16 L-13: the command the README documents exists; the old key is retired (still
/// verifying), the directory is 0700 and every key 0600; the rotation is audited with the OS
/// user. With `tokens.signing_key_file` it refuses and says why.
#[tokio::test]
async fn token_key_rotate_makes_a_new_private_key_and_retires_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path().join("token-keys");
    let (ok, first, err) = run_on(dir.path(), "", &["token-key", "rotate"]);
    assert!(ok, "{err}");
    let kid1 = std::fs::read_to_string(keys.join("current")).unwrap();
    assert!(first.contains(&kid1), "{first}");
    let (ok, second, err) = run_on(dir.path(), "", &["token-key", "rotate"]);
    assert!(ok, "{err}");
    let kid2 = std::fs::read_to_string(keys.join("current")).unwrap();
    assert_ne!(kid1, kid2);
    assert!(second.contains("restart"), "{second}");
    assert!(keys.join(format!("{kid1}.retired")).exists());
    assert_eq!(mode(&keys), 0o700);
    assert_eq!(mode(&keys.join(format!("{kid1}.key"))), 0o600);
    assert_eq!(mode(&keys.join(format!("{kid2}.key"))), 0o600);
    let rows = audited(dir.path(), "token_key_rotate").await;
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1].event.actor_sub.as_deref(), Some(uid_sub().as_str()));
    assert!(rows[1].event.reason.as_deref().unwrap().contains(&kid2));

    let other = tempfile::tempdir().unwrap();
    let (ok, _, err) = run_on(
        other.path(),
        "[tokens]\nsigning_key_file = \"/etc/trustdesk/token.key\"\n",
        &["token-key", "rotate"],
    );
    assert!(!ok);
    assert!(
        one_error_line(&err).contains("tokens.signing_key_file"),
        "{err}"
    );
    assert!(!other.path().join("token-keys").exists());
}

/// #16 L-2: creating and revoking a key are audited with the OS user; a key may expire; `list`
/// shows expiry, last use and state; an expired key is refused like a revoked one, and a used
/// key records when.
#[tokio::test]
async fn api_keys_are_audited_expire_and_show_their_state() {
    let dir = tempfile::tempdir().unwrap();
    let (ok, key, err) = run_on(
        dir.path(),
        "",
        &[
            "api-key",
            "create",
            "--name",
            "tick",
            "--role",
            "auditor",
            "--expires-days",
            "30",
        ],
    );
    assert!(ok, "{err}");
    let key = key.trim().to_string();
    let (ok, _, err) = run_on(
        dir.path(),
        "",
        &[
            "api-key",
            "create",
            "--name",
            "bad",
            "--role",
            "auditor",
            "--expires-days",
            "0",
        ],
    );
    assert!(!ok && err.contains("--expires-days"), "{err}");
    let (ok, _, err) = run_on(
        dir.path(),
        "",
        &[
            "api-key", "create", "--name", "forever", "--role", "auditor",
        ],
    );
    assert!(ok, "{err}");

    let created = audited(dir.path(), "api_key_create").await;
    assert_eq!(created.len(), 2, "the refused one is not created");
    assert_eq!(
        created[0].event.actor_sub.as_deref(),
        Some(uid_sub().as_str())
    );
    let reason = created[0].event.reason.clone().unwrap();
    assert!(
        reason.contains("\"tick\"") && reason.contains("expires"),
        "{reason}"
    );
    assert!(!reason.contains(&key), "never the key itself");
    assert!(
        created[1]
            .event
            .reason
            .as_deref()
            .unwrap()
            .contains("never expires")
    );

    let store = open(dir.path()).await;
    // A use is noted (once a minute at most).
    let staff = trustdesk::auth::api_keys::ApiKeys::new(store.clone())
        .authenticate(&key)
        .await
        .unwrap();
    assert_eq!(staff.ok().unwrap().roles, ["auditor"]);
    close(store).await;
    let (ok, list, err) = run_on(dir.path(), "", &["api-key", "list"]);
    assert!(ok, "{err}");
    let line = list.lines().find(|l| l.starts_with("tick\t")).unwrap();
    let cols: Vec<&str> = line.split('\t').collect();
    assert_eq!(cols.len(), 6, "{line}");
    assert_ne!(cols[3], "never", "expires: {line}");
    assert_ne!(cols[4], "never", "last used: {line}");
    assert_eq!(cols[5], "active");
    let forever = list.lines().find(|l| l.starts_with("forever\t")).unwrap();
    assert!(forever.ends_with("\tnever\tnever\tactive"), "{forever}");

    // The key's end passes: refused, and listed as expired.
    let store = open(dir.path()).await;
    let Store::Sqlite(db) = &store else {
        unreachable!()
    };
    sqlx::query("UPDATE api_keys SET expires_at = $1 WHERE name = 'tick'")
        .bind(trustdesk::clock::now() - time::Duration::seconds(1))
        .execute(&db.pool)
        .await
        .unwrap();
    assert!(
        trustdesk::auth::api_keys::ApiKeys::new(store.clone())
            .authenticate(&key)
            .await
            .unwrap()
            .is_err()
    );
    close(store).await;
    let (ok, list, err) = run_on(dir.path(), "", &["api-key", "list"]);
    assert!(ok, "{err}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("tick\t") && l.ends_with("\texpired")),
        "{list}"
    );

    let (ok, _, err) = run_on(dir.path(), "", &["api-key", "revoke", "forever"]);
    assert!(ok, "{err}");
    let (ok, _, err) = run_on(dir.path(), "", &["api-key", "revoke", "forever"]);
    assert!(!ok && err.contains("no active API key"), "{err}");
    let revoked = audited(dir.path(), "api_key_revoke").await;
    assert_eq!(revoked.len(), 1, "only the revoke that changed something");
    assert_eq!(
        revoked[0].event.actor_sub.as_deref(),
        Some(uid_sub().as_str())
    );
    let (ok, list, err) = run_on(dir.path(), "", &["api-key", "list"]);
    assert!(ok, "{err}");
    assert!(
        list.lines()
            .any(|l| l.starts_with("forever\t") && l.ends_with("\trevoked")),
        "{list}"
    );
}

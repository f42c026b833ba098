//! The whole repair against the lab, all real: the joined Samba member LABWS01, a DC-side
//! reset that breaks it, a senior signed in through the OIDC provider minting a token, the
//! companion client binary (Samba backend) redeeming it through a TLS front, the channel
//! verified, and the password that crossed the network proven dead.

use std::process::Command;
use std::time::Instant;

use crate::common::csrf;
use crate::common::{
    Portal, api_get, browser_for, causes, install_crypto, lab, sign_in, start_portal_with,
    top_cause,
};
use crate::labctl::kinit;
use crate::repair_lab::mint;

/// Held by every test that uses the member LABWS01 (one machine, one secret).
pub static MEMBER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// `database_url` for every portal that repairs LABWS01 in this test run: one database, as in
/// production, where it holds all of trustdesk's own writes to the member, which the clone
/// rule takes off. A portal each would count the other tests' repairs as a clone's churn.
pub fn member_portal_db() -> String {
    let path =
        std::env::temp_dir().join(format!("trustdesk-member-portal-{}.db", std::process::id()));
    format!(
        "database_url = {:?}\n",
        format!("sqlite://{}", path.display())
    )
}

/// `lab/lab.sh member-… ARGS` (inside the lab namespace; `--member f2` for the second
/// forest's member); whether it succeeded.
pub fn lab_member(args: &[&str]) -> bool {
    let out = Command::new(env("LAB_SCRIPT")).args(args).output().unwrap();
    if !out.status.success() {
        eprintln!(
            "lab.sh {args:?}: {:?}\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

/// The member's diagnosis once replication has settled (a write moments ago shows as
/// `replication_in_progress` until every DC has it; at most 30 s).
pub async fn settled_diagnosis(c: &reqwest::Client, p: &Portal, name: &str) -> serde_json::Value {
    // Held while forcing replication: `real_domain` turns DC2's inbound replication off under it.
    let mut topology = None;
    for round in 0..60 {
        let (status, r) = api_get(c, &p.base, &format!("/api/v1/computers/{name}")).await;
        assert_eq!(status, 200, "{r}");
        if !causes(&r).contains(&"replication_in_progress".to_string()) {
            return r;
        }
        if topology.is_none() {
            topology = Some(crate::labctl::TOPOLOGY.lock().await);
        }
        if round % 10 == 0 {
            // The writes went to DC1; a DC restarted by another test may miss its notice.
            crate::labctl::replicate_from_dc1();
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("{name}: replication did not settle within 30 s");
}

/// The current signing key as the client's `public_keys` pin (`kid:key`).
async fn key_pin(c: &reqwest::Client, base: &str) -> String {
    let keys: serde_json::Value = c
        .get(format!("{base}/api/v1/token-key"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    keys["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == keys["current"])
        .map(|k| {
            format!(
                "{}:{}",
                k["kid"].as_str().unwrap(),
                k["public_key"].as_str().unwrap()
            )
        })
        .unwrap()
}

/// Run the companion client (Samba backend) on the member with `token`.
pub(crate) async fn run_client(
    p: &Portal,
    c: &reqwest::Client,
    conf: &str,
    token: &str,
) -> std::process::Output {
    let pin = key_pin(c, &p.base).await;
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("client.toml");
    std::fs::write(
        &cfg,
        format!(
            "portal_url = {:?}\npublic_keys = [{pin:?}]\nca_file = {:?}\nbackend = \"samba\"\nsamba_conf = {conf:?}\n",
            p.base,
            p.ca.as_ref().unwrap().display().to_string()
        ),
    )
    .unwrap();
    tokio::process::Command::new(client_binary())
        .arg("--config")
        .arg(&cfg)
        .arg("redeem")
        .env("TRUSTDESK_TOKEN", token)
        .output()
        .await
        .unwrap()
}

pub fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| {
        panic!("{k} not set: the e2e test needs the lab member (lab/lab.sh up)")
    })
}

/// `net rpc testjoin` against DC1 by name (NETLOGON schannel: the real secure-channel test).
/// Named explicitly: after rotations, Samba's own DC discovery for this member (`password
/// server = <ip>`) fails with "return code = -1" before any network traffic, while the
/// channel itself is fine; the test is about the channel, not about DC discovery.
pub fn testjoin(conf: &str) -> bool {
    let dc = std::env::var("LAB_DC_NAME").unwrap_or_else(|_| "dc1.lab.example.test".into());
    let out = Command::new("net")
        .args(["rpc", "testjoin", "-s", conf, "-S", &dc])
        .output()
        .unwrap();
    if !out.status.success() {
        eprintln!(
            "net rpc testjoin: {:?}\n{}{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    out.status.success()
}

/// NTLM authentication as the machine with `pw` (no Kerberos): what a DC still accepts for
/// the previous password during `old password allowed period`.
fn ntlm_ok(conf: &str, name: &str, pw: &str) -> bool {
    Command::new("smbclient")
        .args([
            &format!(
                "//{}/IPC$",
                std::env::var("LAB_DC_IP").unwrap_or_else(|_| "127.0.0.2".into())
            ),
            "-s",
            conf,
            "--use-kerberos=off",
            "-c",
            "exit",
        ])
        .arg(format!("-ULAB\\{name}$%{pw}"))
        .output()
        .is_ok_and(|o| o.status.success())
}

pub fn client_binary() -> std::path::PathBuf {
    let target = std::env::var("CARGO_TARGET_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let bin = target.join("debug/trustdesk-client");
    assert!(
        bin.exists(),
        "build the client first: cargo build -p trustdesk-client ({})",
        bin.display()
    );
    bin
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn reset_breaks_the_member_and_a_token_repair_fixes_it_for_real() {
    install_crypto();
    let lab = lab();
    let _member = MEMBER.lock().await;
    // Every log line of this process from here on (all levels, the audit target included)
    // goes to a file, to be searched for secrets at the end.
    let log_path = crate::common::chromium::artifact("e2e-repair.log");
    let log_file = std::fs::File::create(&log_path).unwrap();
    let _ = tracing_subscriber::fmt()
        .json()
        .with_env_filter("debug,hyper=info,h2=info,rustls=info,sqlx=info,reqwest=info")
        .with_writer(std::sync::Mutex::new(log_file))
        .try_init();
    let (conf, member, member_dn) = (
        env("LAB_MEMBER_CONF"),
        env("LAB_MEMBER_NAME"),
        env("LAB_MEMBER_DN"),
    );
    // A short post-repair watch: the client's rotations must show within 4 s.
    let p = start_portal_with(
        &lab,
        &member_portal_db(),
        crate::watch_lab::SHORT_WATCH,
        true,
    )
    .await;
    let c = browser_for(p.ca.as_deref());
    sign_in(&c, &p.base, "alice", "alice-pw").await;

    // 1. the member is joined and its channel works; it logs on (Kerberos, at DC1)
    assert!(testjoin(&conf), "net rpc testjoin passes before the test");
    assert!(
        lab_member(&["member-testjoin", "--ads"]),
        "a Kerberos logon"
    );

    // 2. DC-side reset through the portal: confirmation page, then the reset; testjoin fails
    let page = crate::common::get_text(&c, &format!("{}/computers/{member}/reset", p.base)).await;
    assert!(
        page.contains("until it is rejoined or repaired with a token"),
        "{page}"
    );
    assert!(
        page.contains("id=\"confirm-verdict\"><strong>The diagnosis:</strong> "),
        "the confirmation repeats the verdict: {page}"
    );
    let token = csrf(&c, &p.base).await;
    let r = c
        .post(format!("{}/computers/{member}/reset", p.base))
        .form(&[("csrf", token.as_str()), ("ticket", "")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400, "a reason is required");
    let r = c
        .post(format!("{}/computers/{member}/reset", p.base))
        .form(&[
            ("csrf", token.as_str()),
            ("ticket", "INC-42 user cannot log on"),
        ])
        .send()
        .await
        .unwrap();
    // Redirect after the POST: the result page shows it once; a reload goes to the computer.
    assert_eq!(r.status(), 303);
    let done = format!("{}{}", p.base, r.headers()["location"].to_str().unwrap());
    let html = crate::common::get_text(&c, &done).await;
    assert!(
        html.contains("id=\"dc\">dc1.lab.example.test"),
        "the result names the DC: {html}"
    );
    let again = c.get(&done).send().await.unwrap();
    assert_eq!(again.status(), 303, "a reload does not reset again");
    assert_eq!(
        again.headers()["location"],
        format!("/computers/{member}").as_str()
    );
    assert!(
        !testjoin(&conf),
        "after the DC-side reset the member's channel is broken"
    );
    // The next lookup names the reset (who, when, why) and never says healthy, though the
    // member logged on moments before it (inside the self-rotation grace).
    let (_, r) = api_get(&c, &p.base, &format!("/api/v1/computers/{member}")).await;
    assert_eq!(top_cause(&r), "password_set_after_last_logon", "{r:#}");
    assert!(!causes(&r).contains(&"healthy".to_string()), "{r:#}");
    let said = r["diagnosis"]["findings"].to_string();
    assert!(said.contains("portal_reset"), "{r:#}");
    assert!(
        said.contains("Reset by ")
            && said.contains("(INC-42 user cannot log on) through trustdesk"),
        "{said}"
    );

    // protected and out-of-scope targets are refused, whatever the form says
    for refused in ["PAW-ADM01", "TIER0-WS01", "DC1"] {
        let r = c
            .post(format!("{}/computers/{refused}/reset", p.base))
            .form(&[("csrf", token.as_str()), ("ticket", "try")])
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 403, "{refused}");
    }
    let bob = browser_for(p.ca.as_deref());
    sign_in(&bob, &p.base, "bob", "bob-pw").await;
    let bob_csrf = csrf(&bob, &p.base).await;
    let r = bob
        .post(format!("{}/computers/{member}/reset", p.base))
        .form(&[("csrf", bob_csrf.as_str()), ("ticket", "try")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 403, "a junior may not reset");

    // 3. a senior mints a token
    let repair_token = mint(&c, &p.base, &member).await;

    // 4. the companion client redeems it on the member
    let started = Instant::now();
    let out = run_client(&p, &c, &conf, &repair_token).await;
    let wall = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed ({:?}):\n{stderr}",
        out.status.code()
    );
    eprintln!(
        "repair wall time (client start to exit): {:.2} s",
        wall.as_secs_f64()
    );

    // 5. the channel works, and the portal agrees: healthy, the repair named, no churn
    assert!(testjoin(&conf), "net rpc testjoin passes after the repair");
    let r = settled_diagnosis(&c, &p, &member).await;
    assert_eq!(top_cause(&r), "healthy", "{r:#}");
    assert!(
        !causes(&r).contains(&"clone_suspected".to_string()),
        "{r:#}"
    );
    assert!(
        r["diagnosis"]["findings"]
            .to_string()
            .contains("portal_repair_completed"),
        "{r:#}"
    );

    // The post-repair watch sees the client's two rotations: no critical finding.
    let (outcome, reason) = crate::watch_lab::watch_row(&p, &member).await;
    assert_eq!(outcome, "success", "{reason}");
    assert!(reason.contains("is no longer valid"), "{reason}");
    assert!(
        !r["diagnosis"]["findings"]
            .to_string()
            .contains("transited_password_may_be_valid"),
        "{r:#}"
    );

    // 6. the password that crossed the network no longer authenticates
    let bodies = p.redeems.as_ref().unwrap().lock().unwrap().clone();
    assert_eq!(bodies.len(), 1, "one redeem crossed the network");
    let sent: serde_json::Value = serde_json::from_str(&bodies[0]).unwrap();
    let crossed = sent["password"].as_str().unwrap().to_string();
    assert_eq!(crossed.len(), 120);
    assert!(
        !kinit(&member, &crossed),
        "Kerberos refuses the transferred password"
    );
    assert!(
        !ntlm_ok(&conf, &member, &crossed),
        "NTLM refuses it too (rotated twice)"
    );
    assert!(
        !stderr.contains(&crossed) && !stderr.contains(&repair_token),
        "the client never prints secrets"
    );

    // 7. the token is completed; the audit names the staff member and the computer
    let guid = p
        .state
        .domains
        .first()
        .find_computer(&trustdesk::directory::filter::ComputerQuery::parse(&member).unwrap())
        .await
        .unwrap()
        .unwrap()
        .object_guid;
    let tokens = p
        .state
        .store
        .tokens_where(Some(&guid.to_string()), None, 10)
        .await
        .unwrap();
    assert_eq!(tokens[0].state.as_str(), "completed", "{tokens:?}");
    let audit = p.state.store.audit_recent(200).await.unwrap();
    for action in [
        "reset_account",
        "mint_token",
        "redeem_token",
        "repair_outcome",
    ] {
        let row = audit
            .iter()
            .find(|r| r.event.action == action && r.event.outcome == "success")
            .unwrap_or_else(|| panic!("no successful {action} in the audit log"));
        assert_eq!(row.event.actor_sub.as_deref(), Some("alice"), "{action}");
        assert_eq!(
            row.event.target_dn.as_deref(),
            Some(member_dn.as_str()),
            "{action}"
        );
    }
    let everything = format!("{audit:?}{tokens:?}");
    assert!(
        !everything.contains(&crossed) && !everything.contains(&repair_token),
        "no secret in audit or DB"
    );

    // 8. later, the member is reverted to a snapshot
    a_snapshot_revert_is_a_stale_local_secret_that_a_token_repair_fixes(&p, &c, &conf, &member)
        .await;
}

/// A VM reverted to a snapshot: the member rotates its own password and uses it, then its
/// secrets.tdb comes back from before and it fails. The portal says `stale_local_secret`, and
/// the token repair fixes it. (Run by the test above on its portal, which knows its own
/// earlier repair: one portal, one audit log, as in production.)
async fn a_snapshot_revert_is_a_stale_local_secret_that_a_token_repair_fixes(
    p: &Portal,
    c: &reqwest::Client,
    conf: &str,
    name: &str,
) {
    let (p, c, conf, name) = (p, c, conf.to_string(), name.to_string());
    assert!(testjoin(&conf), "the member works");
    assert!(lab_member(&["member-secrets", "save", "revert-test"]));
    assert!(
        lab_member(&["member-rotate"]),
        "the member rotates its own password"
    );
    assert!(
        lab_member(&["member-testjoin", "--ads"]),
        "and logs on with it"
    );
    assert!(lab_member(&["member-secrets", "restore", "revert-test"]));
    // A Kerberos logon (without NTLM, which still takes the previous password for an hour).
    assert!(
        !lab_member(&["member-testjoin", "--kerberos"]),
        "the restored (older) secret fails"
    );
    let r = settled_diagnosis(c, p, &name).await;
    assert_eq!(top_cause(&r), "stale_local_secret", "{r:#}");
    assert_eq!(
        r["diagnosis"]["fix"]["trustdesk_action"], "token_repair",
        "{r:#}"
    );

    let token = mint(c, &p.base, &name).await;
    let out = run_client(p, c, &conf, &token).await;
    assert!(
        out.status.success(),
        "client failed ({:?}):\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(testjoin(&conf), "the channel works after the repair");
    let r = settled_diagnosis(c, p, &name).await;
    assert_eq!(top_cause(&r), "healthy", "{r:#}");
    assert!(
        !causes(&r).contains(&"clone_suspected".to_string()),
        "{r:#}"
    );
}

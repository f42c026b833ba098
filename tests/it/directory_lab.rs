//! The directory client against the real lab DC: verified LDAPS, wrong CA, failover.

use crate::common::{config_toml, install_crypto, lab, load_config};
use trustdesk::directory::{Directory, DirectoryError};

#[tokio::test]
#[ignore = "needs the lab"]
async fn reads_root_dse_over_ldaps_with_the_lab_ca_verified() {
    install_crypto();
    let lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_config(
        dir.path(),
        &config_toml(dir.path(), &[&lab.ldaps_url], &lab.ca, &lab),
    );
    let directory = Directory::new(&cfg.domains[0]).unwrap();
    let root = directory.root_dse().await.unwrap();
    assert_eq!(root.dc_url, lab.ldaps_url);
    assert_eq!(
        root.default_naming_context
            .as_deref()
            .map(str::to_ascii_lowercase),
        Some(lab.base_dn.to_ascii_lowercase())
    );
    assert!(
        root.dns_host_name
            .is_some_and(|h| h.to_ascii_lowercase().starts_with("dc1."))
    );
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_wrong_ca_fails_the_same_read_with_a_clear_error() {
    install_crypto();
    let lab = lab();
    let dir = tempfile::tempdir().unwrap();
    // A CA that did not sign the DC certificate.
    let wrong = dir.path().join("wrong-ca.pem");
    let status = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "1",
            "-subj",
            "/CN=Not The Lab CA",
        ])
        .arg("-keyout")
        .arg(dir.path().join("wrong-ca.key"))
        .arg("-out")
        .arg(&wrong)
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap();
    assert!(status.success());
    let cfg = load_config(
        dir.path(),
        &config_toml(dir.path(), &[&lab.ldaps_url], &wrong, &lab),
    );
    let directory = Directory::new(&cfg.domains[0]).unwrap();
    let err = directory.root_dse().await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, DirectoryError::NoDc(_)), "{text}");
    assert!(text.contains("TLS failed"), "{text}");
    assert!(text.contains("ldap.ca_file"), "{text}");
    assert!(
        !text.contains(&lab.svc_pw),
        "the error must not carry the bind password"
    );
    assert!(!text.contains('\n'), "one line: {text}");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_dead_first_dc_fails_over_to_the_next() {
    install_crypto();
    let lab = lab();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on 127.0.0.2:1; the real DC comes second.
    let cfg = load_config(
        dir.path(),
        &config_toml(
            dir.path(),
            &["ldaps://127.0.0.2:1", &lab.ldaps_url],
            &lab.ca,
            &lab,
        ),
    );
    let directory = Directory::new(&cfg.domains[0]).unwrap();
    let root = directory.root_dse().await.unwrap();
    assert_eq!(root.dc_url, lab.ldaps_url);
}

/// A directory on `urls` that gives up on a DC after 2 s and lets it rest `rest_secs`.
fn short_timeouts(lab: &crate::common::Lab, urls: &[&str], rest_secs: u64) -> Directory {
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(dir.path(), urls, &lab.ca, lab).replace(
        "connect_timeout_secs = 3",
        &format!("connect_timeout_secs = 2\nop_timeout_secs = 2\nretry_after_secs = {rest_secs}"),
    );
    Directory::new(&load_config(dir.path(), &toml).domains[0]).unwrap()
}

/// A DC that accepts connections but stops answering (hung, not down): a read gives up on it
/// after `op_timeout_secs` and the next DC answers. ldap3 arms its own timeout for the next
/// operation only, so without the client's own bound this read would wait forever. The hung
/// DC then rests for `retry_after_secs`: reads go straight to the next DC without connecting
/// to it, and once it answers again and the rest is over, it is first again.
#[tokio::test]
#[ignore = "needs the lab"]
async fn a_hung_first_dc_is_given_up_on_rests_and_comes_back() {
    use std::sync::atomic::Ordering;
    install_crypto();
    let lab = lab();
    let hung = crate::relay::start("127.0.0.2", None, None).await;
    let directory = short_timeouts(&lab, &[&hung.url, &lab.ldaps_url], 3);
    // Answered through the relay: the connection to it is now open and reused.
    assert_eq!(directory.root_dse().await.unwrap().dc_url, hung.url);
    assert_eq!(hung.connections.load(Ordering::SeqCst), 1);
    hung.freeze();
    // A bound well above the 2 s timeouts, far below "forever".
    let bound = std::time::Duration::from_secs(20);
    let root = tokio::time::timeout(bound, directory.root_dse())
        .await
        .expect("a hung DC held the read: no operation timeout")
        .unwrap();
    assert_eq!(root.dc_url, lab.ldaps_url);
    // Resting: a lookup and the per-DC reads do not connect to it again.
    let q = trustdesk::directory::filter::ComputerQuery::parse("PAR-WS001").unwrap();
    let account = directory.find_computer(&q).await.unwrap().unwrap();
    let views = directory.dc_views(&account.dn).await;
    assert_eq!(
        hung.connections.load(Ordering::SeqCst),
        1,
        "a resting DC was connected to"
    );
    let row = format!("{views:?}");
    assert!(row.contains("not tried"), "{row}");
    // It answers again; after its rest it is first again.
    hung.thaw();
    tokio::time::sleep(std::time::Duration::from_millis(3_500)).await;
    assert_eq!(directory.root_dse().await.unwrap().dc_url, hung.url);
    assert_eq!(hung.connections.load(Ordering::SeqCst), 2);
    hung.kill();
}

/// When every other DC fails, a resting DC is tried after all rather than answering "no DC".
#[tokio::test]
#[ignore = "needs the lab"]
async fn a_resting_dc_is_still_tried_when_it_is_the_last_one() {
    install_crypto();
    let lab = lab();
    let flaky = crate::relay::start("127.0.0.2", None, None).await;
    let directory = short_timeouts(&lab, &[&flaky.url], 600);
    flaky.freeze();
    let err = directory.root_dse().await.unwrap_err();
    assert!(err.to_string().contains("timed out"), "{err}");
    // Resting for ten minutes, but the only DC: tried again at once, and it answers now.
    flaky.thaw();
    assert_eq!(directory.root_dse().await.unwrap().dc_url, flaky.url);
    flaky.kill();
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_wrong_bind_password_is_named() {
    install_crypto();
    let mut lab = lab();
    lab.svc_pw = "definitely-wrong".into();
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_config(
        dir.path(),
        &config_toml(dir.path(), &[&lab.ldaps_url], &lab.ca, &lab),
    );
    let err = Directory::new(&cfg.domains[0])
        .unwrap()
        .root_dse()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bind was refused"), "{err}");
    assert!(!err.to_string().contains("definitely-wrong"));
}

//! The directory client against the real lab DC: verified LDAPS, wrong CA, failover.

use crate::common::{config_toml, install_crypto, lab, load_config};
use trustdesk::directory::{Directory, DirectoryError};

#[tokio::test]
async fn reads_root_dse_over_ldaps_with_the_lab_ca_verified() {
    install_crypto();
    let Some(lab) = lab() else { return };
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_config(
        dir.path(),
        &config_toml(dir.path(), &[&lab.ldaps_url], &lab.ca, &lab),
    );
    let directory = Directory::new(&cfg.ldap).unwrap();
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
async fn a_wrong_ca_fails_the_same_read_with_a_clear_error() {
    install_crypto();
    let Some(lab) = lab() else { return };
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
    let directory = Directory::new(&cfg.ldap).unwrap();
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
async fn a_dead_first_dc_fails_over_to_the_next() {
    install_crypto();
    let Some(lab) = lab() else { return };
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
    let directory = Directory::new(&cfg.ldap).unwrap();
    let root = directory.root_dse().await.unwrap();
    assert_eq!(root.dc_url, lab.ldaps_url);
}

/// A DC that accepts connections but stops answering (hung, not down): each read gives up on
/// it after `op_timeout_secs` and the next DC answers, and a new connection to it gives up
/// after `connect_timeout_secs`. ldap3 arms its own timeout for the next operation only, so
/// without the client's own bound this read would wait forever.
#[tokio::test]
async fn a_hung_first_dc_is_given_up_on_and_the_next_answers() {
    install_crypto();
    let Some(lab) = lab() else { return };
    let hung = crate::relay::start("127.0.0.2", None, None).await;
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(dir.path(), &[&hung.url, &lab.ldaps_url], &lab.ca, &lab).replace(
        "connect_timeout_secs = 3",
        "connect_timeout_secs = 2\nop_timeout_secs = 2",
    );
    let directory = Directory::new(&load_config(dir.path(), &toml).ldap).unwrap();
    // Answered through the relay: the connection to it is now open and reused.
    assert_eq!(directory.root_dse().await.unwrap().dc_url, hung.url);
    hung.freeze();
    // A bound well above the 2 s timeouts, far below "forever".
    let bound = std::time::Duration::from_secs(20);
    let root = tokio::time::timeout(bound, directory.root_dse())
        .await
        .expect("a hung DC held the read: no operation timeout")
        .unwrap();
    assert_eq!(root.dc_url, lab.ldaps_url);
    // The hung DC's connection was dropped; connecting to it again hangs in TLS and is given
    // up on too, and the lookup of a real computer still succeeds.
    let q = trustdesk::directory::filter::ComputerQuery::parse("PAR-WS001").unwrap();
    let found = tokio::time::timeout(bound, directory.find_computer(&q))
        .await
        .expect("a hung DC held the connect: no connect timeout")
        .unwrap();
    assert!(found.is_some());
    hung.kill();
}

#[tokio::test]
async fn a_wrong_bind_password_is_named() {
    install_crypto();
    let Some(mut lab) = lab() else { return };
    lab.svc_pw = "definitely-wrong".into();
    let dir = tempfile::tempdir().unwrap();
    let cfg = load_config(
        dir.path(),
        &config_toml(dir.path(), &[&lab.ldaps_url], &lab.ca, &lab),
    );
    let err = Directory::new(&cfg.ldap)
        .unwrap()
        .root_dse()
        .await
        .unwrap_err();
    assert!(err.to_string().contains("bind was refused"), "{err}");
    assert!(!err.to_string().contains("definitely-wrong"));
}

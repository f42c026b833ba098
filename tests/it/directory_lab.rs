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

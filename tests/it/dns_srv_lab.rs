//! DCs found through DNS (`dns_srv`, issue #19), against the lab's own DNS: each forest's
//! Samba DC serves its zones on port 53 (`--dns-backend=SAMBA_INTERNAL`), with the DC
//! locator's SRV records `_ldap._tcp.dc._msdcs.<domain>` (DC1's from the provision, DC2's and
//! DC3's registered at their join as `samba_dnsupdate` would: `lab/lib.sh`, `join_dc`).
//! A portal that names no DC at all finds both forests' DCs through each forest's own DNS
//! server, resolves their host names there, and verifies their certificates by those names.

use crate::common::{both_forests_domains, install_crypto, lab};
use crate::domains_lab::{env, get, json, two_domain_app_with};

/// Both forests' `[[domains]]` with no `urls`: DNS finds the DCs, asked of `dns1` and `dns2`.
fn located_domains(dns1: &str, dns2: &str) -> String {
    let domains = both_forests_domains(&env("LAB_F2_CA"));
    let mut out = String::new();
    let mut servers = [dns1, dns2].into_iter();
    for line in domains.lines() {
        if line.starts_with("urls = ") {
            let server = servers.next().unwrap();
            out.push_str(&format!(
                "urls = []\ndns_srv = true\ndns_servers = [{server:?}]\n"
            ));
        } else {
            out.push_str(line);
            out.push('\n');
        }
    }
    assert!(servers.next().is_none(), "{domains}");
    out
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_portal_naming_no_dc_finds_each_forests_dcs_through_its_dns() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    let (dc1, f2) = (env("LAB_DC_IP"), env("LAB_F2_IP"));
    let domains = located_domains(&dc1, &f2);
    let (base, both, _, state) = two_domain_app_with(dir.path(), &domains).await;
    let (dns1, dns2) = (env("LAB_DNSDOMAIN"), env("LAB_F2_DNSDOMAIN"));

    // Every DC the first forest's DNS names, by host name, LDAPS on 636; the second's one.
    let urls: Vec<Vec<String>> = futures_util::future::join_all(
        state
            .domains
            .iter()
            .map(|d| async move { d.dc_urls().await }),
    )
    .await;
    let at = |h: &str| format!("ldaps://{h}:636");
    assert_eq!(
        urls,
        vec![
            vec![
                at(&format!("dc1.{dns1}")),
                at(&format!("dc2.{dns1}")),
                at(&format!("dc3.{dns1}"))
            ],
            vec![at(&format!("f2dc1.{dns2}"))],
        ]
    );

    // Each forest's computer is reached over those connections.
    for (path, base_dn) in [
        (format!("/api/v1/computers/{dns1}/PAR-WS001"), lab().base_dn),
        (
            format!("/api/v1/computers/{dns2}/PAR-WS001"),
            env("LAB_F2_BASEDN"),
        ),
    ] {
        let (status, _, body) = get(&base, &both, &path).await;
        assert_eq!(status, 200, "{path}: {body}");
        let dn = json(&body)["account"]["dn"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert_eq!(
            dn,
            format!("CN=PAR-WS001,OU=Paris,OU=Workstations,{base_dn}")
        );
    }
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_dns_server_that_does_not_answer_takes_only_its_domain_down() {
    install_crypto();
    let dir = tempfile::tempdir().unwrap();
    // Nothing listens on 127.0.0.9:53: the second forest's DCs cannot be located.
    let domains = located_domains(&env("LAB_DC_IP"), "127.0.0.9");
    let (base, both, _, state) = two_domain_app_with(dir.path(), &domains).await;
    let (dns1, dns2) = (env("LAB_DNSDOMAIN"), env("LAB_F2_DNSDOMAIN"));

    let (status, _, body) = get(&base, &both, &format!("/api/v1/computers/{dns2}/PAR-WS001")).await;
    assert_eq!(status, 503, "{body}");
    // The reason (logged, and shown by check-config) names the record that was asked for.
    let f2 = state.domains.iter().find(|d| d.dns_name() == dns2).unwrap();
    let e = f2.root_dse().await.unwrap_err().to_string();
    assert!(e.contains(&format!("_ldap._tcp.dc._msdcs.{dns2}")), "{e}");
    let (status, _, body) = get(&base, &both, &format!("/api/v1/computers/{dns1}/PAR-WS001")).await;
    assert_eq!(status, 200, "{body}");

    let (status, _, body) = get(&base, &both, "/readyz").await;
    assert_eq!(status, 200, "{body}");
    let ready = json(&body);
    assert_eq!(ready["directory"]["status"], "degraded", "{body}");
    assert_eq!(
        ready["directory"]["domains"][&dns2], "unavailable",
        "{body}"
    );
    assert_eq!(ready["directory"]["domains"][&dns1], "ok", "{body}");
}

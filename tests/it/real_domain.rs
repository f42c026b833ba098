//! The diagnosis on a domain shaped like a real one: a third DC nobody listed in `ldap.urls`
//! (the lab's DC3), that DC stopped, password churn from two DCs, and a reset that has not
//! replicated yet. Everything is built for real in the lab; nothing is a stand-in.
//!
//! These tests change the lab's topology (DC3 stopped, DC2's inbound replication off), so they
//! hold [`crate::labctl::TOPOLOGY`], as does every other test that does.

use std::process::Command;
use std::time::Duration;

use crate::common::{
    api_get, browser, causes, install_crypto, lab, sign_in, start_portal_ldap, start_portal_with,
    top_cause,
};
use crate::labctl::{
    TOPOLOGY, admin, create_computer, dc2_inbound, kinit, kinit_with, random_pw, read_attr,
    replicate_now, set_password, wait_replicated,
};

const OU: &str = "OU=Berlin,OU=Workstations";

fn env(k: &str) -> String {
    std::env::var(k).unwrap_or_else(|_| panic!("{k} not set: needs `lab/lab.sh up --dc2 --dc3`"))
}

/// A Kerberos logon as the machine account at DC3 only (a krb5.conf whose one KDC is DC3).
fn kinit_at_dc3(name: &str, pw: &str) -> bool {
    kinit_with(Some(&env("LAB_DC3_KRB5_CONF")), name, pw)
}

/// `lab/lab.sh dc-stop|dc-start dc3`.
fn lab_dc3(verb: &str) {
    let out = Command::new(env("LAB_SCRIPT"))
        .args([verb, "dc3"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "lab.sh {verb} dc3: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Starts DC3 again when the test ends, whatever happened.
struct Dc3Back;
impl Drop for Dc3Back {
    fn drop(&mut self) {
        lab_dc3("dc-start");
    }
}

fn findings(r: &serde_json::Value) -> String {
    r["diagnosis"]["findings"].to_string()
}

fn top_confidence(r: &serde_json::Value) -> String {
    r["diagnosis"]["likely_causes"][0]["confidence"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_machine_that_rotates_through_a_dc_nobody_listed_is_healthy() {
    install_crypto();
    let lab = lab();
    let _topology = TOPOLOGY.lock().await;
    let dc3_url = env("LAB_DC3_LDAPS_URL");
    let dc3_host = env("LAB_DC3_HOST");
    // ldap.urls = DC1, DC2 only. A write one second after a logon is not the machine's own.
    let diag = "\n[diagnosis]\nself_rotation_grace_secs = 1\nreplication_skew_secs = 2\n";
    let p = start_portal_with(&lab, "", diag, false).await;
    let off = start_portal_ldap(&lab, "discover_dcs = false", diag, false).await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    let c_off = browser();
    sign_in(&c_off, &off.base, "erin", "erin-pw").await;
    let mut dc1 = admin(&lab.ldaps_url).await;
    let mut dc3 = admin(&dc3_url).await;

    // Logs on at DC1, then rotates its password at DC3 and logs on there with it.
    let pw = random_pw();
    let dn = create_computer(&mut dc1, &lab, "T-BRANCH", OU, &pw).await;
    assert!(kinit("T-BRANCH", &pw), "logon at DC1");
    let created = read_attr(&mut dc1, &dn, "pwdLastSet").await.unwrap();
    replicate_now(&dc3_host, &env("LAB_DC_NAME"));
    wait_replicated(&mut dc3, &dn, "pwdLastSet", &created).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rotated = random_pw();
    set_password(&mut dc3, &dn, &rotated).await;
    assert!(
        kinit_at_dc3("T-BRANCH", &rotated),
        "logon at DC3 with the new password"
    );
    let want = read_attr(&mut dc3, &dn, "pwdLastSet").await.unwrap();
    for dest in ["LAB_DC_NAME", "LAB_DC2_NAME"] {
        replicate_now(&env(dest), &dc3_host);
    }
    wait_replicated(&mut dc1, &dn, "pwdLastSet", &want).await;
    let mut dc2 = admin(lab.dc2_ldaps_url.as_deref().unwrap()).await;
    wait_replicated(&mut dc2, &dn, "pwdLastSet", &want).await;
    tokio::time::sleep(Duration::from_secs(3)).await;

    let (status, r) = api_get(&c, &p.base, "/api/v1/computers/T-BRANCH").await;
    assert_eq!(status, 200, "{r}");
    let rows: Vec<&str> = r["diagnosis"]["per_dc"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|row| row["dc"].as_str())
        .collect();
    assert!(
        rows.contains(&dc3_host.as_str()),
        "DC3 was discovered and read: {rows:?}"
    );
    assert_eq!(top_cause(&r), "healthy", "{r:#}");
    assert_eq!(top_confidence(&r), "high", "every DC answered: {r:#}");
    assert!(!causes(&r).contains(&"password_set_after_last_logon".to_string()));

    // With discovery off the same machine is not accused either, and the page says why
    // its view is partial.
    let (_, r) = api_get(&c_off, &off.base, "/api/v1/computers/T-BRANCH").await;
    assert!(
        !causes(&r).contains(&"password_set_after_last_logon".to_string()),
        "{r:#}"
    );
    assert_ne!(top_confidence(&r), "high", "{r:#}");
    assert!(findings(&r).contains("per_dc_view_partial"), "{r:#}");
    assert!(findings(&r).contains("DC discovery is off"), "{r:#}");

    // DC3 stopped: named, and nothing rests on a complete view any more.
    let _back = Dc3Back;
    lab_dc3("dc-stop");
    let (status, r) = api_get(&c, &p.base, "/api/v1/computers/T-BRANCH").await;
    assert_eq!(status, 200, "{r}");
    let text = findings(&r);
    assert!(
        text.contains(&format!("from 2 of 3 DCs; {dc3_host} did not answer")),
        "{r:#}"
    );
    assert_ne!(top_confidence(&r), "high", "{r:#}");
    assert!(
        !causes(&r).contains(&"password_set_after_last_logon".to_string()),
        "{r:#}"
    );
    let row = r["diagnosis"]["per_dc"]
        .as_array()
        .unwrap()
        .iter()
        .find(|row| row["dc"] == dc3_host.as_str())
        .cloned()
        .unwrap();
    assert_eq!(row["status"], "unreachable", "{row}");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn churn_from_two_dcs_ranks_first_and_a_reset_not_yet_replicated_is_never_healthy() {
    install_crypto();
    let lab = lab();
    let _topology = TOPOLOGY.lock().await;
    let dc2_url = lab.dc2_ldaps_url.clone().expect("needs DC2");
    let p = start_portal_with(
        &lab,
        "",
        "\n[diagnosis]\nself_rotation_grace_secs = 1\n",
        false,
    )
    .await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    let mut dc1 = admin(&lab.ldaps_url).await;
    let mut dc2 = admin(&dc2_url).await;

    // Churn: the machine logs on, then its password is set six times, alternating between
    // the DCs (two machines sharing one account), and its old secret fails.
    let pw = random_pw();
    let dn = create_computer(&mut dc1, &lab, "T-CHURN", OU, &pw).await;
    assert!(kinit("T-CHURN", &pw));
    tokio::time::sleep(Duration::from_secs(2)).await;
    let names = (env("LAB_DC_NAME"), env("LAB_DC2_NAME"));
    let want = read_attr(&mut dc1, &dn, "pwdLastSet").await.unwrap();
    replicate_now(&names.1, &names.0);
    wait_replicated(&mut dc2, &dn, "pwdLastSet", &want).await;
    for round in 0..6 {
        let (writer, other, from, to) = if round % 2 == 0 {
            (&mut dc2, &mut dc1, &names.1, &names.0)
        } else {
            (&mut dc1, &mut dc2, &names.0, &names.1)
        };
        set_password(writer, &dn, &random_pw()).await;
        let want = read_attr(writer, &dn, "pwdLastSet").await.unwrap();
        replicate_now(to, from);
        wait_replicated(other, &dn, "pwdLastSet", &want).await;
    }
    assert!(!kinit("T-CHURN", &pw), "the old secret fails");
    tokio::time::sleep(Duration::from_secs(1)).await;
    let (status, r) = api_get(&c, &p.base, "/api/v1/computers/T-CHURN").await;
    assert_eq!(status, 200, "{r}");
    let all = causes(&r);
    assert_eq!(top_cause(&r), "clone_suspected", "{r:#}");
    assert!(
        all.contains(&"password_set_after_last_logon".to_string()),
        "both are raised, churn first: {all:?}"
    );

    // A reset on DC1 while DC2 takes no replication: in progress, DC2 named, never healthy.
    let pw = random_pw();
    let dn = create_computer(&mut dc1, &lab, "T-INFLIGHT", OU, &pw).await;
    assert!(kinit("T-INFLIGHT", &pw));
    let want = read_attr(&mut dc1, &dn, "pwdLastSet").await.unwrap();
    replicate_now(&names.1, &names.0);
    wait_replicated(&mut dc2, &dn, "pwdLastSet", &want).await;
    dc2_inbound(false);
    let result = async {
        set_password(&mut dc1, &dn, &random_pw()).await;
        api_get(&c, &p.base, "/api/v1/computers/T-INFLIGHT").await
    }
    .await;
    dc2_inbound(true);
    let (status, r) = result;
    assert_eq!(status, 200, "{r}");
    assert_eq!(top_cause(&r), "replication_in_progress", "{r:#}");
    assert!(!causes(&r).contains(&"healthy".to_string()), "{r:#}");
    let dc2_label = url::Url::parse(&dc2_url)
        .unwrap()
        .host_str()
        .unwrap()
        .to_string();
    assert!(
        findings(&r).contains(&dc2_label),
        "the lagging DC is named: {r:#}"
    );
    assert_eq!(r["diagnosis"]["actions"]["dc_reset"], false);
    assert_eq!(r["diagnosis"]["actions"]["token_repair"], false);
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn references_after_a_deleted_object_never_reach_the_entry_parser() {
    install_crypto();
    let lab = lab();
    // The DC answers a domain-wide search for an object that is gone with continuation
    // references only (Configuration, DomainDnsZones, ForestDnsZones).
    let mut dc1 = admin(&lab.ldaps_url).await;
    let missing = uuid::Uuid::new_v4();
    let filter = trustdesk::directory::password::guid_filter(&missing);
    let mut stream = dc1
        .streaming_search(&lab.base_dn, ldap3::Scope::Subtree, &filter, vec!["1.1"])
        .await
        .unwrap();
    let mut raw = Vec::new();
    while let Some(e) = stream.next().await.unwrap() {
        raw.push(e);
    }
    let _ = stream.finish().await;
    assert!(
        !raw.is_empty() && raw.iter().all(|e| e.is_ref()),
        "the DC sends references: {}",
        raw.len()
    );
    // ldap3's SearchEntry::construct panics on each of them; the one filter drops them.
    assert!(trustdesk::directory::search::only_entries(raw).is_empty());
    let p = start_portal_with(&lab, "", "", false).await;
    assert_eq!(
        p.state
            .domains
            .first()
            .find_by_guid(&missing)
            .await
            .unwrap(),
        None
    );
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_tombstone_search_the_service_account_may_not_run_is_reported_not_hidden() {
    install_crypto();
    let lab = lab();
    // By default only SYSTEM and Administrators may list Deleted Objects (KB 892806); the lab's
    // service account has the default rights, as a least-privilege account on Windows has.
    let p = start_portal_with(&lab, "", "", false).await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    let mut dc1 = admin(&lab.ldaps_url).await;
    let dn = create_computer(&mut dc1, &lab, "T-TOMB", OU, &random_pw()).await;
    dc1.delete(&dn).await.unwrap().success().unwrap();
    let (status, r) = api_get(&c, &p.base, "/api/v1/computers/T-TOMB").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(top_cause(&r), "account_missing", "{r:#}");
    let text = findings(&r);
    assert!(text.contains("tombstone_check_not_run"), "{r:#}");
    assert!(
        text.contains("CN=Deleted Objects"),
        "names the container: {r:#}"
    );
    // The same search as the lab's Administrator does see the tombstone: it was there.
    let (entries, _) = dc1
        .with_controls(ldap3::controls::RawControl {
            ctype: trustdesk::directory::tombstones::SHOW_DELETED.into(),
            crit: true,
            val: None,
        })
        .search(
            &format!("CN=Deleted Objects,{}", lab.base_dn),
            ldap3::Scope::OneLevel,
            &trustdesk::directory::filter::tombstone_filter("T-TOMB$"),
            vec!["1.1"],
        )
        .await
        .unwrap()
        .success()
        .unwrap();
    assert!(!entries.is_empty(), "the tombstone exists");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn domain_qualified_and_dns_names_find_the_same_computer() {
    install_crypto();
    let lab = lab();
    let p = start_portal_with(&lab, "", "", false).await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    let mut dc1 = admin(&lab.ldaps_url).await;
    create_computer(&mut dc1, &lab, "T-NAMES", OU, &random_pw()).await;
    let guid = |r: &serde_json::Value| r["account"]["object_guid"].as_str().map(str::to_string);
    let (_, plain) = api_get(&c, &p.base, "/api/v1/computers/T-NAMES").await;
    assert!(guid(&plain).is_some(), "{plain:#}");
    // NetBIOS domain (the crossRef's nETBIOSName), DNS domain, and the DNS host name.
    for name in [
        "LAB%5CT-NAMES",
        "lab.example.test%5Ct-names",
        "t-names.lab.example.test",
    ] {
        let (status, r) = api_get(&c, &p.base, &format!("/api/v1/computers/{name}")).await;
        assert_eq!(status, 200, "{name}: {r}");
        assert_eq!(guid(&r), guid(&plain), "{name}");
    }
    // Another domain's T-NAMES is not this one: a domain the portal does not manage is a
    // clear refusal (#19), never this domain's computer.
    let (status, r) = api_get(&c, &p.base, "/api/v1/computers/OTHER%5CT-NAMES").await;
    assert_eq!(status, 400, "{r}");
    assert_eq!(
        r["message"], "No domain this portal manages is named OTHER.",
        "{r:#}"
    );
}

//! Every diagnosis scenario built for real in the lab (two DCs), checked through the JSON API.
//! One sequential test: the replication-lag scenario pauses DC2's inbound replication, which
//! must not overlap the others.

use std::time::Duration;

use crate::common::{
    api_get, browser, causes, install_crypto, lab, sign_in, start_portal, top_cause,
};
use crate::labctl::{
    admin, create_computer, dc2_inbound, kinit, random_pw, read_attr, replicate_now, set_attr,
    set_password, wait_replicated,
};

const OU: &str = "OU=Berlin,OU=Workstations";

/// `name`'s at-risk causes in fleet report `id` ("" when not at risk).
async fn fleet_causes(p: &crate::common::Portal, id: i64, name: &str) -> String {
    use trustdesk::fleet::report;
    let view = report::load(&p.state.store, &report::Viewer::Service, Some(id))
        .await
        .unwrap()
        .unwrap();
    view.rows
        .into_iter()
        .find(|r| r.name == name)
        .map(|r| r.causes)
        .unwrap_or_default()
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn each_scenario_built_in_the_lab_gets_its_cause() {
    install_crypto();
    let lab = lab();
    let _topology = crate::labctl::TOPOLOGY.lock().await;
    let dc2_url = lab
        .dc2_ldaps_url
        .clone()
        .expect("the scenarios need the second DC (lab/lab.sh up --dc2)");
    // DCs may disagree for 2 s before it is lag (default 300 s), so the lag scenario is quick.
    let p = start_portal(&lab, "\n[diagnosis]\nreplication_skew_secs = 2\n").await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    let mut dc1 = admin(&lab.ldaps_url).await;
    // Every other DC of the domain, DC3 (found only by discovery) included: a scenario is
    // read once all of them hold it.
    let mut others = vec![admin(&dc2_url).await];
    let mut other_names = vec![std::env::var("LAB_DC2_NAME").unwrap()];
    if let (Ok(url), Ok(host)) = (
        std::env::var("LAB_DC3_LDAPS_URL"),
        std::env::var("LAB_DC3_HOST"),
    ) {
        others.push(admin(&url).await);
        other_names.push(host);
    }
    let mut table = Vec::new();

    async fn settle(dc1: &mut ldap3::Ldap, others: &mut [ldap3::Ldap], names: &[String], dn: &str) {
        let want = read_attr(dc1, dn, "pwdLastSet").await.unwrap();
        let uac = read_attr(dc1, dn, "userAccountControl").await.unwrap();
        let source = std::env::var("LAB_DC_NAME").unwrap();
        for (other, name) in others.iter_mut().zip(names) {
            replicate_now(name, &source);
            wait_replicated(other, dn, "pwdLastSet", &want).await;
            wait_replicated(other, dn, "userAccountControl", &uac).await;
        }
    }
    let diagnose = |name: &str| {
        let (c, base, name) = (c.clone(), p.base.clone(), name.to_string());
        async move { api_get(&c, &base, &format!("/api/v1/computers/{name}")).await }
    };

    // healthy: password set, then the machine logs on with it.
    let pw = random_pw();
    let dn = create_computer(&mut dc1, &lab, "T-HEALTHY", OU, &pw).await;
    assert!(kinit("T-HEALTHY", &pw), "the new account can log on");
    settle(&mut dc1, &mut others, &other_names, &dn).await;
    let (status, r) = diagnose("T-HEALTHY").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(top_cause(&r), "healthy", "{r:#}");
    table.push(("healthy", top_cause(&r)));

    // DC-side reset after the machine's last logon; its logons now fail.
    let pw = random_pw();
    let dn = create_computer(&mut dc1, &lab, "T-RESET", OU, &pw).await;
    assert!(kinit("T-RESET", &pw));
    set_password(&mut dc1, &dn, &random_pw()).await;
    assert!(
        !kinit("T-RESET", &pw),
        "the machine's secret no longer works"
    );
    settle(&mut dc1, &mut others, &other_names, &dn).await;
    let (_, r) = diagnose("T-RESET").await;
    assert_eq!(top_cause(&r), "password_set_after_last_logon", "{r:#}");
    table.push(("DC-side reset after last logon", top_cause(&r)));

    // disabled
    let pw = random_pw();
    let dn = create_computer(&mut dc1, &lab, "T-DISABLED", OU, &pw).await;
    assert!(kinit("T-DISABLED", &pw));
    set_attr(&mut dc1, &dn, "userAccountControl", "4098").await;
    settle(&mut dc1, &mut others, &other_names, &dn).await;
    let (_, r) = diagnose("T-DISABLED").await;
    assert_eq!(top_cause(&r), "account_disabled", "{r:#}");
    table.push(("disabled", top_cause(&r)));

    // deleted and re-created with the same name (seen once before: the portal remembers).
    let pw = random_pw();
    let dn = create_computer(&mut dc1, &lab, "T-RECREATE", OU, &pw).await;
    assert!(kinit("T-RECREATE", &pw));
    settle(&mut dc1, &mut others, &other_names, &dn).await;
    let (_, before) = diagnose("T-RECREATE").await;
    assert_eq!(top_cause(&before), "healthy", "{before:#}");
    let dn = create_computer(&mut dc1, &lab, "T-RECREATE", OU, &random_pw()).await;
    settle(&mut dc1, &mut others, &other_names, &dn).await;
    let (_, r) = diagnose("T-RECREATE").await;
    assert!(
        causes(&r).contains(&"account_recreated".to_string()),
        "{r:#}"
    );
    assert_ne!(
        before["account"]["object_guid"],
        r["account"]["object_guid"]
    );
    table.push(("deleted and re-created", top_cause(&r)));

    // clone churn: several password sets inside the window.
    let dn = create_computer(&mut dc1, &lab, "T-CLONE", OU, &random_pw()).await;
    let mut last = String::new();
    for _ in 0..3 {
        last = random_pw();
        set_password(&mut dc1, &dn, &last).await;
    }
    assert!(kinit("T-CLONE", &last));
    settle(&mut dc1, &mut others, &other_names, &dn).await;
    let (_, r) = diagnose("T-CLONE").await;
    assert!(causes(&r).contains(&"clone_suspected".to_string()), "{r:#}");
    table.push(("clone churn", causes(&r).join(",")));

    // a domain controller
    let (status, r) = diagnose("DC1").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(top_cause(&r), "protected_account", "{r:#}");
    table.push(("domain controller", top_cause(&r)));

    // silent for months but consistent (the lab backdates SILENT-WS01 offline).
    let (status, r) = diagnose("SILENT-WS01").await;
    assert_eq!(status, 200, "{r}");
    assert_eq!(
        causes(&r),
        vec!["healthy".to_string()],
        "a long silence alone is not a cause: {r:#}"
    );
    let findings = r["diagnosis"]["findings"].to_string();
    assert!(
        findings.contains("days"),
        "the silence is reported as information: {findings}"
    );
    table.push(("silent for months, consistent", top_cause(&r)));

    // replication lag: DC2 stops taking changes, then a reset on DC1.
    let pw = random_pw();
    let dn = create_computer(&mut dc1, &lab, "T-LAG", OU, &pw).await;
    assert!(kinit("T-LAG", &pw));
    settle(&mut dc1, &mut others, &other_names, &dn).await;
    // T-ROT rotates "by itself" on DC1 (new password, then a logon with it): DC1 alone shows a
    // healthy machine, so the fleet scan reads DC2 for it only because replication says it
    // may differ (DC2's up-to-dateness vector is behind DC1's uSNChanged for it).
    let rot_pw = random_pw();
    let rot = create_computer(&mut dc1, &lab, "T-ROT", OU, &rot_pw).await;
    assert!(kinit("T-ROT", &rot_pw));
    settle(&mut dc1, &mut others, &other_names, &rot).await;
    dc2_inbound(false);
    let lagged = async {
        set_password(&mut dc1, &dn, &random_pw()).await;
        let rot_pw = random_pw();
        set_password(&mut dc1, &rot, &rot_pw).await;
        assert!(kinit("T-ROT", &rot_pw));
        tokio::time::sleep(Duration::from_secs(3)).await;
        let scan = async {
            let grant = trustdesk::policy::Grant::for_service();
            let ctx = p.state.scan.clone();
            let (id, outcome) = p
                .state
                .fleet
                .run(&grant, &ctx, "test", &|_| {})
                .await
                .unwrap();
            outcome.unwrap();
            id
        };
        (diagnose("T-LAG").await, scan.await)
    }
    .await;
    dc2_inbound(true);
    let ((_, r), report) = lagged;
    assert!(causes(&r).contains(&"replication_lag".to_string()), "{r:#}");
    table.push(("replication lag (DC2 inbound off)", top_cause(&r)));
    for name in ["T-LAG", "T-ROT"] {
        let fleet = fleet_causes(&p, report, name).await;
        assert!(
            fleet.split(',').any(|c| c == "replication_lag"),
            "the fleet scan must see {name}'s lag too: {fleet:?}"
        );
    }

    eprintln!("scenario → top cause");
    for (scenario, cause) in &table {
        eprintln!("  {scenario:<36} {cause}");
    }
}

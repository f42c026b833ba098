//! Computers that are tier 0 in all but name (security review H-1), as real objects in the
//! lab's OU=Servers, which the senior and admin roles cover and the service account may reset
//! (`lab/fixtures.sh` `tier0_fixture`): unconstrained delegation, protocol transition,
//! constrained delegation to a DC, Cert Publishers through a nested group, and a group named
//! in `ldap.protected_groups`. Each is refused for mint and reset to every role, with its
//! reason on the page, in the answer and in the audit log; a token minted before a server
//! became such a computer is refused at redeem, and nothing is written to AD.

use std::collections::HashSet;

use ldap3::Mod;

use crate::common::csrf;
use crate::common::{Lab, browser, get_text, install_crypto, lab, sign_in, start_portal};
use crate::labctl::{admin, create_computer, random_pw, read_attr, set_attr};
use crate::repair_lab::{machine_pw, mint, redeem, signed_in};

/// The lab's tier-0-equivalent servers and the words the refusal must name.
const TIER0: &[(&str, &str)] = &[
    (
        "SRV-UNC01",
        "unconstrained delegation (TRUSTED_FOR_DELEGATION)",
    ),
    (
        "SRV-S4U01",
        "TRUSTED_TO_AUTH_FOR_DELEGATION, protocol transition",
    ),
    ("SRV-KCD01", "allowed to delegate to a domain controller"),
    (
        "SRV-CA01",
        "a member of the privileged group Cert Publishers",
    ),
    (
        "SRV-T0G01",
        "a member of the privileged group Tier0-Servers",
    ),
];

/// The newest audit row for `action` on `name`.
async fn last_audit(
    p: &crate::common::Portal,
    action: &str,
    name: &str,
) -> trustdesk::db::NewAuditRow {
    p.state
        .store
        .audit_recent(20)
        .await
        .unwrap()
        .into_iter()
        .find(|r| r.event.action == action && r.event.target_name.as_deref() == Some(name))
        .unwrap_or_else(|| panic!("no {action} row for {name}"))
        .event
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn tier0_equivalents_are_refused_mint_and_reset_by_every_role_with_the_reason() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    // alice: senior (OU=Workstations and OU=Servers); erin: admin (the same, and domain-wide
    // lookup); bob: junior (Paris only, no reset): a forged mint still meets the protection.
    for (user, sees_page) in [("alice", true), ("erin", true), ("bob", false)] {
        let c = browser();
        sign_in(&c, &p.base, user, &format!("{user}-pw")).await;
        let token = csrf(&c, &p.base).await;
        for (name, why) in TIER0 {
            if sees_page {
                let page = get_text(&c, &format!("{}/computers/{name}", p.base)).await;
                assert!(
                    page.contains("this is a protected account") && page.contains(why),
                    "{user}: {name}'s page names the reason ({why}):\n{page}"
                );
                assert!(
                    !page.contains("id=\"mint\"") && !page.contains("id=\"reset\""),
                    "{user}: no repair offered on {name}"
                );
            }
            for (path, action) in [("tokens", "mint_token"), ("reset", "reset_account")] {
                let r = c
                    .post(format!("{}/computers/{name}/{path}", p.base))
                    .form(&[
                        ("csrf", token.as_str()),
                        ("ticket", "INC-H1"),
                        ("override_reason", ""),
                    ])
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), 403, "{user} {action} {name}");
                let body = r.text().await.unwrap();
                let granted = !(user == "bob" && action == "reset_account");
                if granted {
                    assert!(
                        body.contains("protected object") && body.contains(why),
                        "{user} {action} {name}: the answer names the reason:\n{body}"
                    );
                }
                let row = last_audit(&p, action, name).await;
                assert_eq!(row.outcome, "denied", "{user} {action} {name}");
                if granted {
                    assert!(
                        row.reason.as_deref().is_some_and(|r| r.contains(why)),
                        "{user} {action} {name}: audited with the reason: {:?}",
                        row.reason
                    );
                }
            }
        }
        if user == "erin" {
            let policy = get_text(&c, &format!("{}/policy", p.base)).await;
            for rule in [
                "TRUSTED_FOR_DELEGATION",
                "TRUSTED_TO_AUTH_FOR_DELEGATION",
                "names a domain controller",
                "Cert Publishers",
                "Key Admins",
                "CN=Tier0-Servers,OU=Servers",
            ] {
                assert!(
                    policy.contains(rule),
                    "the policy page lists {rule}:\n{policy}"
                );
            }
        }
    }
}

/// A server that becomes tier 0 after its token was minted: the redeem re-checks, refuses
/// with the reason in the audit log, and writes nothing.
#[tokio::test]
#[ignore = "needs the lab"]
async fn a_token_for_a_server_that_became_tier0_is_refused_at_redeem() {
    install_crypto();
    let lab = lab();
    let (p, c) = signed_in(&lab, "", "").await;
    let mut dc = admin(&lab.ldaps_url).await;
    let pki = format!("CN=PKI-Hosts,OU=Servers,{}", lab.base_dn);
    let cases: [(&str, &str); 3] = [
        ("T0-LATE-UNC", "TRUSTED_FOR_DELEGATION"),
        ("T0-LATE-S4U", "TRUSTED_TO_AUTH_FOR_DELEGATION"),
        ("T0-LATE-CA", "Cert Publishers"),
    ];
    let mut made = Vec::new();
    for (name, why) in cases {
        let dn = create_computer(&mut dc, &lab, name, "OU=Servers", &random_pw()).await;
        made.push(dn.clone());
        let token = mint(&c, &p.base, name).await;
        match name {
            "T0-LATE-UNC" => set_attr(&mut dc, &dn, "userAccountControl", "528384").await,
            "T0-LATE-S4U" => set_attr(&mut dc, &dn, "userAccountControl", "16781312").await,
            _ => add_member(&mut dc, &pki, &dn).await,
        }
        let before = read_attr(&mut dc, &dn, "pwdLastSet").await;
        let (status, body) = redeem(&p.base, &token, &machine_pw()).await;
        assert_eq!(status, 403, "{name}: {body}");
        assert_eq!(body["error"], "not_allowed", "{name}: {body}");
        assert_eq!(
            read_attr(&mut dc, &dn, "pwdLastSet").await,
            before,
            "{name}: nothing written"
        );
        let row = last_audit(&p, "redeem_token", name).await;
        assert_eq!(row.outcome, "denied");
        assert!(
            row.reason
                .as_deref()
                .is_some_and(|r| r.contains("not_allowed") && r.contains(why)),
            "{name}: audited with the reason: {:?}",
            row.reason
        );
    }
    cleanup(&mut dc, &lab, &made).await;
}

async fn add_member(dc: &mut ldap3::Ldap, group: &str, member: &str) {
    dc.modify(group, vec![Mod::Add("member", HashSet::from([member]))])
        .await
        .unwrap()
        .success()
        .unwrap();
}

async fn cleanup(dc: &mut ldap3::Ldap, _lab: &Lab, dns: &[String]) {
    for dn in dns {
        let _ = dc.delete(dn).await;
    }
}

/// Revoke authorises against the object the token was minted for (security review L-12): by
/// its objectGUID, or by its DN once it is gone, never whichever object holds the name now.
#[tokio::test]
#[ignore = "needs the lab"]
async fn revoke_goes_by_the_object_the_token_was_minted_for() {
    install_crypto();
    let lab = lab();
    let (p, c) = signed_in(&lab, "", "").await;
    let mut dc = admin(&lab.ldaps_url).await;
    let name = "T-REVOKED";
    let dn = create_computer(
        &mut dc,
        &lab,
        name,
        "OU=Berlin,OU=Workstations",
        &random_pw(),
    )
    .await;
    let _token = mint(&c, &p.base, name).await;
    let row = p
        .state
        .store
        .tokens_where(None, None, 20)
        .await
        .unwrap()
        .into_iter()
        .find(|t| t.computer_sam == format!("{name}$") && t.state.as_str() == "pending")
        .unwrap();
    // The object is deleted and its name taken by one outside alice's scopes.
    dc.delete(&dn).await.unwrap().success().unwrap();
    let other = create_computer(&mut dc, &lab, name, "OU=Protected", &random_pw()).await;
    let csrf = csrf(&c, &p.base).await;
    let r = c
        .post(format!("{}/tokens/{}/revoke", p.base, row.jti))
        .form(&[("csrf", csrf.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap_or_default());
    let after = p.state.store.token_by_jti(&row.jti).await.unwrap().unwrap();
    assert_eq!(after.state.as_str(), "revoked");
    let _ = dc.delete(&other).await;
}

/// Tombstones only from where the person may diagnose (security review L-5): a portal whose
/// account may list Deleted Objects (here the lab's Administrator; by default only admins
/// may, KB 892806) shows alice the deleted computer of her Paris OU, and not the one deleted
/// from OU=Protected, which none of her roles covers.
#[tokio::test]
#[ignore = "needs the lab"]
async fn tombstones_come_only_from_ous_the_person_may_diagnose() {
    install_crypto();
    let lab = lab();
    let env = crate::e2e_repair::env;
    let as_admin = Lab {
        svc_upn: env("LAB_ADMIN_UPN"),
        svc_pw: env("LAB_ADMIN_PW"),
        ldaps_url: lab.ldaps_url.clone(),
        dc2_ldaps_url: lab.dc2_ldaps_url.clone(),
        ca: lab.ca.clone(),
        base_dn: lab.base_dn.clone(),
    };
    let p = start_portal(&as_admin, "").await;
    let c = browser();
    sign_in(&c, &p.base, "alice", "alice-pw").await;
    let mut dc = admin(&lab.ldaps_url).await;
    for (name, ou, shown) in [
        ("T-TOMB-PAR", "OU=Paris,OU=Workstations", true),
        ("T-TOMB-PRT", "OU=Protected", false),
    ] {
        let dn = create_computer(&mut dc, &lab, name, ou, &random_pw()).await;
        dc.delete(&dn).await.unwrap().success().unwrap();
        let (status, r) =
            crate::common::api_get(&c, &p.base, &format!("/api/v1/computers/{name}")).await;
        assert_eq!(status, 200, "{r}");
        let tombstones = r["tombstones"].as_array().cloned().unwrap_or_default();
        assert_eq!(!tombstones.is_empty(), shown, "{name}: {r:#}");
        if !shown {
            assert!(!r.to_string().contains("OU=Protected"), "{r:#}");
        }
    }
}

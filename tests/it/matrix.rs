//! The authorization matrix: every role × action × target, with in-scope, out-of-scope and
//! protected objects read from the lab, against an oracle written independently of the
//! policy code. Reports how many combinations it checked.

use trustdesk::directory::filter::ComputerQuery;
use trustdesk::policy::{self, Action, Policy, Target};

use crate::common::{config_toml, install_crypto, lab, load_config};

const ROLES: &str = r#"
[roles.senior]
groups = ["helpdesk-senior"]
actions = ["lookup", "diagnose", "mint_token", "revoke_token", "reset_account"]
scopes = ["OU=Workstations,{B}", "OU=Servers,{B}"]

[roles.junior]
groups = ["helpdesk-junior-paris"]
actions = ["lookup", "diagnose", "mint_token"]
scopes = ["OU=Paris,OU=Workstations,{B}"]

[roles.auditor]
groups = ["security-auditors"]
actions = ["view_audit", "export_audit"]

[roles.admin]
groups = ["trustdesk-admins"]
actions = ["lookup", "diagnose", "mint_token", "revoke_token", "reset_account", "view_audit", "export_audit", "view_policy", "run_fleet_scan"]
scopes = ["OU=Workstations,{B}", "OU=Servers,{B}"]
"#;

/// Where a target sits, as the oracle sees it.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Place {
    Paris,
    Berlin,
    Servers,
    ProtectedOu,
    AdminCount,
    DomainController,
    /// Tier 0 in all but name, in OU=Servers (lab/fixtures.sh `tier0_fixture`).
    Tier0Equivalent,
}

/// The expected answer, from the design, not from the code under test.
fn oracle(role: &str, action: Action, place: Place) -> bool {
    let protected = matches!(
        place,
        Place::ProtectedOu | Place::AdminCount | Place::DomainController | Place::Tier0Equivalent
    );
    // Revoking only takes a credential away: protection does not stop it, scope does.
    let changes = matches!(action, Action::MintToken | Action::ResetAccount);
    if protected && changes {
        return false; // refused to everyone
    }
    let in_ws_or_servers = matches!(
        place,
        Place::Paris | Place::Berlin | Place::Servers | Place::AdminCount | Place::Tier0Equivalent
    );
    match role {
        "junior" => {
            matches!(
                action,
                Action::Lookup | Action::Diagnose | Action::MintToken
            ) && place == Place::Paris
        }
        "senior" | "admin" => {
            matches!(
                action,
                Action::Lookup
                    | Action::Diagnose
                    | Action::MintToken
                    | Action::RevokeToken
                    | Action::ResetAccount
            ) && in_ws_or_servers
        }
        _ => false,
    }
}

fn allowed(p: &Policy, roles: &[String], action: Action, t: &Target<'_>) -> bool {
    match action {
        Action::Lookup => p.authorize::<policy::Lookup>(roles, t).is_ok(),
        Action::Diagnose => p.authorize::<policy::Diagnose>(roles, t).is_ok(),
        Action::MintToken => p.authorize::<policy::MintToken>(roles, t).is_ok(),
        Action::RevokeToken => p.authorize::<policy::RevokeToken>(roles, t).is_ok(),
        Action::ResetAccount => p.authorize::<policy::ResetAccount>(roles, t).is_ok(),
        // Target-less actions.
        other => p.allows(roles, other),
    }
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn every_role_action_and_target_matches_the_oracle() {
    install_crypto();
    let lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let toml = config_toml(dir.path(), &[&lab.ldaps_url], &lab.ca, &lab).replace(
        "[ldap]\n",
        &format!(
            "[ldap]\nprotected_ous = [\"OU=Protected,{0}\"]\nprotected_groups = [\"{1},{0}\"]\n",
            lab.base_dn,
            crate::common::TIER0_GROUP
        ),
    ) + &ROLES.replace("{B}", &lab.base_dn);
    let cfg = load_config(dir.path(), &toml);
    let policy = Policy::from_config(&cfg);
    let directory = trustdesk::directory::Directory::new(&cfg.ldap).unwrap();

    let targets = [
        ("PAR-WS001", Place::Paris),
        ("LABWS01", Place::Paris),
        ("BER-WS001", Place::Berlin),
        ("SRV-APP01", Place::Servers),
        ("PAW-ADM01", Place::ProtectedOu),
        ("TIER0-WS01", Place::AdminCount),
        ("DC1", Place::DomainController),
        ("SRV-UNC01", Place::Tier0Equivalent),
        ("SRV-S4U01", Place::Tier0Equivalent),
        ("SRV-KCD01", Place::Tier0Equivalent),
        ("SRV-CA01", Place::Tier0Equivalent),
        ("SRV-T0G01", Place::Tier0Equivalent),
    ];
    let mut accounts = Vec::new();
    for (name, place) in targets {
        let a = directory
            .find_computer(&ComputerQuery::parse(name).unwrap())
            .await
            .unwrap()
            .unwrap();
        let a = directory.with_privilege(a).await.unwrap();
        accounts.push((name, place, a));
    }
    let actions = [
        Action::Lookup,
        Action::Diagnose,
        Action::MintToken,
        Action::RevokeToken,
        Action::ResetAccount,
        Action::ViewAudit,
        Action::ExportAudit,
        Action::ViewPolicy,
        Action::RunFleetScan,
    ];
    let (mut checked, mut wrongly_allowed, mut wrongly_denied) = (0, Vec::new(), Vec::new());
    for role in ["junior", "senior", "auditor", "admin", "none"] {
        let roles = if role == "none" {
            vec![]
        } else {
            vec![role.to_string()]
        };
        for action in actions {
            for (name, place, account) in &accounts {
                let t = Target {
                    dn: &account.dn,
                    account: Some(account),
                };
                let got = allowed(&policy, &roles, action, &t);
                let want = match action {
                    Action::ViewAudit | Action::ExportAudit => matches!(role, "auditor" | "admin"),
                    Action::ViewPolicy | Action::RunFleetScan => role == "admin",
                    _ => oracle(role, action, *place),
                };
                checked += 1;
                match (got, want) {
                    (true, false) => {
                        wrongly_allowed.push(format!("{role} {} {name}", action.as_str()))
                    }
                    (false, true) => {
                        wrongly_denied.push(format!("{role} {} {name}", action.as_str()))
                    }
                    _ => {}
                }
            }
        }
    }
    eprintln!(
        "authorization matrix: {checked} combinations checked, {} allowed where denied, {} denied where allowed",
        wrongly_allowed.len(),
        wrongly_denied.len()
    );
    assert!(
        wrongly_allowed.is_empty(),
        "allowed where it must be denied: {wrongly_allowed:?}"
    );
    assert!(
        wrongly_denied.is_empty(),
        "denied where it should be allowed: {wrongly_denied:?}"
    );
    assert_eq!(checked, 5 * 9 * 12);
}

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

[roles.trainee]
groups = ["helpdesk-trainees"]
actions = ["lookup", "diagnose", "mint_token", "reset_account"]
scopes = ["OU=Workstations,{B}", "OU=Servers,{B}"]
approval = { actions = ["mint_token", "reset_account"], scopes = ["OU=Servers,{B}"], approvers = ["senior"] }

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
        // Changes in OU=Servers wait for a senior's approval (see `held`): not allowed as such.
        "trainee" => match action {
            Action::Lookup | Action::Diagnose => in_ws_or_servers,
            Action::MintToken | Action::ResetAccount => {
                matches!(place, Place::Paris | Place::Berlin)
            }
            _ => false,
        },
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

/// Whether the policy holds `action` back for an approval: the trainee's changes on servers
/// that are not protected (protection refuses first, and no approval lifts it).
fn held(role: &str, action: Action, place: Place) -> bool {
    role == "trainee"
        && matches!(action, Action::MintToken | Action::ResetAccount)
        && place == Place::Servers
}

fn needs_approval(p: &Policy, roles: &[String], action: Action, t: &Target<'_>) -> bool {
    let denied = match action {
        Action::MintToken => p.authorize::<policy::MintToken>(roles, t).err(),
        Action::ResetAccount => p.authorize::<policy::ResetAccount>(roles, t).err(),
        _ => None,
    };
    matches!(denied, Some(policy::Denied::NeedsApproval(_)))
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
    let directory = trustdesk::directory::Directory::new(&cfg.domains[0]).unwrap();

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
    let mut wrongly_held = Vec::new();
    for role in ["junior", "senior", "auditor", "admin", "trainee", "none"] {
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
                if needs_approval(&policy, &roles, action, &t) != held(role, action, *place) {
                    wrongly_held.push(format!("{role} {} {name}", action.as_str()));
                }
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
    let approvals = approval_paths(
        &policy,
        &accounts,
        &mut wrongly_allowed,
        &mut wrongly_denied,
    );
    eprintln!(
        "authorization matrix: {checked} combinations checked (each also for being held for an \
         approval), and {approvals} approval paths; {} allowed where denied, {} denied where \
         allowed, {} held where not",
        wrongly_allowed.len(),
        wrongly_denied.len(),
        wrongly_held.len()
    );
    assert!(
        wrongly_held.is_empty(),
        "held for approval wrongly: {wrongly_held:?}"
    );
    assert!(
        wrongly_allowed.is_empty(),
        "allowed where it must be denied: {wrongly_allowed:?}"
    );
    assert!(
        wrongly_denied.is_empty(),
        "denied where it should be allowed: {wrongly_denied:?}"
    );
    assert_eq!(checked, 6 * 9 * 12);
    assert_eq!(approvals, 2 * 7 * 2 + 2 * 12);
}

/// The approval paths: who may decide the trainee's held-back change on a server (every role,
/// as the requester themself and as another person), and what an approval then lets the
/// trainee do on every target (nothing a protection or a scope refuses). Returns how many
/// were checked; wrong answers go to the two lists.
fn approval_paths(
    p: &Policy,
    accounts: &[(&str, Place, trustdesk::ad::ComputerAccount)],
    wrongly_allowed: &mut Vec<String>,
    wrongly_denied: &mut Vec<String>,
) -> usize {
    let trainee = vec!["trainee".to_string()];
    let server = accounts
        .iter()
        .find(|(_, place, _)| *place == Place::Servers)
        .map(|(_, _, a)| a)
        .unwrap();
    let requester = policy::Person {
        issuer: "https://idp",
        sub: "trainee-sub",
    };
    let mut checked = 0;
    let mut check = |what: String, got: bool, want: bool| {
        checked += 1;
        match (got, want) {
            (true, false) => wrongly_allowed.push(what),
            (false, true) => wrongly_denied.push(what),
            _ => {}
        }
    };
    for action in [Action::MintToken, Action::ResetAccount] {
        let pending = policy::Pending {
            id: "request",
            requester,
            requester_roles: &trainee,
            dn: &server.dn,
        };
        for role in [
            "junior",
            "senior",
            "auditor",
            "admin",
            "trainee",
            "none",
            "senior+trainee",
        ] {
            let roles: Vec<String> = role
                .split('+')
                .filter(|r| *r != "none")
                .map(str::to_string)
                .collect();
            for own in [true, false] {
                let approver = if own {
                    requester
                } else {
                    policy::Person {
                        issuer: "https://idp",
                        sub: "someone-else",
                    }
                };
                let got = p.may_decide(action, &pending, approver, &roles).is_ok();
                let want = !own && roles.iter().any(|r| r == "senior");
                check(
                    format!("{role} (own: {own}) decides {}", action.as_str()),
                    got,
                    want,
                );
            }
        }
        // An approval lets the trainee do the change on the server, and nowhere it would be
        // refused without one: scope and protection still hold.
        let someone = policy::Person {
            issuer: "https://idp",
            sub: "senior-sub",
        };
        for (name, place, account) in accounts {
            let t = Target {
                dn: &account.dn,
                account: Some(account),
            };
            let senior = ["senior".to_string()];
            let got = match action {
                Action::MintToken => {
                    let ok = p
                        .decide::<policy::MintToken>(&pending, someone, &senior)
                        .unwrap();
                    p.authorize_approved(&trainee, &t, &ok).is_ok()
                }
                _ => {
                    let ok = p
                        .decide::<policy::ResetAccount>(&pending, someone, &senior)
                        .unwrap();
                    p.authorize_approved(&trainee, &t, &ok).is_ok()
                }
            };
            let want = matches!(place, Place::Paris | Place::Berlin | Place::Servers);
            check(
                format!("trainee approved {} {name}", action.as_str()),
                got,
                want,
            );
        }
    }
    checked
}

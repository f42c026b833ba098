//! What makes a computer tier 0 in all but name (pure AD facts; security review H-1).
//!
//! Holding a computer account's password lets one act as that computer. For most computers
//! that means local admin on that one host. For some it is a path to the domain:
//!
//! - **Unconstrained delegation** (`TRUSTED_FOR_DELEGATION`, 0x80000): every user, a DC
//!   included, that authenticates to it leaves a forwardable TGT (MS-ADTS 2.2.16; Microsoft
//!   Learn, "Kerberos Unconstrained Delegation").
//! - **Protocol transition** (`TRUSTED_TO_AUTH_FOR_DELEGATION`, 0x1000000): S4U2Self then
//!   S4U2Proxy as any user, Domain Admins included, to the services it lists (MS-SFU 3.2.5.1.2).
//! - **Constrained delegation to a DC** (`msDS-AllowedToDelegateTo` naming a DC's service):
//!   a ticket to a DC's LDAP or CIFS as whoever delegates to it.
//! - **Membership of a privileged group**, nested, read from the constructed `tokenGroups`
//!   (MS-ADTS 3.1.1.4.5.19), since `adminCount` is stamped only when SDProp next runs (up to an
//!   hour, then replication; Microsoft Learn, "Appendix C: Protected Accounts and Groups in
//!   Active Directory"), and some privileged groups (Cert Publishers, Key Admins) are not
//!   AdminSDHolder-protected at all.
//! - **`primaryGroupID` 516 or 521**: Domain Controllers or Read-only Domain Controllers.
//!
//! The lists are the well-known relative identifiers of MS-DTYP 2.4.2.4 and the privileged
//! groups of Microsoft Learn "Appendix B: Privileged Accounts and Groups in Active Directory".
//! Every reason here is refused to every role by the policy, and named by the diagnosis.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::account::ComputerAccount;
use super::uac::Uac;

/// What the directory said about a computer's privileges, beyond `userAccountControl`.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Privilege {
    /// `primaryGroupID` (515, Domain Computers, for a member).
    pub primary_group_id: Option<u32>,
    /// `msDS-AllowedToDelegateTo`: the SPNs it may delegate to.
    pub allowed_to_delegate_to: Vec<String>,
    /// The entries of `allowed_to_delegate_to` whose host is a DC of the domain.
    pub delegates_to_dc: Vec<String>,
    /// The privileged groups it is a member of, nested.
    pub groups: GroupCheck,
}

/// Whether the computer's nested group membership was read, and what it held.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum GroupCheck {
    /// Not read on this path (the fleet scan). A change needs it read: the policy refuses.
    #[default]
    NotRead,
    /// Tried, and the directory did not tell: treated as privileged (fail closed).
    Unreadable { why: String },
    /// Read: the privileged groups among them (empty: none).
    Read { privileged: Vec<String> },
}

/// One reason a computer is tier 0, in the words the page and the audit log use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "rule", content = "detail", rename_all = "snake_case")]
pub enum Tier0 {
    DomainController,
    ReadOnlyDomainController,
    AdminCount,
    UnconstrainedDelegation,
    ProtocolTransition,
    DelegatesToDc(String),
    PrivilegedGroup(String),
    PrimaryGroup(u32),
    GroupsUnreadable(String),
}

impl std::fmt::Display for Tier0 {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::DomainController => f.write_str("a domain controller"),
            Self::ReadOnlyDomainController => f.write_str("a read-only domain controller"),
            Self::AdminCount => f.write_str("adminCount=1, a tier-0 object"),
            Self::UnconstrainedDelegation => f.write_str(
                "trusted for unconstrained delegation (TRUSTED_FOR_DELEGATION): its password opens the domain",
            ),
            Self::ProtocolTransition => f.write_str(
                "trusted to authenticate for delegation (TRUSTED_TO_AUTH_FOR_DELEGATION, protocol transition)",
            ),
            Self::DelegatesToDc(spn) => {
                write!(f, "allowed to delegate to a domain controller ({spn})")
            }
            Self::PrivilegedGroup(g) => write!(f, "a member of the privileged group {g}"),
            Self::PrimaryGroup(id) => write!(
                f,
                "primaryGroupID {id} ({})",
                if *id == RID_DOMAIN_CONTROLLERS {
                    "Domain Controllers"
                } else {
                    "Read-only Domain Controllers"
                }
            ),
            Self::GroupsUnreadable(why) => write!(
                f,
                "its group membership could not be read ({why}), so trustdesk cannot tell it is not tier 0"
            ),
        }
    }
}

const RID_DOMAIN_CONTROLLERS: u32 = 516;
const RID_READ_ONLY_DOMAIN_CONTROLLERS: u32 = 521;

/// Domain-relative RIDs of privileged groups (MS-DTYP 2.4.2.4). RIDs below 1000 are reserved
/// in every domain, so they are matched under any domain SID (a child domain's, the forest
/// root's for the Enterprise groups).
const DOMAIN_RIDS: &[(u32, &str)] = &[
    (498, "Enterprise Read-only Domain Controllers"),
    (512, "Domain Admins"),
    (516, "Domain Controllers"),
    (517, "Cert Publishers"),
    (518, "Schema Admins"),
    (519, "Enterprise Admins"),
    (521, "Read-only Domain Controllers"),
    (526, "Key Admins"),
    (527, "Enterprise Key Admins"),
];

/// Privileged BUILTIN groups (S-1-5-32-…) and well-known SIDs.
const WELL_KNOWN: &[(&str, &str)] = &[
    ("S-1-5-9", "Enterprise Domain Controllers"),
    ("S-1-5-32-544", "Administrators"),
    ("S-1-5-32-548", "Account Operators"),
    ("S-1-5-32-549", "Server Operators"),
    ("S-1-5-32-550", "Print Operators"),
    ("S-1-5-32-551", "Backup Operators"),
    ("S-1-5-32-552", "Replicator"),
];

/// The rules, in words, for the policy page (the same lists the check reads).
pub fn rules() -> Vec<String> {
    let groups: Vec<&str> = DOMAIN_RIDS
        .iter()
        .map(|(_, n)| *n)
        .chain(WELL_KNOWN.iter().map(|(_, n)| *n))
        .collect();
    vec![
        "domain controllers and read-only domain controllers (userAccountControl, or primaryGroupID 516/521)".into(),
        "objects with adminCount=1".into(),
        "computers trusted for unconstrained delegation (TRUSTED_FOR_DELEGATION)".into(),
        "computers trusted to authenticate for delegation (TRUSTED_TO_AUTH_FOR_DELEGATION, protocol transition)".into(),
        "computers whose msDS-AllowedToDelegateTo names a domain controller".into(),
        format!(
            "members, nested, of the privileged groups: {}",
            groups.join(", ")
        ),
        "computers whose group membership (tokenGroups) the service account cannot read".into(),
    ]
}

/// The name of a privileged group, by SID, if the SID is one.
pub fn privileged_group(sid: &str) -> Option<&'static str> {
    if let Some((_, name)) = WELL_KNOWN.iter().find(|(s, _)| *s == sid) {
        return Some(name);
    }
    // A domain SID is S-1-5-21-a-b-c; a group's adds its RID.
    let rest = sid.strip_prefix("S-1-5-21-")?;
    let parts: Vec<&str> = rest.split('-').collect();
    let [_, _, _, rid] = parts.as_slice() else {
        return None;
    };
    let rid: u32 = rid.parse().ok()?;
    DOMAIN_RIDS
        .iter()
        .find(|(r, _)| *r == rid)
        .map(|(_, name)| *name)
}

/// The host of an SPN (`service/host[:port][/name]`), without its port.
pub fn spn_host(spn: &str) -> Option<&str> {
    let rest = spn.split_once('/')?.1;
    let host = rest.split('/').next()?;
    let host = host.split(':').next()?;
    (!host.is_empty()).then_some(host)
}

/// Every reason `account` is tier 0, most fundamental first. Empty: nothing here says so
/// (the policy's protected OUs are checked apart).
pub fn tier0_reasons(account: &ComputerAccount) -> Vec<Tier0> {
    let mut out = Vec::new();
    if account.uac.has(Uac::SERVER_TRUST_ACCOUNT) {
        out.push(Tier0::DomainController);
    }
    if account.uac.has(Uac::PARTIAL_SECRETS_ACCOUNT) {
        out.push(Tier0::ReadOnlyDomainController);
    }
    let p = &account.privilege;
    if let Some(id @ (RID_DOMAIN_CONTROLLERS | RID_READ_ONLY_DOMAIN_CONTROLLERS)) =
        p.primary_group_id
    {
        out.push(Tier0::PrimaryGroup(id));
    }
    if account.admin_count {
        out.push(Tier0::AdminCount);
    }
    if account.uac.has(Uac::TRUSTED_FOR_DELEGATION) {
        out.push(Tier0::UnconstrainedDelegation);
    }
    if account.uac.has(Uac::TRUSTED_TO_AUTH_FOR_DELEGATION) {
        out.push(Tier0::ProtocolTransition);
    }
    out.extend(p.delegates_to_dc.iter().cloned().map(Tier0::DelegatesToDc));
    match &p.groups {
        GroupCheck::NotRead => {}
        GroupCheck::Unreadable { why } => out.push(Tier0::GroupsUnreadable(why.clone())),
        GroupCheck::Read { privileged } => {
            out.extend(privileged.iter().cloned().map(Tier0::PrivilegedGroup));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn privileged_sids_by_rid_under_any_domain_and_builtin() {
        let cases = [
            ("S-1-5-21-1-2-3-517", Some("Cert Publishers")),
            ("S-1-5-21-9-8-7-516", Some("Domain Controllers")),
            (
                "S-1-5-21-9-8-7-498",
                Some("Enterprise Read-only Domain Controllers"),
            ),
            ("S-1-5-21-9-8-7-526", Some("Key Admins")),
            ("S-1-5-21-9-8-7-527", Some("Enterprise Key Admins")),
            ("S-1-5-21-1-2-3-515", None), // Domain Computers
            ("S-1-5-21-1-2-3-1517", None),
            ("S-1-5-21-1-2-517", None), // too few sub-authorities
            ("S-1-5-32-544", Some("Administrators")),
            ("S-1-5-32-545", None), // Users
            ("S-1-5-11", None),
            ("", None),
        ];
        for (sid, want) in cases {
            assert_eq!(privileged_group(sid), want, "{sid}");
        }
    }

    #[test]
    fn spn_hosts() {
        let cases = [
            ("ldap/dc1.lab.example.test", Some("dc1.lab.example.test")),
            (
                "ldap/dc1.lab.example.test/lab.example.test",
                Some("dc1.lab.example.test"),
            ),
            ("MSSQLSvc/sql01.corp:1433", Some("sql01.corp")),
            ("cifs/DC1", Some("DC1")),
            ("nohost", None),
            ("http/", None),
        ];
        for (spn, want) in cases {
            assert_eq!(spn_host(spn), want, "{spn}");
        }
    }

    fn account(uac: u32, admin_count: bool, privilege: Privilege) -> ComputerAccount {
        let mut a = crate::ad::account::tests_support::account("CN=S,OU=Servers,DC=x", "S$");
        a.uac = Uac(uac);
        a.admin_count = admin_count;
        a.privilege = privilege;
        a
    }

    #[test]
    fn every_rule_and_its_boundary() {
        let read = |g: &[&str]| GroupCheck::Read {
            privileged: g.iter().map(|s| s.to_string()).collect(),
        };
        let member = Privilege {
            groups: read(&[]),
            primary_group_id: Some(515),
            ..Default::default()
        };
        let cases: Vec<(&str, ComputerAccount, Vec<Tier0>)> = vec![
            (
                "plain member",
                account(0x1000, false, member.clone()),
                vec![],
            ),
            (
                "groups not read: no reason here (the policy refuses changes apart)",
                account(0x1000, false, Privilege::default()),
                vec![],
            ),
            (
                "DC",
                account(0x2000, false, member.clone()),
                vec![Tier0::DomainController],
            ),
            (
                "RODC",
                account(0x0400_0000, false, member.clone()),
                vec![Tier0::ReadOnlyDomainController],
            ),
            (
                "adminCount",
                account(0x1000, true, member.clone()),
                vec![Tier0::AdminCount],
            ),
            (
                "unconstrained",
                account(0x1000 | 0x80000, false, member.clone()),
                vec![Tier0::UnconstrainedDelegation],
            ),
            (
                "protocol transition",
                account(0x1000 | 0x0100_0000, false, member.clone()),
                vec![Tier0::ProtocolTransition],
            ),
            (
                "NOT_DELEGATED (0x100000) is not a delegation right",
                account(0x1000 | 0x10_0000, false, member.clone()),
                vec![],
            ),
            (
                "constrained to a DC",
                account(
                    0x1000,
                    false,
                    Privilege {
                        allowed_to_delegate_to: vec!["ldap/dc1.x".into(), "cifs/app".into()],
                        delegates_to_dc: vec!["ldap/dc1.x".into()],
                        ..member.clone()
                    },
                ),
                vec![Tier0::DelegatesToDc("ldap/dc1.x".into())],
            ),
            (
                "constrained to a member only",
                account(
                    0x1000,
                    false,
                    Privilege {
                        allowed_to_delegate_to: vec!["cifs/app".into()],
                        ..member.clone()
                    },
                ),
                vec![],
            ),
            (
                "nested Cert Publishers",
                account(
                    0x1000,
                    false,
                    Privilege {
                        groups: read(&["Cert Publishers"]),
                        ..member.clone()
                    },
                ),
                vec![Tier0::PrivilegedGroup("Cert Publishers".into())],
            ),
            (
                "groups unreadable",
                account(
                    0x1000,
                    false,
                    Privilege {
                        groups: GroupCheck::Unreadable {
                            why: "denied".into(),
                        },
                        ..member.clone()
                    },
                ),
                vec![Tier0::GroupsUnreadable("denied".into())],
            ),
            (
                "primary group 516",
                account(
                    0x1000,
                    false,
                    Privilege {
                        primary_group_id: Some(516),
                        ..member.clone()
                    },
                ),
                vec![Tier0::PrimaryGroup(516)],
            ),
            (
                "primary group 521",
                account(
                    0x1000,
                    false,
                    Privilege {
                        primary_group_id: Some(521),
                        ..member.clone()
                    },
                ),
                vec![Tier0::PrimaryGroup(521)],
            ),
        ];
        for (what, acct, want) in cases {
            assert_eq!(tier0_reasons(&acct), want, "{what}");
        }
        assert!(
            Tier0::PrimaryGroup(521)
                .to_string()
                .contains("Read-only Domain Controllers")
        );
    }
}

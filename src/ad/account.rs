//! The computer account as the portal reads it from the directory: the replicated attributes
//! of one object ([`ComputerAccount`]) and a deleted one found under Deleted Objects
//! ([`Tombstone`]).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use utoipa::ToSchema;
use uuid::Uuid;

use super::dn::parse_dn;
use super::tier0::Privilege;
use super::uac::{EncTypes, Uac};

/// The computer object as read from one DC (the replicated attributes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ComputerAccount {
    pub dn: String,
    pub object_guid: Uuid,
    pub object_sid: Option<String>,
    pub sam_account_name: String,
    pub dns_host_name: Option<String>,
    pub operating_system: Option<String>,
    pub operating_system_version: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub when_created: OffsetDateTime,
    #[serde(with = "time::serde::rfc3339")]
    pub when_changed: OffsetDateTime,
    pub uac: Uac,
    pub supported_enc_types: Option<EncTypes>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub pwd_last_set: Option<OffsetDateTime>,
    /// Replicated, but only accurate to 9–14 days.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_logon_timestamp: Option<OffsetDateTime>,
    pub admin_count: bool,
    /// `msDS-KeyVersionNumber`.
    pub key_version: Option<u32>,
    /// Delegation rights and privileged groups: what else makes it tier 0 (`tier0.rs`).
    #[serde(default)]
    pub privilege: Privilege,
}

impl ComputerAccount {
    /// The OU/CN containers above the object, outermost first, unescaped
    /// (`CN=PC1,OU=Laptops,OU=Sales\, EMEA,DC=corp,DC=example` → `["Sales, EMEA", "Laptops"]`).
    pub fn ou_path(&self) -> Vec<String> {
        let mut path: Vec<String> = parse_dn(&self.dn)
            .into_iter()
            .skip(1)
            .filter(|r| r.attr.eq_ignore_ascii_case("OU") || r.attr.eq_ignore_ascii_case("CN"))
            .map(|r| r.value)
            .collect();
        path.reverse();
        path
    }

    /// The NetBIOS name: `sAMAccountName` without its trailing `$`.
    pub fn netbios_name(&self) -> &str {
        self.sam_account_name
            .strip_suffix('$')
            .unwrap_or(&self.sam_account_name)
    }
}

/// A deleted object (tombstone or Recycle Bin object) found under Deleted Objects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Tombstone {
    pub dn: String,
    pub object_guid: Option<Uuid>,
    pub sam_account_name: String,
    /// About the deletion time.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub when_changed: Option<OffsetDateTime>,
    pub last_known_parent: Option<String>,
}

#[cfg(test)]
pub(crate) mod tests_support {
    use super::*;

    /// A plain workstation account for unit tests.
    pub(crate) fn account(dn: &str, sam: &str) -> ComputerAccount {
        ComputerAccount {
            dn: dn.to_string(),
            object_guid: Uuid::nil(),
            object_sid: None,
            sam_account_name: sam.to_string(),
            dns_host_name: None,
            operating_system: None,
            operating_system_version: None,
            when_created: time::macros::datetime!(2026-01-01 0:00 UTC),
            when_changed: time::macros::datetime!(2026-01-01 0:00 UTC),
            uac: Uac(4096),
            supported_enc_types: None,
            pwd_last_set: None,
            last_logon_timestamp: None,
            admin_count: false,
            key_version: None,
            privilege: Default::default(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::dn::dn_domain;
    use super::tests_support::account;

    #[test]
    fn ou_path_is_outermost_first_and_unescaped() {
        let a = account(
            r"CN=PC\2C01,OU=Laptops,OU=Sales\, EMEA,OU=Caf\C3\A9 \+ Bar,DC=corp,DC=example",
            "PC01$",
        );
        assert_eq!(a.ou_path(), vec!["Café + Bar", "Sales, EMEA", "Laptops"]);
        assert_eq!(
            account("CN=PC01,CN=Computers,DC=lab,DC=example,DC=test", "PC01$").ou_path(),
            vec!["Computers"]
        );
        assert_eq!(
            account("cn=PC01, ou=Quoted\\\\Back,ou=\"A, B\",dc=x", "PC01").ou_path(),
            vec!["A, B", "Quoted\\Back"]
        );
        assert!(account("", "").ou_path().is_empty());
        assert_eq!(
            dn_domain("CN=PC01,CN=Computers,DC=lab,DC=example,DC=test").as_deref(),
            Some("lab.example.test")
        );
        assert_eq!(dn_domain("CN=PC01"), None);
    }

    #[test]
    fn netbios_name_strips_one_dollar() {
        assert_eq!(account("CN=PC01", "PC01$").netbios_name(), "PC01");
        assert_eq!(account("CN=PC01", "PC01").netbios_name(), "PC01");
        assert_eq!(account("CN=PC01", "PC01$$").netbios_name(), "PC01$");
    }
}

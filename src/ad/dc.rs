//! What each domain controller says: the non-replicated attributes of one object on one DC
//! ([`DcView`]), the replication stamp of one attribute ([`AttrMeta`]), and whether the DCs
//! asked were every DC of the domain ([`DcCoverage`]).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::uac::Uac;

/// Replication metadata of one attribute (MS-DRSR `PROPERTY_META_DATA_EXT`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AttrMeta {
    pub attid: u32,
    /// +1 per originating write.
    pub version: u32,
    #[serde(with = "time::serde::rfc3339")]
    pub originating_change_time: OffsetDateTime,
    pub originating_invocation_id: Uuid,
    pub originating_usn: u64,
    pub local_usn: u64,
}

/// What one DC says about the computer, including its non-replicated attributes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DcView {
    /// Host name or URL label of the DC.
    pub dc: String,
    pub outcome: DcOutcome,
}

/// Whether a DC answered, and what.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DcOutcome {
    Found(DcAccountView),
    NotFound,
    Unreachable { error: String },
}

/// The per-DC attributes of the computer object on one DC.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DcAccountView {
    /// `lastLogon` (not replicated: each DC has its own).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_logon: Option<OffsetDateTime>,
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub pwd_last_set: Option<OffsetDateTime>,
    /// `badPasswordTime` (not replicated).
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub bad_password_time: Option<OffsetDateTime>,
    /// `badPwdCount` (not replicated; reset by a successful logon on that DC).
    pub bad_pwd_count: Option<u32>,
    /// Replication metadata of `unicodePwd` on this DC.
    pub unicode_pwd: Option<AttrMeta>,
    /// Replication metadata of `pwdLastSet` on this DC.
    pub pwd_last_set_meta: Option<AttrMeta>,
    pub uac: Option<Uac>,
}

/// How the set of DCs the per-DC reads went to was made.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum DcDiscovery {
    /// Every DC the directory lists was asked (apart from `excluded`).
    #[default]
    Complete,
    /// `ldap.discover_dcs = false`: only the configured DCs were asked.
    Off,
    /// The DC list could not be read; the DCs known before were asked.
    Failed { error: String },
}

/// Whether the per-DC view covers every DC of the domain.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct DcCoverage {
    pub discovery: DcDiscovery,
    /// DCs the directory lists that `ldap.exclude_dcs` keeps the portal from asking.
    #[serde(default)]
    pub excluded: Vec<String>,
}

#[cfg(test)]
mod tests {
    use super::super::account::{ComputerAccount, tests_support::account};
    use super::*;
    use time::macros::datetime;

    #[test]
    fn serde_shapes() {
        let v = DcView {
            dc: "dc1".into(),
            outcome: DcOutcome::Unreachable {
                error: "timeout".into(),
            },
        };
        assert_eq!(
            serde_json::to_string(&v).unwrap(),
            r#"{"dc":"dc1","outcome":{"status":"unreachable","error":"timeout"}}"#
        );
        let found = DcView {
            dc: "dc2".into(),
            outcome: DcOutcome::Found(DcAccountView {
                last_logon: Some(datetime!(2026-11-24 04:18:09 UTC)),
                uac: Some(Uac(4096)),
                ..Default::default()
            }),
        };
        let json = serde_json::to_string(&found).unwrap();
        assert!(json.contains(r#""status":"found""#), "{json}");
        assert!(
            json.contains(r#""last_logon":"2026-11-24T04:18:09Z""#),
            "{json}"
        );
        assert!(json.contains(r#""uac":4096"#), "{json}");
        let back: DcView = serde_json::from_str(&json).unwrap();
        assert_eq!(back, found);
        let a = account("CN=PC01,DC=x", "PC01$");
        let back: ComputerAccount =
            serde_json::from_str(&serde_json::to_string(&a).unwrap()).unwrap();
        assert_eq!(back, a);
    }
}

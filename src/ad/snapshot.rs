//! Everything the diagnosis looks at for one name ([`Snapshot`]): the account, the per-DC
//! views, tombstones, and what the portal itself remembers (earlier observations, its own
//! writes and redeems).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::account::{ComputerAccount, Tombstone};
use super::dc::{DcCoverage, DcView};

/// What the portal remembered from an earlier lookup or fleet scan of the same name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Observation {
    #[serde(with = "time::serde::rfc3339")]
    pub observed_at: OffsetDateTime,
    pub object_guid: Uuid,
    pub unicode_pwd_version: Option<u32>,
    /// Originating invocation id of the `unicodePwd` write seen then.
    pub originating_dc: Option<Uuid>,
    /// Latest `lastLogon` over the DCs then.
    #[serde(default, with = "time::serde::rfc3339::option")]
    pub last_logon: Option<OffsetDateTime>,
}

/// Whether the search for deleted objects of the same name could run.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum TombstoneCheck {
    /// Deleted Objects was searched; `tombstones` is what it holds for this name.
    #[default]
    Done,
    /// The service account may not list Deleted Objects (by default only administrators may).
    NotPermitted { detail: String },
    /// The search failed for another reason.
    Failed { error: String },
}

/// What trustdesk itself did to this object's password (from its audit log).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PortalWriteKind {
    /// A DC-side reset: a random password nobody holds.
    DcReset,
    /// A token was redeemed: the DC holds the password the client received.
    TokenRedeemed,
    /// The client stored it, verified the channel and rotated twice: the machine holds the
    /// current password.
    RepairCompleted,
    /// The client reported a failed repair.
    RepairFailed,
}

impl PortalWriteKind {
    /// How many `unicodePwd` versions this step wrote (a completed repair: two rotations after
    /// the redeem's write).
    pub fn versions_written(&self) -> u32 {
        match self {
            PortalWriteKind::DcReset | PortalWriteKind::TokenRedeemed => 1,
            PortalWriteKind::RepairCompleted => 2,
            PortalWriteKind::RepairFailed => 0,
        }
    }
}

/// One of trustdesk's own writes or repairs of this object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PortalWrite {
    #[serde(with = "time::serde::rfc3339")]
    pub at: OffsetDateTime,
    pub kind: PortalWriteKind,
    /// Who did it (the person who reset, or who minted the token).
    pub by: String,
    pub ticket: Option<String>,
}

/// A redeem under the post-repair watch: the key version its write left.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RedeemWatch {
    #[serde(with = "time::serde::rfc3339")]
    pub redeemed_at: OffsetDateTime,
    /// `msDS-KeyVersionNumber` right after the redeem's write.
    pub key_version: i64,
}

/// Everything the diagnosis looks at for one name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    pub name_queried: String,
    pub account: Option<ComputerAccount>,
    pub per_dc: Vec<DcView>,
    /// Whether `per_dc` covers every DC of the domain.
    #[serde(default)]
    pub coverage: DcCoverage,
    pub tombstones: Vec<Tombstone>,
    #[serde(default)]
    pub tombstone_check: TombstoneCheck,
    pub history: Vec<Observation>,
    /// trustdesk's own resets and repairs of this object, oldest first.
    #[serde(default)]
    pub portal_writes: Vec<PortalWrite>,
    /// trustdesk's redeems of this object with the key version each left, oldest first.
    #[serde(default)]
    pub redeems: Vec<RedeemWatch>,
    /// The policy says the DN sits under a configured protected OU.
    pub protected_ou: bool,
}

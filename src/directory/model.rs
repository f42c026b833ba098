//! The AD types and decoders that used to live here, now in [`crate::ad`] (pure, so the
//! diagnosis and the policy need not depend on the LDAP client). Re-exported under their old
//! paths for the modules that still name them so (`web`, `repair`, `lookup`, `fleet`, the
//! integration tests and the benches); new code imports `crate::ad` directly.

pub use crate::ad::DecodeError;
pub use crate::ad::account::{ComputerAccount, Tombstone};
pub use crate::ad::dc::{AttrMeta, DcAccountView, DcCoverage, DcDiscovery, DcOutcome, DcView};
pub use crate::ad::dn::{Rdn, dn_domain, parse_dn};
pub use crate::ad::sid::{Sid, decode_guid, decode_sid};
pub use crate::ad::snapshot::{
    Observation, PortalWrite, PortalWriteKind, RedeemWatch, Snapshot, TombstoneCheck,
};
pub use crate::ad::time::{
    FILETIME_UNIX_EPOCH, FileTime, NTTIME_UNIX_EPOCH_SECS, format_generalized_time,
    nttime_seconds_to_datetime, parse_filetime, parse_generalized_time,
};
pub use crate::ad::uac::{EncTypes, Uac};

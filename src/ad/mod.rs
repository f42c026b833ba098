//! Active Directory's vocabulary, pure: the types the portal reads from a directory and the
//! decoders that turn raw attribute values into them. No I/O, no LDAP client, no clock — time
//! is always a parameter — so `diagnostics`, `policy` and `config` can use it without
//! depending on `directory`, which does the reading.
//!
//! - [`time`]: FILETIME, NTTIME and GeneralizedTime.
//! - [`sid`]: `objectSid` and `objectGUID`.
//! - [`dn`]: distinguished names: parsing, the domain of a DN, scope comparisons.
//! - [`uac`]: `userAccountControl` and `msDS-SupportedEncryptionTypes` flags.
//! - [`account`]: the computer account and its tombstones.
//! - [`dc`]: what each DC says (non-replicated attributes, replication stamps, coverage).
//! - [`snapshot`]: everything the diagnosis looks at for one name.
//! - [`replmeta`]: replication metadata, binary (`replPropertyMetaData`) and XML
//!   (`msDS-ReplAttributeMetaData`).
//! - [`tier0`]: what makes a computer tier 0 in all but name.
//!
//! Every decoder takes hostile input (a broken DC, a malicious one, a fuzzer) and answers with
//! an error instead of panicking.

pub mod account;
pub mod dc;
pub mod dn;
pub mod replmeta;
pub mod sid;
pub mod snapshot;
pub mod tier0;
pub mod time;
pub mod uac;

pub use account::{ComputerAccount, Tombstone};
pub use dc::{AttrMeta, DcAccountView, DcCoverage, DcDiscovery, DcOutcome, DcView};
pub use sid::Sid;
pub use snapshot::{
    Observation, PortalWrite, PortalWriteKind, RedeemWatch, Snapshot, TombstoneCheck,
};
pub use uac::{EncTypes, Uac};

/// Why a raw directory value could not be decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The value was empty.
    #[error("empty value")]
    Empty,
    /// The value is not a decimal integer where one was expected.
    #[error("not a decimal integer")]
    NotANumber,
    /// The value is a number or date outside the range we can represent (before 1601, after 9999).
    #[error("value out of range")]
    OutOfRange,
    /// The value is not a GeneralizedTime of the form `YYYYMMDDHHMMSS[.f]Z`.
    #[error("not a GeneralizedTime")]
    BadGeneralizedTime,
    /// A binary value has the wrong length.
    #[error("wrong length: {0} bytes")]
    BadLength(usize),
    /// A SID has an unsupported revision.
    #[error("unsupported SID revision {0}")]
    BadSidRevision(u8),
}

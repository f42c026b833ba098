//! The signed claims. Field names are the wire format: the portal and the client depend on them.

use serde::{Deserialize, Serialize};

/// What a `td1.` token says. Serialized as JSON with exactly these field names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Format version: always [`crate::VERSION`] (1).
    pub v: u8,
    /// Key id of the signing key ([`crate::SigningKey::kid`]); [`crate::sign`] sets it.
    pub kid: String,
    /// Token id: 128 random bits, base64url ([`crate::new_jti`]).
    pub jti: String,
    /// The one computer this token may repair.
    pub computer: ComputerRef,
    /// DNS domain, lower-case.
    pub domain: String,
    /// Portal base URL the client must redeem against.
    pub portal: String,
    /// Display name of the staff member who minted the token.
    pub issued_by: String,
    /// Issued at, unix seconds.
    pub iat: i64,
    /// Expires at, unix seconds: the token is refused when `now >= exp`.
    pub exp: i64,
}

/// The computer account a token is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ComputerRef {
    /// The account's `objectGUID`.
    pub guid: uuid::Uuid,
    /// `sAMAccountName`, with the trailing `$`.
    pub sam: String,
    /// `dNSHostName`, if the account has one.
    pub dns: Option<String>,
}

/// Only `v`, read before the full claims so a future version reports
/// [`crate::TokenError::UnsupportedVersion`] rather than a JSON error.
#[derive(Deserialize)]
pub(crate) struct VersionOnly {
    pub(crate) v: u8,
}

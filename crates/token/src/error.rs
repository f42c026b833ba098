//! The one error type of the crate. Messages name what is wrong, never the token or key bytes.

/// Why a token, or a key, was refused. [`TokenError::code`] gives a stable machine code.
///
/// No variant carries the token, part of it, or any key material, so both `Display` and
/// `Debug` are safe to log and to show to users.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// The input is longer than [`crate::MAX_TOKEN_LEN`] bytes.
    #[error("the token is too long (more than {max} bytes)", max = crate::MAX_TOKEN_LEN)]
    TooLong,
    /// The input does not start with [`crate::PREFIX`].
    #[error("this is not a trustdesk repair token (it must start with \"td1.\")")]
    BadPrefix,
    /// Not of the form `td1.<payload>.<signature>` (missing or extra parts, wrong signature size).
    #[error("the token is malformed (expected td1.<payload>.<signature>)")]
    Malformed,
    /// A part is not canonical base64url without padding.
    #[error("the token is not valid base64url (was it copied completely?)")]
    BadEncoding,
    /// The payload is not the JSON of the claims.
    #[error("the token payload is not valid claims JSON")]
    BadJson,
    /// The claims carry a version this crate does not understand.
    #[error("unsupported token version {0} (this program understands version 1)")]
    UnsupportedVersion(u8),
    /// None of the given verifying keys has the token's key id.
    #[error(
        "the token was signed with a key this program does not know (check the pinned portal key)"
    )]
    UnknownKey,
    /// The Ed25519 signature does not verify.
    #[error("the token signature is invalid")]
    BadSignature,
    /// The token is expired (`now >= exp`).
    #[error("the token expired at {exp} (unix time); ask for a new one")]
    Expired {
        /// The token's `exp` claim, unix seconds.
        exp: i64,
    },
    /// The token was issued in the future, beyond the clock skew allowance.
    #[error("the token is not valid yet (issued in the future: check this computer's clock)")]
    NotYetValid,
    /// The OS random number generator failed.
    #[error("the operating system's random number generator failed: {0}")]
    Random(String),
    /// A key, key id, pin or published key description is invalid.
    #[error("invalid key (wrong encoding, length, algorithm or key id)")]
    BadKey,
}

impl TokenError {
    /// A stable snake_case code for APIs, audit rows and metrics labels.
    #[must_use]
    pub fn code(&self) -> &'static str {
        match self {
            Self::TooLong => "too_long",
            Self::BadPrefix => "bad_prefix",
            Self::Malformed => "malformed",
            Self::BadEncoding => "bad_encoding",
            Self::BadJson => "bad_json",
            Self::UnsupportedVersion(_) => "unsupported_version",
            Self::UnknownKey => "unknown_key",
            Self::BadSignature => "bad_signature",
            Self::Expired { .. } => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Random(_) => "random",
            Self::BadKey => "bad_key",
        }
    }
}

//! Why an ID token was refused, as the audit log names it.

use openidconnect::{ClaimsVerificationError, SignatureVerificationError};

/// Why an ID token was refused: each has its own audit reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenRefusal {
    Missing,
    AlgNotAllowed,
    Unsigned,
    UnknownKey,
    BadSignature,
    Expired,
    WrongIssuer,
    WrongAudience,
    WrongNonce,
    Invalid,
}

impl TokenRefusal {
    pub fn code(self) -> &'static str {
        match self {
            Self::Missing => "id_token.missing",
            Self::AlgNotAllowed => "id_token.alg_not_allowed",
            Self::Unsigned => "id_token.unsigned",
            Self::UnknownKey => "id_token.unknown_key",
            Self::BadSignature => "id_token.bad_signature",
            Self::Expired => "id_token.expired",
            Self::WrongIssuer => "id_token.wrong_issuer",
            Self::WrongAudience => "id_token.wrong_audience",
            Self::WrongNonce => "id_token.wrong_nonce",
            Self::Invalid => "id_token.invalid",
        }
    }

    pub(super) fn of(e: &ClaimsVerificationError) -> Self {
        use SignatureVerificationError as S;
        match e {
            ClaimsVerificationError::SignatureVerification(s) => match s {
                S::DisallowedAlg(_) | S::UnsupportedAlg(_) => Self::AlgNotAllowed,
                S::NoSignature => Self::Unsigned,
                S::NoMatchingKey | S::AmbiguousKeyId(_) => Self::UnknownKey,
                _ => Self::BadSignature,
            },
            ClaimsVerificationError::Expired(_) => Self::Expired,
            ClaimsVerificationError::InvalidIssuer(_) => Self::WrongIssuer,
            ClaimsVerificationError::InvalidAudience(_) => Self::WrongAudience,
            ClaimsVerificationError::InvalidNonce(_) => Self::WrongNonce,
            _ => Self::Invalid,
        }
    }
}

//! The error codes of the portal's redeem API (`{"error": "<code>", "message": …}` from
//! `POST /api/v1/redeem` and `/api/v1/redeem/outcome`), in one place for both sides: the
//! portal answers with [`RedeemCode::as_str`], the client reads it back with
//! [`RedeemCode::parse`]. A code added here is a compile error in every `match` on either side
//! until both handle it.

use std::fmt;

/// Why the portal refused a redeem (or its outcome report).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RedeemCode {
    /// The request or the token could not be read.
    Malformed,
    /// The token's signature does not verify with the portal's keys, or the portal does not
    /// know the token.
    BadSignature,
    /// The token's lifetime is over.
    Expired,
    /// The token was redeemed already (each token works once).
    AlreadyUsed,
    /// Staff revoked the token.
    Revoked,
    /// The computer object no longer matches the token (deleted, re-created, renamed).
    WrongComputer,
    /// The portal's policy no longer allows this repair.
    NotAllowed,
    /// The portal could not write the password to a domain controller.
    DcWriteFailed,
    /// The password the client sent is not one the portal accepts.
    BadPassword,
    /// The portal could not record the redeem (its database); nothing was changed.
    Unavailable,
    /// Too many redeem attempts from this address.
    RateLimited,
    /// No live short repair code matches the code and computer name sent to
    /// `POST /api/v1/redeem/code` (wrong, used, expired, revoked, locked or for another
    /// computer: one answer for all, so guessing learns nothing).
    UnknownCode,
}

impl RedeemCode {
    /// Every code.
    pub const ALL: [RedeemCode; 12] = [
        RedeemCode::Malformed,
        RedeemCode::BadSignature,
        RedeemCode::Expired,
        RedeemCode::AlreadyUsed,
        RedeemCode::Revoked,
        RedeemCode::WrongComputer,
        RedeemCode::NotAllowed,
        RedeemCode::DcWriteFailed,
        RedeemCode::BadPassword,
        RedeemCode::Unavailable,
        RedeemCode::RateLimited,
        RedeemCode::UnknownCode,
    ];

    /// The wire code.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            RedeemCode::Malformed => "malformed",
            RedeemCode::BadSignature => "bad_signature",
            RedeemCode::Expired => "expired",
            RedeemCode::AlreadyUsed => "already_used",
            RedeemCode::Revoked => "revoked",
            RedeemCode::WrongComputer => "wrong_computer",
            RedeemCode::NotAllowed => "not_allowed",
            RedeemCode::DcWriteFailed => "dc_write_failed",
            RedeemCode::BadPassword => "bad_password",
            RedeemCode::Unavailable => "unavailable",
            RedeemCode::RateLimited => "rate_limited",
            RedeemCode::UnknownCode => "unknown_code",
        }
    }

    /// The code for a wire string; `None` for a code this version does not know.
    #[must_use]
    pub fn parse(code: &str) -> Option<RedeemCode> {
        RedeemCode::ALL.into_iter().find(|c| c.as_str() == code)
    }

    /// Whether nothing was written to the directory and asking again later, with the same
    /// token, can succeed (the portal's database or rate limit); `false` when the token is
    /// spent or refused for good.
    #[must_use]
    pub fn is_transient(self) -> bool {
        matches!(self, RedeemCode::Unavailable | RedeemCode::RateLimited)
    }
}

impl fmt::Display for RedeemCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::RedeemCode;

    #[test]
    fn every_code_round_trips_and_is_unique() {
        for c in RedeemCode::ALL {
            assert_eq!(RedeemCode::parse(c.as_str()), Some(c));
            assert_eq!(c.to_string(), c.as_str());
            assert_eq!(
                RedeemCode::ALL
                    .iter()
                    .filter(|o| o.as_str() == c.as_str())
                    .count(),
                1
            );
        }
        for unknown in ["", "Expired", "expired ", "something_new"] {
            assert_eq!(RedeemCode::parse(unknown), None, "{unknown:?}");
        }
    }
}

//! What the portal's refusal codes mean on this side: the exit code and the advice for the
//! person at the keyboard. The codes themselves are the vocabulary the portal and this client
//! share, [`RedeemCode`]; [`crate::http`] parses them from the portal's error bodies.

use trustdesk_token::RedeemCode;

use crate::exit::ExitCode;

/// The portal's error code (`{"error": "<code>"}`): one of the redeem API's codes, which the
/// portal and this client share through [`RedeemCode`], or one this version does not know.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PortalErrorCode {
    /// A code of the shared vocabulary.
    Known(RedeemCode),
    /// A code this client does not know (or no JSON body at all).
    Other(String),
}

impl PortalErrorCode {
    /// Parses the wire code.
    #[must_use]
    pub fn parse(code: &str) -> Self {
        RedeemCode::parse(code).map_or_else(|| Self::Other(code.to_owned()), Self::Known)
    }

    /// The wire code.
    #[must_use]
    pub fn as_str(&self) -> &str {
        match self {
            Self::Known(c) => c.as_str(),
            Self::Other(s) => s,
        }
    }

    /// The exit code of a redeem refused with this code. Refusals of the token (or of the
    /// request) are 5; a failed DC write, the portal's own outage and rate limiting are 6
    /// (nothing changed here; not the token's fault). Unknown codes: 5 for a 4xx status, 6
    /// otherwise.
    #[must_use]
    pub fn exit_code(&self, http_status: u16) -> ExitCode {
        match self {
            Self::Known(c) => match c {
                RedeemCode::Expired
                | RedeemCode::AlreadyUsed
                | RedeemCode::Revoked
                | RedeemCode::BadSignature
                | RedeemCode::Malformed
                | RedeemCode::WrongComputer
                | RedeemCode::NotAllowed
                | RedeemCode::BadPassword
                | RedeemCode::UnknownCode => ExitCode::PortalRefused,
                RedeemCode::DcWriteFailed | RedeemCode::Unavailable | RedeemCode::RateLimited => {
                    ExitCode::PortalUnavailable
                }
            },
            Self::Other(_) if (400..500).contains(&http_status) => ExitCode::PortalRefused,
            Self::Other(_) => ExitCode::PortalUnavailable,
        }
    }

    /// What it means and what to do, for the person at the keyboard.
    #[must_use]
    pub fn advice(&self) -> &'static str {
        let Self::Known(code) = self else {
            return "unexpected answer from the portal: ask the helpdesk";
        };
        match code {
            RedeemCode::Expired => "the token has expired: ask the helpdesk for a new one",
            RedeemCode::AlreadyUsed => {
                "the token was already used (each token works once): ask for a new one"
            }
            RedeemCode::Revoked => "the token was revoked in the portal: ask for a new one",
            RedeemCode::BadSignature => {
                "the portal does not recognise the token's signature: ask for a new one"
            }
            RedeemCode::Malformed => {
                "the portal could not read the token: check that it was copied completely"
            }
            RedeemCode::WrongComputer => {
                "the computer account changed since the token was minted (deleted, re-created \
                 or renamed): look the computer up again in the portal"
            }
            RedeemCode::NotAllowed => {
                "the portal's policy no longer allows this repair: ask the helpdesk"
            }
            RedeemCode::DcWriteFailed => {
                "the portal could not write the new password to a domain controller; nothing \
                 changed on this machine. The token is used up: once the portal's directory \
                 problem is fixed, ask for a new token"
            }
            RedeemCode::BadPassword => {
                "the portal did not accept the password this client made; nothing changed. \
                 Use the client from this portal's download page (its version must match)"
            }
            RedeemCode::Unavailable => {
                "the portal could not record the repair (its database); nothing changed: run \
                 this again in a minute with the same token"
            }
            RedeemCode::RateLimited => "too many attempts: wait a minute and run this again",
            RedeemCode::UnknownCode => {
                "the portal has no live repair code like that for this computer (a code works \
                 once, dies with its token, and is locked after wrong computer names): check \
                 the code and that this is the computer the helpdesk named, then use the full \
                 token or ask for a new one"
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn portal_error_codes_map_to_exit_codes() {
        // Every code of the shared vocabulary parses back to itself and has an exit code and
        // advice of its own; the table is the documented split between 5 and 6.
        let cases = [
            (RedeemCode::Expired, ExitCode::PortalRefused),
            (RedeemCode::AlreadyUsed, ExitCode::PortalRefused),
            (RedeemCode::Revoked, ExitCode::PortalRefused),
            (RedeemCode::BadSignature, ExitCode::PortalRefused),
            (RedeemCode::Malformed, ExitCode::PortalRefused),
            (RedeemCode::WrongComputer, ExitCode::PortalRefused),
            (RedeemCode::NotAllowed, ExitCode::PortalRefused),
            (RedeemCode::BadPassword, ExitCode::PortalRefused),
            (RedeemCode::DcWriteFailed, ExitCode::PortalUnavailable),
            (RedeemCode::Unavailable, ExitCode::PortalUnavailable),
            (RedeemCode::RateLimited, ExitCode::PortalUnavailable),
            (RedeemCode::UnknownCode, ExitCode::PortalRefused),
        ];
        assert_eq!(cases.len(), RedeemCode::ALL.len());
        let other_advice = PortalErrorCode::Other("x".into()).advice();
        for (code, exit) in cases {
            let parsed = PortalErrorCode::parse(code.as_str());
            assert_eq!(parsed, PortalErrorCode::Known(code));
            assert_eq!(parsed.as_str(), code.as_str());
            // The status does not change a known code's meaning.
            for status in [400, 409, 429, 502, 503] {
                assert_eq!(parsed.exit_code(status), exit, "{code} {status}");
            }
            assert_ne!(parsed.advice(), other_advice, "{code}");
        }
        let other = PortalErrorCode::parse("something_new");
        assert_eq!(other, PortalErrorCode::Other("something_new".into()));
        assert_eq!(other.exit_code(403), ExitCode::PortalRefused);
        assert_eq!(other.exit_code(500), ExitCode::PortalUnavailable);
    }
}

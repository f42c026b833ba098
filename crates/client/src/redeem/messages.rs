//! What the redeem flow tells the person at the keyboard (and, shortened, the portal) when a
//! step fails: the machine's state in plain words and the next thing to do. Pure: the flow
//! gathers the facts, these functions word them.

use std::time::{Duration, SystemTime};

use trustdesk_token::{CLOCK_SKEW_SECS, TokenError};

use super::{Early, LateFailure, Step};
use crate::backend::{Backend, BackendError};
use crate::exit::ExitCode;
use crate::http::PortalError;

pub(super) fn token_error_message(e: &TokenError) -> String {
    format!("the token was rejected ({}): {e}", e.code())
}

/// Whether a token refusal can come from this machine's clock rather than from the token.
pub(super) fn is_time_refusal(e: &TokenError) -> bool {
    matches!(e, TokenError::Expired { .. } | TokenError::NotYetValid)
}

fn http_date(unix: i64) -> String {
    let at = u64::try_from(unix)
        .ok()
        .and_then(|s| SystemTime::UNIX_EPOCH.checked_add(Duration::from_secs(s)));
    at.map_or_else(|| format!("{unix} (Unix time)"), httpdate::fmt_http_date)
}

/// When this machine's clock (`local`) and the portal's (`portal`, from its `Date` header) are
/// further apart than the token's own tolerance: what is wrong and how to fix it. The token is
/// still judged by the local clock; this only explains why it looked expired or not yet valid.
pub(super) fn clock_skew(local: i64, portal: i64) -> Option<String> {
    let off = local.saturating_sub(portal);
    if off.unsigned_abs() <= CLOCK_SKEW_SECS.unsigned_abs() {
        return None;
    }
    let minutes = off.unsigned_abs().div_ceil(60);
    let way = if off > 0 { "ahead" } else { "behind" };
    Some(format!(
        "This machine's clock is wrong: it reads {}, the portal's reads {} ({minutes} minute(s) \
         {way}). A machine whose trust is broken cannot sync its time with the domain (the \
         domain signs its time answers with the machine account), so a valid token looks \
         expired or not yet valid here. Set the clock by hand (Windows: Settings > Time & \
         language, or `Set-Date` in an elevated PowerShell; Linux: `date -s`), then run this \
         again with the same token.",
        http_date(local),
        http_date(portal)
    ))
}

/// The backend could not say which computer this is (needed to check a token, and to ask
/// for one by code).
pub(super) fn identity_failure<B: Backend + ?Sized>(backend: &B, e: &BackendError) -> Early {
    Early::new(
        ExitCode::PreflightFailed,
        format!(
            "cannot tell which computer this is ({} backend): {e}. Nothing was changed.",
            backend.name()
        ),
    )
}

pub(super) fn redeem_failure_message(e: &PortalError) -> String {
    match e {
        PortalError::Refused { code, message, .. } => format!(
            "error: the portal refused the token ({}): {message}\n{}.",
            code.as_str(),
            code.advice()
        ),
        PortalError::Transport(_) | PortalError::Protocol(_) => format!(
            "error: {e}\nNothing was changed on this machine. If the portal did write the \
             domain controller before the answer was lost, the token is used up: check its \
             state in the portal and mint a new one if needed."
        ),
        PortalError::Setup(_) => format!("error: {e}\nNothing was changed."),
    }
}

pub(super) fn channel_failure<B: Backend + ?Sized>(
    step: Step,
    e: &BackendError,
    backend: &B,
    dc: &str,
    after_rotation: bool,
) -> LateFailure {
    let when = if after_rotation {
        "after rotating the password twice"
    } else {
        "after storing the new password"
    };
    LateFailure {
        step,
        code: ExitCode::ChannelUnverified,
        message: format!(
            "error: {e}\nThe new password is stored on this machine and on {dc}, but the \
             secure channel could not be verified {when}. If another domain controller \
             answered, it may not have the new password yet (replication): wait a few \
             minutes and check with `{}`. If it stays broken, mint a new token and run this \
             again, or rejoin.",
            backend.verify_hint(dc)
        ),
        detail: format!("channel verification {when} failed: {e}"),
    }
}

/// Rotation `round` (1 or 2) failed with `e`; `channel` is the secure channel checked again
/// right after, so the message says what is true now, not what was true before.
pub(super) fn rotation_failure<B: Backend + ?Sized>(
    round: u8,
    e: &BackendError,
    channel: &Result<(), BackendError>,
    backend: &B,
    dc: &str,
) -> LateFailure {
    let channel_now = match channel {
        Ok(()) => "The secure channel still works.".to_owned(),
        Err(c) => format!(
            "The secure channel does NOT work now ({c}): mint a new token and run this again, \
             or rejoin."
        ),
    };
    let (state, advice) = if matches!(e, BackendError::RotationRefused(_)) {
        (
            "The domain refuses machine password changes (the domain controller policy \
             \"Refuse machine account password changes\", RefusePasswordChange, common for \
             non-persistent VDI), so the password that crossed the network stays valid until \
             that policy allows a change."
                .to_owned(),
            "Do NOT rotate by hand: it is refused the same way, and each attempt can push the \
             working password out of this machine's store. Ask a domain admin whether the \
             policy should cover this machine; once changes are allowed, mint a new token."
                .to_owned(),
        )
    } else {
        let state = if round == 1 {
            "The password that crossed the network may still be the machine's current password."
        } else {
            "The password was rotated once: the one that crossed the network is now the \
             previous password, which domain controllers still accept over NTLM for up to an \
             hour."
        };
        let advice = if channel.is_ok() {
            format!(
                "Once the cause is fixed, rotate it by hand ({}) {} more time(s), checking the \
                 channel ({}) after each, or mint a new token and run this again.",
                backend.rotate_hint(dc),
                3 - round,
                backend.verify_hint(dc)
            )
        } else {
            String::new()
        };
        (state.to_owned(), advice)
    };
    let channel_detail = if channel.is_ok() {
        "channel still works"
    } else {
        "channel broken"
    };
    LateFailure {
        step: Step::Rotate,
        code: ExitCode::RotationFailed,
        message: format!(
            "error: rotation {round} of 2 failed: {e}\n{state}\n{channel_now} {advice}"
        )
        .trim_end()
        .to_owned(),
        detail: format!("rotation {round} of 2 failed: {e}; {channel_detail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_within_the_tokens_tolerance_is_not_blamed() {
        let portal = 1_796_000_000;
        let table = [
            (portal, None),
            (portal + CLOCK_SKEW_SECS, None),
            (portal - CLOCK_SKEW_SECS, None),
            (portal + CLOCK_SKEW_SECS + 1, Some("(2 minute(s) ahead)")),
            (portal - 3 * 86_400, Some("(4320 minute(s) behind)")),
        ];
        for (local, want) in table {
            let got = clock_skew(local, portal);
            match (want, &got) {
                (None, None) => {}
                (Some(w), Some(g)) => {
                    assert!(g.contains(w), "{local}: {g}");
                    assert!(g.contains("GMT"), "{g}");
                    assert!(g.contains("same token"), "{g}");
                }
                _ => panic!("{local}: {got:?}"),
            }
        }
        assert!(is_time_refusal(&TokenError::Expired { exp: 0 }));
        assert!(is_time_refusal(&TokenError::NotYetValid));
        assert!(!is_time_refusal(&TokenError::BadSignature));
    }
}

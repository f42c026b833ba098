//! The step before the token flow when the TOKEN input is a short repair code
//! (`K7QF-M2XD-9PWA`): ask the portal for the code's token, naming this machine (its NetBIOS
//! name and AD DNS domain, which the portal requires), and hand the token to the flow, which
//! verifies it exactly like a pasted one. Coming from the portal earns the token no trust.
//!
//! Only the code's last group is ever printed; the token never is. The exchange changes
//! nothing on this machine and reports no outcome (the token is not used yet); at the portal
//! it uses up the code. So the code is sent only once this machine's own preflight checks
//! pass (rights, secret store, no pending change): a run that could not go on would waste it.

use trustdesk_token::{RedeemCode, ShortCode};
use zeroize::Zeroizing;

use super::messages::identity_failure;
use super::steps::{Early, Steps};
use crate::backend::Backend;
use crate::exit::ExitCode;
use crate::http::{Portal, PortalError, PortalErrorCode};

/// Said, with exit code 2, when a dry run is asked for with a code.
pub(super) const DRY_RUN_REFUSED: &str = "error: a dry run needs the full token, not the \
     repair code: a code works once, so fetching its token for a dry run would use it up. Run \
     without --dry-run (the token is still verified, and every preflight check runs, before \
     anything changes), or dry-run with the full token. Nothing was changed and the code was \
     not sent.";

/// Said when the flow stops before the redeem with a token fetched by code.
pub(super) const CODE_SPENT: &str = "The repair code is used up (a code works once), but its \
     token was not used and stays valid until it expires: once the cause above is fixed, run \
     this again with the full token from the helpdesk, or ask for a new one.";

/// The code as printed: its last group only, `****-****-9PWA`.
pub(super) fn masked(code: &ShortCode) -> String {
    format!(
        "****-****-{}",
        code.normalized().get(8..).unwrap_or_default()
    )
}

/// The step: the token, or the exit code once the reason there is none has been said.
pub(super) async fn fetch_token<P: Portal, B: Backend + ?Sized>(
    steps: &mut Steps<'_>,
    code: &ShortCode,
    portal: &P,
    backend: &B,
) -> Result<Zeroizing<String>, ExitCode> {
    steps.begin_numbered(
        1,
        "Fetching the token for code",
        &format!(" {}", masked(code)),
    );
    let local = backend
        .identity()
        .map_err(|e| steps.early_exit(&identity_failure(backend, &e)))?;
    backend.preflight().map_err(|e| {
        steps.early_exit(&Early::new(
            ExitCode::PreflightFailed,
            format!("{e}\nNothing was changed and the code was not sent."),
        ))
    })?;
    match portal.token_by_code(code, &local).await {
        Ok(token) => {
            steps.ok(&format!("asked as {local}"));
            Ok(token)
        }
        Err(e) => {
            steps.failed();
            steps.say(&failure_message(&e));
            Err(e.redeem_exit_code())
        }
    }
}

fn failure_message(e: &PortalError) -> String {
    match e {
        PortalError::Refused { code, message, .. } => format!(
            "error: the portal refused the code ({}): {message}\n{}.\nNothing was changed and \
             no token was used.",
            code.as_str(),
            advice(code)
        ),
        PortalError::Transport(_) | PortalError::Protocol(_) => format!(
            "error: {e}\nNothing was changed and no token was used. If the portal answered but \
             the answer was lost, the code is used up (a code works once): if running this \
             again gets `unknown_code`, ask the helpdesk for the full token or a new one."
        ),
        PortalError::Setup(_) => format!("error: {e}\nNothing was changed."),
    }
}

/// [`PortalErrorCode::advice`], worded for a code where the token's words do not fit.
fn advice(code: &PortalErrorCode) -> &'static str {
    match code {
        PortalErrorCode::Known(RedeemCode::Malformed) => {
            "the portal could not read the request (the code, or this computer's name or \
             domain): check the code, and use the client from this portal's download page"
        }
        PortalErrorCode::Known(RedeemCode::RateLimited) => {
            "too many wrong codes: the portal refuses code lookups for a while (from this \
             address, or from everyone). Wait a quarter of an hour and run this again, or use \
             the full token instead of the code"
        }
        PortalErrorCode::Known(RedeemCode::Unavailable) => {
            "the portal could not look the code up (its database): run this again in a \
             minute, or use the full token instead of the code"
        }
        other => other.advice(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_group_is_shown() {
        let code = ShortCode::parse("k7qf-m2xd-9pwa").unwrap();
        assert_eq!(masked(&code), "****-****-9PWA");
    }

    #[test]
    fn refusals_are_worded_for_a_code() {
        for wire in ["unknown_code", "malformed", "rate_limited", "unavailable"] {
            let msg = failure_message(&PortalError::Refused {
                status: 400,
                code: PortalErrorCode::parse(wire),
                message: "m".into(),
            });
            assert!(msg.contains(&format!("refused the code ({wire})")), "{msg}");
            assert!(msg.contains("Nothing was changed"), "{msg}");
            assert!(!msg.contains("same token"), "{msg}");
            assert!(!msg.contains("read the token"), "{msg}");
        }
    }
}

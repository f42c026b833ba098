//! The redeem flow: verify the token, preflight, generate, redeem, store, verify, rotate,
//! report. Each step prints one numbered line to `out` (stderr in the binary) and each
//! failure ends with its own [`ExitCode`] and a plain statement of the machine's state.
//!
//! The TOKEN input may instead be a short repair code ([`ShortCode`]): then one step comes
//! first (`code.rs`), which exchanges the code at the portal for the token, and the flow runs
//! with that token exactly as with a pasted one, from its local verification on.
//!
//! Invariants:
//! - nothing changes anywhere before the redeem step (a code exchange only uses up the code);
//! - nothing changes on this machine before the portal says the DC holds the new password;
//! - after a successful redeem the outcome is always reported (`completed` or `failed`);
//! - the password is never written to `out`, argv, the environment or the outcome detail.

use std::fmt;
use std::io::Write;

use trustdesk_token::{ShortCode, VerifyingKey};

use crate::backend::{Backend, JournalLevel, identity_matches};
use crate::config::PortalUrl;
use crate::exit::ExitCode;
use crate::http::{Outcome, OutcomeReport, Portal, RedeemResponse};
use crate::password::MachinePassword;
use crate::text::sanitize;

mod code;
mod messages;
mod steps;
use messages::{
    channel_failure, clock_skew, identity_failure, is_time_refusal, redeem_failure_message,
    rotation_failure, token_error_message,
};
use steps::{Early, Steps};

/// Longest outcome detail sent to the portal.
const MAX_DETAIL: usize = 300;

/// The flow's steps; `wire` names go to the portal in outcome reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// 1. Verify the token locally.
    VerifyToken,
    /// 2. Preflight checks.
    Preflight,
    /// 3. Generate the password.
    GeneratePassword,
    /// 4. Redeem at the portal (the DC write).
    Redeem,
    /// 5. Store the secret locally.
    StoreSecret,
    /// 6. Rediscover and verify the secure channel.
    VerifyChannel,
    /// 7. Rotate twice, verify again.
    Rotate,
    /// 8. Report the outcome.
    Report,
}

impl Step {
    /// The step name used in outcome reports.
    #[must_use]
    pub fn wire(self) -> &'static str {
        match self {
            Step::VerifyToken => "verify_token",
            Step::Preflight => "preflight",
            Step::GeneratePassword => "generate_password",
            Step::Redeem => "redeem",
            Step::StoreSecret => "store_secret",
            Step::VerifyChannel => "verify_channel",
            Step::Rotate => "rotate",
            Step::Report => "report",
        }
    }

    fn title(self) -> &'static str {
        match self {
            Step::VerifyToken => "Verifying the token",
            Step::Preflight => "Preflight checks",
            Step::GeneratePassword => "Generating a new machine password",
            Step::Redeem => "Redeeming the token at the portal",
            Step::StoreSecret => "Storing the new password on this machine",
            Step::VerifyChannel => "Verifying the secure channel",
            Step::Rotate => "Rotating the machine password twice",
            Step::Report => "Reporting the outcome to the portal",
        }
    }

    fn number(self) -> usize {
        self as usize + 1
    }
}

/// What one run needs besides the portal and the backend.
#[derive(Clone, Copy)]
pub struct Request<'a> {
    /// The TOKEN input, trimmed: a `td1.` token, or a short repair code when
    /// [`ShortCode::parse`] accepts it.
    pub token: &'a str,
    /// Verify and preflight only.
    pub dry_run: bool,
    /// Pinned verifying keys.
    pub keys: &'a [VerifyingKey],
    /// The configured portal (the token must name it).
    pub portal_url: &'a PortalUrl,
    /// Unix time now.
    pub now: i64,
}

/// Redacted: the token (or code) is a secret.
impl fmt::Debug for Request<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Request")
            .field("token", &"<redacted>")
            .field("dry_run", &self.dry_run)
            .field("keys", &self.keys.len())
            .field("portal_url", &self.portal_url)
            .field("now", &self.now)
            .finish()
    }
}

/// Runs the whole flow and returns the exit code. `out` gets the step lines and messages.
pub async fn run<P: Portal, B: Backend + ?Sized>(
    req: &Request<'_>,
    portal: &P,
    backend: &B,
    out: &mut dyn Write,
) -> ExitCode {
    let Some(code) = ShortCode::parse(req.token) else {
        let mut steps = Steps::new(out, if req.dry_run { 2 } else { 8 }, 0);
        return flow(req, portal, backend, &mut steps).await;
    };
    let mut steps = Steps::new(out, 9, 1);
    if req.dry_run {
        steps.say(code::DRY_RUN_REFUSED);
        return ExitCode::Usage;
    }
    match code::fetch_token(&mut steps, &code, portal, backend).await {
        // The fetched token takes the pasted token's place; nothing else changes.
        Ok(token) => {
            let req = Request {
                token: token.trim(),
                ..*req
            };
            let exit = flow(&req, portal, backend, &mut steps).await;
            if matches!(exit, ExitCode::TokenRejected | ExitCode::PreflightFailed) {
                steps.say(code::CODE_SPENT);
            }
            exit
        }
        Err(exit) => exit,
    }
}

/// The flow for one token, from its local verification to the report.
async fn flow<P: Portal, B: Backend + ?Sized>(
    req: &Request<'_>,
    portal: &P,
    backend: &B,
    steps: &mut Steps<'_>,
) -> ExitCode {
    // 1. Verify the token locally.
    steps.begin(Step::VerifyToken, "");
    let claims = match verify_token(req, backend) {
        Ok(c) => {
            steps.ok(&format!(
                "{} in {}, expires in {} s",
                c.computer.sam,
                c.domain,
                c.exp.saturating_sub(req.now)
            ));
            c
        }
        Err(mut e) => {
            if e.clock_suspect
                && let Ok(portal_now) = portal.clock().await
                && let Some(why) = clock_skew(req.now, portal_now)
            {
                e.message = format!("{}\n{why}", e.message);
            }
            return steps.early_exit(&e);
        }
    };
    backend.journal(
        JournalLevel::Info,
        &format!(
            "trustdesk-client: repair of {} in {} started with a token minted by {:?} at {} \
             (token {}).",
            claims.computer.sam,
            claims.domain,
            sanitize(&claims.issued_by, None, 80),
            sanitize(&claims.portal, None, 200),
            sanitize(&claims.jti, None, 64)
        ),
    );

    // 2. Preflight: nothing changed if it fails.
    steps.begin(Step::Preflight, "");
    if let Err(e) = preflight(portal, backend).await {
        return steps.early_exit(&e);
    }
    steps.ok("");

    if req.dry_run {
        steps.say(
            "Dry run: the token is valid for this computer and every preflight check passed. \
             Nothing was changed and the token was not used.",
        );
        return ExitCode::Repaired;
    }

    // 3. Generate the password.
    steps.begin(Step::GeneratePassword, "");
    let password = match MachinePassword::generate() {
        Ok(p) => p,
        Err(e) => {
            return steps.early_exit(&Early::new(
                ExitCode::PreflightFailed,
                format!("{e}. Nothing was changed; the token was not used."),
            ));
        }
    };
    steps.ok("120 characters");

    // 4. Redeem: the portal writes the DC.
    steps.begin(Step::Redeem, "");
    let redeemed = match portal.redeem(req.token, &password).await {
        Ok(r) => r,
        Err(e) => {
            steps.failed();
            steps.say(&redeem_failure_message(&e));
            return e.redeem_exit_code();
        }
    };
    if let Err(msg) = check_redeemed(&redeemed, &claims.computer.sam) {
        steps.failed();
        steps.say(&format!(
            "error: {msg}. Nothing was changed on this machine. The domain controller may \
             now hold a password for that account: ask the helpdesk to check the token in \
             the portal."
        ));
        report(
            steps,
            portal,
            req.token,
            Outcome::Failed,
            Step::Redeem,
            &msg,
        )
        .await;
        return ExitCode::PortalUnavailable;
    }
    let dc = redeemed.dc.as_str();
    steps.ok(&format!("{dc} holds the new password"));
    backend.journal(
        JournalLevel::Info,
        &format!(
            "trustdesk-client: the portal set a new password for {} on {}.",
            claims.computer.sam,
            sanitize(dc, None, 200)
        ),
    );

    // 5.-7. Local work; every failure is reported.
    let result = local_steps(steps, backend, &password, dc).await;
    drop(password);

    // 8. Report.
    match result {
        Ok(()) => {
            let detail = format!("secure channel verified with {dc}; password rotated twice");
            if report(
                steps,
                portal,
                req.token,
                Outcome::Completed,
                Step::Rotate,
                &detail,
            )
            .await
            {
                let done = format!(
                    "Repaired: this machine's secure channel with {dc} works, and the password \
                     that crossed the network is no longer valid."
                );
                backend.journal(JournalLevel::Info, &format!("trustdesk-client: {done}"));
                steps.say(&done);
                ExitCode::Repaired
            } else {
                backend.journal(
                    JournalLevel::Warning,
                    &format!(
                        "trustdesk-client: repaired (secure channel with {dc} verified, \
                         password rotated twice), but the portal could not be told."
                    ),
                );
                steps.say(&format!(
                    "The repair itself SUCCEEDED (secure channel with {dc} verified, password \
                     rotated twice), but the portal was not told: ask the helpdesk to check \
                     the token's state in the portal."
                ));
                ExitCode::ReportFailed
            }
        }
        Err(failure) => {
            let detail = sanitize(&failure.detail, None, MAX_DETAIL);
            let reported = report(
                steps,
                portal,
                req.token,
                Outcome::Failed,
                failure.step,
                &detail,
            )
            .await;
            backend.journal(
                JournalLevel::Error,
                &format!(
                    "trustdesk-client: the repair failed at {}: {detail}",
                    failure.step.wire()
                ),
            );
            steps.say(&failure.message);
            if !reported {
                steps.say(
                    "The portal could not be told that the repair failed; give the helpdesk \
                     the lines above.",
                );
            }
            failure.code
        }
    }
}

/// A failure after the DC write.
struct LateFailure {
    step: Step,
    code: ExitCode,
    /// Full message for the person at the keyboard.
    message: String,
    /// Short, secret-free detail for the portal.
    detail: String,
}

async fn local_steps<B: Backend + ?Sized>(
    steps: &mut Steps<'_>,
    backend: &B,
    password: &MachinePassword,
    dc: &str,
) -> Result<(), LateFailure> {
    // 5. Store locally.
    steps.begin(Step::StoreSecret, "");
    if let Err(e) = backend.store_secret(password) {
        steps.failed();
        return Err(LateFailure {
            step: Step::StoreSecret,
            code: ExitCode::LocalWriteFailed,
            message: format!(
                "error: {e}\nThe domain controller now holds a new password but this machine \
                 could not store it: the machine cannot authenticate until repaired; mint a \
                 new token and run this again, or rejoin."
            ),
            detail: e.to_string(),
        });
    }
    steps.ok("");

    // 6. Rediscover and verify against the DC the portal wrote.
    steps.begin(Step::VerifyChannel, &format!(" with {dc}"));
    if let Err(e) = backend.verify_channel(dc) {
        steps.failed();
        return Err(channel_failure(Step::VerifyChannel, &e, backend, dc, false));
    }
    steps.ok("");

    // 7. Rotate twice, then verify again.
    steps.begin(Step::Rotate, "");
    for round in 1..=2u8 {
        if let Err(e) = backend.rotate(dc) {
            steps.failed();
            // Say what is true now: the failed change may have moved the local secret.
            let channel = backend.verify_channel(dc);
            return Err(rotation_failure(round, &e, &channel, backend, dc));
        }
    }
    if let Err(e) = backend.verify_channel(dc) {
        steps.failed();
        return Err(channel_failure(Step::Rotate, &e, backend, dc, true));
    }
    steps.ok("verified again");
    Ok(())
}

/// Sends the outcome; prints the step line. `true` if the portal took it.
async fn report<P: Portal>(
    steps: &mut Steps<'_>,
    portal: &P,
    token: &str,
    outcome: Outcome,
    step: Step,
    detail: &str,
) -> bool {
    steps.begin(Step::Report, "");
    let detail = sanitize(detail, None, MAX_DETAIL);
    let body = OutcomeReport {
        token,
        outcome,
        step: step.wire(),
        detail: &detail,
    };
    match portal.report(&body).await {
        Ok(r) => {
            steps.ok(&format!("token state: {}", sanitize(&r.state, None, 40)));
            true
        }
        Err(e) => {
            steps.failed();
            steps.say(&format!("error: could not report the outcome: {e}"));
            false
        }
    }
}

fn verify_token<B: Backend + ?Sized>(
    req: &Request<'_>,
    backend: &B,
) -> Result<trustdesk_token::Claims, Early> {
    let rejected = |message: String| Early::new(ExitCode::TokenRejected, message);
    let claims = trustdesk_token::verify(req.token, req.keys, req.now).map_err(|e| Early {
        clock_suspect: is_time_refusal(&e),
        ..rejected(token_error_message(&e))
    })?;
    if !req.portal_url.matches(&claims.portal) {
        return Err(rejected(format!(
            "the token was minted by the portal {:?} but this client is configured for {}; \
             use a token from that portal or fix portal_url",
            sanitize(&claims.portal, None, 200),
            req.portal_url
        )));
    }
    let local = backend
        .identity()
        .map_err(|e| identity_failure(backend, &e))?;
    identity_matches(&local, &claims.computer.sam, &claims.domain).map_err(|m| {
        rejected(format!(
            "{m}. Run the client on the computer the token was minted for, or mint a token \
             for this one."
        ))
    })?;
    Ok(claims)
}

async fn preflight<P: Portal, B: Backend + ?Sized>(portal: &P, backend: &B) -> Result<(), Early> {
    let failed = |message: String| {
        Early::new(
            ExitCode::PreflightFailed,
            format!("{message}\nNothing was changed and the token was not used."),
        )
    };
    backend.preflight().map_err(|e| failed(e.to_string()))?;
    portal
        .healthz()
        .await
        .map_err(|e| failed(format!("the portal is not reachable over HTTPS: {e}")))?;
    Ok(())
}

fn check_redeemed(r: &RedeemResponse, sam: &str) -> Result<(), String> {
    let strip = |s: &str| s.trim().trim_end_matches('$').to_ascii_lowercase();
    if strip(&r.computer) != strip(sam) {
        return Err(format!(
            "the portal answered for computer {:?}, not {sam:?}",
            sanitize(&r.computer, None, 80)
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests;

//! The flow against a fake portal and a fake backend: every step's failure, its exit code,
//! what was reported, and that the password never shows up in the output.

use std::cell::RefCell;
use std::sync::Mutex;

use super::*;
use crate::backend::{BackendError, JournalLevel, LocalIdentity};
use crate::http::{OutcomeResponse, PortalError, PortalErrorCode};
use crate::testutil::{self, NOW};

const PORTAL: &str = "https://portal.example.test";
const DC: &str = "dc1.lab.example.test";

#[derive(Default)]
struct FakePortal {
    healthz_fails: bool,
    /// The portal's clock; `None`: no Date header.
    clock: Option<i64>,
    redeem_result: Option<Result<RedeemResponse, PortalError>>,
    report_fails: bool,
    /// The answer to a code; `None`: not expected (a transport error).
    code_result: Option<Result<String, PortalError>>,
    redeemed_password: Mutex<Option<String>>,
    /// The token each redeem was sent.
    redeemed_tokens: Mutex<Vec<String>>,
    reports: Mutex<Vec<(Outcome, String, String)>>,
    /// Each code exchange: (normalized code, computer, domain).
    code_requests: Mutex<Vec<(String, String, String)>>,
}

impl FakePortal {
    fn ok() -> Self {
        Self {
            redeem_result: Some(Ok(RedeemResponse {
                dc: DC.into(),
                computer: "LABWS01$".into(),
            })),
            ..Self::default()
        }
    }

    fn reports(&self) -> Vec<(Outcome, String, String)> {
        self.reports.lock().unwrap().clone()
    }

    /// A portal that answers a code with `token`.
    fn with_code(token: &str) -> Self {
        Self {
            code_result: Some(Ok(token.to_owned())),
            ..Self::ok()
        }
    }

    fn code_requests(&self) -> Vec<(String, String, String)> {
        self.code_requests.lock().unwrap().clone()
    }
}

fn clone_err(e: &PortalError) -> PortalError {
    match e {
        PortalError::Setup(s) => PortalError::Setup(s.clone()),
        PortalError::Transport(s) => PortalError::Transport(s.clone()),
        PortalError::Protocol(s) => PortalError::Protocol(s.clone()),
        PortalError::Refused {
            status,
            code,
            message,
        } => PortalError::Refused {
            status: *status,
            code: code.clone(),
            message: message.clone(),
        },
    }
}

impl Portal for FakePortal {
    async fn healthz(&self) -> Result<(), PortalError> {
        if self.healthz_fails {
            Err(PortalError::Transport("connection refused".into()))
        } else {
            Ok(())
        }
    }

    async fn clock(&self) -> Result<i64, PortalError> {
        self.clock
            .ok_or_else(|| PortalError::Protocol("no Date header".into()))
    }

    async fn redeem(
        &self,
        token: &str,
        password: &MachinePassword,
    ) -> Result<RedeemResponse, PortalError> {
        *self.redeemed_password.lock().unwrap() = Some(password.expose().to_owned());
        self.redeemed_tokens.lock().unwrap().push(token.to_owned());
        match &self.redeem_result {
            Some(Ok(r)) => Ok(r.clone()),
            Some(Err(e)) => Err(clone_err(e)),
            None => Err(PortalError::Transport("not configured".into())),
        }
    }

    async fn report(&self, report: &OutcomeReport<'_>) -> Result<OutcomeResponse, PortalError> {
        self.reports.lock().unwrap().push((
            report.outcome,
            report.step.to_owned(),
            report.detail.to_owned(),
        ));
        if self.report_fails {
            return Err(PortalError::Transport("timed out".into()));
        }
        Ok(OutcomeResponse {
            state: match report.outcome {
                Outcome::Completed => "completed".into(),
                Outcome::Failed => "failed".into(),
            },
        })
    }

    async fn token_by_code(
        &self,
        code: &ShortCode,
        local: &LocalIdentity,
    ) -> Result<zeroize::Zeroizing<String>, PortalError> {
        self.code_requests.lock().unwrap().push((
            code.normalized().to_owned(),
            local.netbios.clone(),
            local.dns_domain.clone(),
        ));
        match &self.code_result {
            Some(Ok(t)) => Ok(zeroize::Zeroizing::new(t.clone())),
            Some(Err(e)) => Err(clone_err(e)),
            None => Err(PortalError::Transport("not configured".into())),
        }
    }
}

#[derive(Default)]
struct FakeBackend {
    identity: Option<LocalIdentity>,
    preflight_fails: bool,
    store_fails: bool,
    /// Fail the n-th verify_channel call (1-based).
    verify_fails_on: Option<usize>,
    /// Fail the n-th rotate call (1-based).
    rotate_fails_on: Option<usize>,
    /// The failing rotation is the DC refusing machine password changes.
    rotate_refused: bool,
    journal: RefCell<Vec<(JournalLevel, String)>>,
    calls: RefCell<Vec<String>>,
    stored: RefCell<Option<String>>,
}

impl FakeBackend {
    fn ok() -> Self {
        Self {
            identity: Some(LocalIdentity {
                netbios: "LABWS01".into(),
                dns_domain: "lab.example.test".into(),
            }),
            ..Self::default()
        }
    }

    fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }

    fn count(&self, prefix: &str) -> usize {
        self.calls
            .borrow()
            .iter()
            .filter(|c| c.starts_with(prefix))
            .count()
    }
}

impl Backend for FakeBackend {
    fn name(&self) -> &'static str {
        "fake"
    }

    fn identity(&self) -> Result<LocalIdentity, BackendError> {
        self.calls.borrow_mut().push("identity".into());
        self.identity
            .clone()
            .ok_or_else(|| BackendError::Failed("testparm not found".into()))
    }

    fn preflight(&self) -> Result<(), BackendError> {
        self.calls.borrow_mut().push("preflight".into());
        if self.preflight_fails {
            Err(BackendError::PendingChange("next_change pending".into()))
        } else {
            Ok(())
        }
    }

    fn store_secret(&self, password: &MachinePassword) -> Result<(), BackendError> {
        self.calls.borrow_mut().push("store".into());
        if self.store_fails {
            return Err(BackendError::Failed(
                "`net changesecretpw` refused because a machine password change is pending".into(),
            ));
        }
        *self.stored.borrow_mut() = Some(password.expose().to_owned());
        Ok(())
    }

    fn verify_channel(&self, dc: &str) -> Result<(), BackendError> {
        self.calls.borrow_mut().push(format!("verify {dc}"));
        if Some(self.count("verify")) == self.verify_fails_on {
            Err(BackendError::Failed("NT_STATUS_ACCESS_DENIED".into()))
        } else {
            Ok(())
        }
    }

    fn rotate(&self, dc: &str) -> Result<(), BackendError> {
        self.calls.borrow_mut().push(format!("rotate {dc}"));
        if Some(self.count("rotate")) != self.rotate_fails_on {
            Ok(())
        } else if self.rotate_refused {
            Err(BackendError::RotationRefused(
                "CHANGE_PASSWORD: Win32 error 86: The specified network password is not correct"
                    .into(),
            ))
        } else {
            Err(BackendError::Failed("NT_STATUS_NO_LOGON_SERVERS".into()))
        }
    }

    fn journal(&self, level: JournalLevel, text: &str) {
        self.journal.borrow_mut().push((level, text.to_owned()));
    }
}

struct Run {
    code: ExitCode,
    out: String,
}

fn run_with(token: &str, dry_run: bool, portal: &FakePortal, backend: &FakeBackend) -> Run {
    let keys = vec![testutil::verifying_key()];
    let portal_url = PortalUrl::parse(PORTAL).unwrap();
    let req = Request {
        token,
        dry_run,
        keys: &keys,
        portal_url: &portal_url,
        now: NOW,
    };
    let mut out = Vec::new();
    let rt = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    let code = rt.block_on(run(&req, portal, backend, &mut out));
    let out = String::from_utf8(out).unwrap();
    // Whatever happened, the password never appears in the output or the machine's log.
    if let Some(pw) = portal.redeemed_password.lock().unwrap().as_deref() {
        assert!(!out.contains(pw), "password leaked into output:\n{out}");
        for (_, line) in backend.journal.borrow().iter() {
            assert!(!line.contains(pw), "password leaked into the journal");
        }
        for (_, _, detail) in portal.reports() {
            assert!(!detail.contains(pw));
        }
    }
    Run { code, out }
}

fn good_token() -> String {
    testutil::token_for(&testutil::claims("LABWS01$", "lab.example.test", PORTAL))
}

#[test]
fn happy_path() {
    let portal = FakePortal::ok();
    let backend = FakeBackend::ok();
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::Repaired, "{}", r.out);
    assert_eq!(
        backend.calls(),
        vec![
            "identity",
            "preflight",
            "store",
            &format!("verify {DC}"),
            &format!("rotate {DC}"),
            &format!("rotate {DC}"),
            &format!("verify {DC}"),
        ]
    );
    // The password stored locally is the one sent to the portal, and it has the right shape.
    let sent = portal.redeemed_password.lock().unwrap().clone().unwrap();
    assert_eq!(backend.stored.borrow().as_deref(), Some(sent.as_str()));
    assert_eq!(sent.len(), 120);
    assert_eq!(
        portal.reports(),
        vec![(
            Outcome::Completed,
            "rotate".into(),
            format!("secure channel verified with {DC}; password rotated twice")
        )]
    );
    for n in 1..=8 {
        assert!(
            r.out.contains(&format!("[{n}/8] ")),
            "step {n} missing:\n{}",
            r.out
        );
    }
    assert!(
        r.out.contains("[1/8] Verifying the token ... ok"),
        "{}",
        r.out
    );
    assert!(r.out.contains("Repaired"), "{}", r.out);
}

#[test]
fn dry_run_changes_nothing() {
    let portal = FakePortal::ok();
    let backend = FakeBackend::ok();
    let r = run_with(&good_token(), true, &portal, &backend);
    assert_eq!(r.code, ExitCode::Repaired, "{}", r.out);
    assert_eq!(backend.calls(), vec!["identity", "preflight"]);
    assert!(portal.redeemed_password.lock().unwrap().is_none());
    assert!(portal.reports().is_empty());
    assert!(r.out.contains("[2/2] Preflight checks ... ok"), "{}", r.out);
    assert!(r.out.contains("Nothing was changed"), "{}", r.out);
}

fn assert_nothing_happened(portal: &FakePortal, backend: &FakeBackend) {
    assert!(portal.redeemed_password.lock().unwrap().is_none());
    assert!(portal.reports().is_empty());
    assert_eq!(backend.count("store"), 0);
}

#[test]
fn token_for_another_computer_is_rejected() {
    let portal = FakePortal::ok();
    let backend = FakeBackend::ok();
    let token = testutil::token_for(&testutil::claims("PAR-WS001$", "lab.example.test", PORTAL));
    let r = run_with(&token, false, &portal, &backend);
    assert_eq!(r.code, ExitCode::TokenRejected, "{}", r.out);
    assert!(r.out.contains("PAR-WS001$"), "{}", r.out);
    assert_nothing_happened(&portal, &backend);
    assert_eq!(backend.count("preflight"), 0);
}

#[test]
fn token_for_another_domain_is_rejected() {
    let portal = FakePortal::ok();
    let backend = FakeBackend::ok();
    let token = testutil::token_for(&testutil::claims("LABWS01$", "other.example.test", PORTAL));
    let r = run_with(&token, false, &portal, &backend);
    assert_eq!(r.code, ExitCode::TokenRejected, "{}", r.out);
    assert_nothing_happened(&portal, &backend);
}

#[test]
fn token_for_another_portal_is_rejected() {
    let portal = FakePortal::ok();
    let backend = FakeBackend::ok();
    let token = testutil::token_for(&testutil::claims(
        "LABWS01$",
        "lab.example.test",
        "https://evil.example.test",
    ));
    let r = run_with(&token, false, &portal, &backend);
    assert_eq!(r.code, ExitCode::TokenRejected, "{}", r.out);
    assert!(r.out.contains("evil.example.test"), "{}", r.out);
    assert_nothing_happened(&portal, &backend);
    // The portal claim is compared after normalisation.
    let token = testutil::token_for(&testutil::claims(
        "LABWS01$",
        "lab.example.test",
        "https://PORTAL.example.test:443/",
    ));
    let r = run_with(&token, true, &FakePortal::ok(), &FakeBackend::ok());
    assert_eq!(r.code, ExitCode::Repaired, "{}", r.out);
}

#[test]
fn expired_forged_and_garbage_tokens_are_rejected() {
    let mut claims = testutil::claims("LABWS01$", "lab.example.test", PORTAL);
    claims.exp = NOW - 1;
    let expired = testutil::token_for(&claims);
    let r = run_with(&expired, false, &FakePortal::ok(), &FakeBackend::ok());
    assert_eq!(r.code, ExitCode::TokenRejected);
    assert!(r.out.contains("(expired)"), "{}", r.out);

    let other_key = trustdesk_token::SigningKey::from_seed(&[9u8; 32]);
    let forged = trustdesk_token::sign(
        &testutil::claims("LABWS01$", "lab.example.test", PORTAL),
        &other_key,
    )
    .unwrap();
    let r = run_with(&forged, false, &FakePortal::ok(), &FakeBackend::ok());
    assert_eq!(r.code, ExitCode::TokenRejected);
    assert!(r.out.contains("unknown_key"), "{}", r.out);

    let mut tampered = good_token();
    tampered.pop();
    tampered.push('A');
    let r = run_with(&tampered, false, &FakePortal::ok(), &FakeBackend::ok());
    assert_eq!(r.code, ExitCode::TokenRejected, "{}", r.out);

    let r = run_with("hello", false, &FakePortal::ok(), &FakeBackend::ok());
    assert_eq!(r.code, ExitCode::TokenRejected);
}

#[test]
fn unknown_identity_is_a_preflight_failure() {
    let portal = FakePortal::ok();
    let backend = FakeBackend::default();
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::PreflightFailed, "{}", r.out);
    assert_nothing_happened(&portal, &backend);
}

#[test]
fn preflight_failures_change_nothing() {
    let portal = FakePortal::ok();
    let backend = FakeBackend {
        preflight_fails: true,
        ..FakeBackend::ok()
    };
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::PreflightFailed, "{}", r.out);
    assert!(r.out.contains("token was not used"), "{}", r.out);
    assert_nothing_happened(&portal, &backend);

    let portal = FakePortal {
        healthz_fails: true,
        ..FakePortal::ok()
    };
    let backend = FakeBackend::ok();
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::PreflightFailed, "{}", r.out);
    assert!(r.out.contains("not reachable"), "{}", r.out);
    assert_nothing_happened(&portal, &backend);

    // A dry run reports preflight failures the same way.
    let r = run_with(&good_token(), true, &portal, &FakeBackend::ok());
    assert_eq!(r.code, ExitCode::PreflightFailed);
}

fn refused(code: &str, status: u16) -> FakePortal {
    FakePortal {
        redeem_result: Some(Err(PortalError::Refused {
            status,
            code: PortalErrorCode::parse(code),
            message: format!("portal says {code}"),
        })),
        ..FakePortal::default()
    }
}

#[test]
fn portal_refusals_map_to_exit_codes() {
    let cases = [
        ("expired", 410, ExitCode::PortalRefused),
        ("already_used", 409, ExitCode::PortalRefused),
        ("revoked", 410, ExitCode::PortalRefused),
        ("bad_signature", 400, ExitCode::PortalRefused),
        ("malformed", 400, ExitCode::PortalRefused),
        ("wrong_computer", 409, ExitCode::PortalRefused),
        ("not_allowed", 403, ExitCode::PortalRefused),
        ("dc_write_failed", 502, ExitCode::PortalUnavailable),
        ("rate_limited", 429, ExitCode::PortalUnavailable),
        ("bad_password", 400, ExitCode::PortalRefused),
        ("unavailable", 503, ExitCode::PortalUnavailable),
    ];
    for (code, status, exit) in cases {
        let portal = refused(code, status);
        let backend = FakeBackend::ok();
        let r = run_with(&good_token(), false, &portal, &backend);
        assert_eq!(r.code, exit, "{code}: {}", r.out);
        assert!(r.out.contains(&format!("portal says {code}")), "{}", r.out);
        assert_eq!(backend.count("store"), 0, "{code}");
        assert!(portal.reports().is_empty(), "{code}");
    }
    let portal = FakePortal {
        redeem_result: Some(Err(PortalError::Transport("timed out".into()))),
        ..FakePortal::default()
    };
    let backend = FakeBackend::ok();
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::PortalUnavailable);
    assert!(
        r.out.contains("Nothing was changed on this machine"),
        "{}",
        r.out
    );
    assert_eq!(backend.count("store"), 0);
}

#[test]
fn portal_answering_for_another_computer_is_not_stored() {
    let portal = FakePortal {
        redeem_result: Some(Ok(RedeemResponse {
            dc: DC.into(),
            computer: "PAR-WS001$".into(),
        })),
        ..FakePortal::default()
    };
    let backend = FakeBackend::ok();
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::PortalUnavailable, "{}", r.out);
    assert_eq!(backend.count("store"), 0);
    let reports = portal.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].0, Outcome::Failed);
    assert_eq!(reports[0].1, "redeem");
}

#[test]
fn local_write_failure_after_dc_write() {
    let portal = FakePortal::ok();
    let backend = FakeBackend {
        store_fails: true,
        ..FakeBackend::ok()
    };
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::LocalWriteFailed, "{}", r.out);
    assert!(
        r.out.contains(
            "The domain controller now holds a new password but this machine could not store \
             it: the machine cannot authenticate until repaired; mint a new token and run this \
             again, or rejoin."
        ),
        "{}",
        r.out
    );
    let reports = portal.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].0, Outcome::Failed);
    assert_eq!(reports[0].1, "store_secret");
    assert!(reports[0].2.contains("pending"), "{:?}", reports[0]);
    assert_eq!(backend.count("verify"), 0);
    assert_eq!(backend.count("rotate"), 0);
}

#[test]
fn channel_failure_after_store() {
    let portal = FakePortal::ok();
    let backend = FakeBackend {
        verify_fails_on: Some(1),
        ..FakeBackend::ok()
    };
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::ChannelUnverified, "{}", r.out);
    assert_eq!(backend.count("rotate"), 0);
    let reports = portal.reports();
    assert_eq!(reports.len(), 1);
    assert_eq!(reports[0].1, "verify_channel");
}

#[test]
fn rotation_failures() {
    for (fails_on, remaining) in [(1usize, "2 more"), (2, "1 more")] {
        let portal = FakePortal::ok();
        let backend = FakeBackend {
            rotate_fails_on: Some(fails_on),
            ..FakeBackend::ok()
        };
        let r = run_with(&good_token(), false, &portal, &backend);
        assert_eq!(r.code, ExitCode::RotationFailed, "{}", r.out);
        assert!(r.out.contains(remaining), "{}", r.out);
        assert_eq!(backend.count("rotate"), fails_on);
        let reports = portal.reports();
        assert_eq!(reports.len(), 1);
        assert_eq!(reports[0].0, Outcome::Failed);
        assert_eq!(reports[0].1, "rotate");
        assert!(reports[0].2.contains(&format!("rotation {fails_on} of 2")));
        // The channel is checked again before anything is said about it.
        assert_eq!(backend.count("verify"), 2, "{:?}", backend.calls.borrow());
        assert!(r.out.contains("still works"), "{}", r.out);
    }
}

#[test]
fn a_dc_that_refuses_password_changes_stops_the_rotation_and_says_so() {
    for fails_on in [1usize, 2] {
        let portal = FakePortal::ok();
        let backend = FakeBackend {
            rotate_fails_on: Some(fails_on),
            rotate_refused: true,
            ..FakeBackend::ok()
        };
        let r = run_with(&good_token(), false, &portal, &backend);
        assert_eq!(r.code, ExitCode::RotationFailed, "{}", r.out);
        assert_eq!(
            backend.count("rotate"),
            fails_on,
            "no rotation after a refusal"
        );
        assert!(r.out.contains("RefusePasswordChange"), "{}", r.out);
        assert!(r.out.contains("Do NOT rotate by hand"), "{}", r.out);
        assert!(!r.out.contains("more time(s)"), "{}", r.out);
        assert!(r.out.contains("still works"), "{}", r.out);
        let reports = portal.reports();
        assert_eq!(reports[0].1, "rotate");
        assert!(reports[0].2.contains("refuses"), "{}", reports[0].2);
    }
}

#[test]
fn a_channel_broken_by_a_failed_rotation_is_not_called_working() {
    let portal = FakePortal::ok();
    let backend = FakeBackend {
        rotate_fails_on: Some(1),
        verify_fails_on: Some(2),
        ..FakeBackend::ok()
    };
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::RotationFailed, "{}", r.out);
    assert!(r.out.contains("does NOT work now"), "{}", r.out);
    assert!(!r.out.contains("more time(s)"), "{}", r.out);
    assert!(portal.reports()[0].2.contains("channel broken"));
}

#[test]
fn the_machine_journal_records_who_repaired_it() {
    let backend = FakeBackend::ok();
    let r = run_with(&good_token(), false, &FakePortal::ok(), &backend);
    assert_eq!(r.code, ExitCode::Repaired, "{}", r.out);
    let journal = backend.journal.borrow();
    let levels: Vec<JournalLevel> = journal.iter().map(|(l, _)| *l).collect();
    assert_eq!(levels, [JournalLevel::Info; 3], "{journal:?}");
    let claims = testutil::claims("LABWS01$", "lab.example.test", PORTAL);
    assert!(journal[0].1.contains(&claims.issued_by), "{journal:?}");
    assert!(journal[0].1.contains(PORTAL), "{journal:?}");
    assert!(journal[1].1.contains(DC), "{journal:?}");
    assert!(journal[2].1.contains("Repaired"), "{journal:?}");
    drop(journal);

    let backend = FakeBackend {
        store_fails: true,
        ..FakeBackend::ok()
    };
    let r = run_with(&good_token(), false, &FakePortal::ok(), &backend);
    assert_eq!(r.code, ExitCode::LocalWriteFailed, "{}", r.out);
    let journal = backend.journal.borrow();
    let last = journal.last().unwrap();
    assert_eq!(last.0, JournalLevel::Error);
    assert!(last.1.contains("store_secret"), "{last:?}");
}

#[test]
fn a_token_refused_by_a_wrong_clock_says_the_clock_is_wrong() {
    // Minted (by the portal's clock) three days after this machine's "now": not yet valid here.
    let mut claims = testutil::claims("LABWS01$", "lab.example.test", PORTAL);
    claims.iat = NOW + 3 * 86_400;
    claims.exp = claims.iat + 900;
    let token = testutil::token_for(&claims);
    let portal = FakePortal {
        clock: Some(claims.iat + 5),
        ..FakePortal::ok()
    };
    let backend = FakeBackend::ok();
    let r = run_with(&token, false, &portal, &backend);
    assert_eq!(r.code, ExitCode::TokenRejected, "{}", r.out);
    assert!(r.out.contains("clock is wrong"), "{}", r.out);
    assert!(r.out.contains("minute(s) behind"), "{}", r.out);
    assert_nothing_happened(&portal, &backend);

    // Expired by the local clock, and the portal agrees: the token, not the clock.
    let mut claims = testutil::claims("LABWS01$", "lab.example.test", PORTAL);
    claims.exp = NOW - 1;
    let portal = FakePortal {
        clock: Some(NOW),
        ..FakePortal::ok()
    };
    let r = run_with(&testutil::token_for(&claims), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::TokenRejected);
    assert!(r.out.contains("(expired)"), "{}", r.out);
    assert!(!r.out.contains("clock"), "{}", r.out);

    // No portal clock: the plain refusal.
    let r = run_with(&token, false, &FakePortal::ok(), &backend);
    assert_eq!(r.code, ExitCode::TokenRejected);
    assert!(!r.out.contains("clock is wrong"), "{}", r.out);
}

#[test]
fn channel_failure_after_rotation() {
    let portal = FakePortal::ok();
    let backend = FakeBackend {
        verify_fails_on: Some(2),
        ..FakeBackend::ok()
    };
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::ChannelUnverified, "{}", r.out);
    assert_eq!(backend.count("rotate"), 2);
    assert_eq!(portal.reports()[0].1, "rotate");
}

#[test]
fn report_failure_after_success_is_its_own_code() {
    let portal = FakePortal {
        report_fails: true,
        ..FakePortal::ok()
    };
    let r = run_with(&good_token(), false, &portal, &FakeBackend::ok());
    assert_eq!(r.code, ExitCode::ReportFailed, "{}", r.out);
    assert!(r.out.contains("repair itself SUCCEEDED"), "{}", r.out);
}

#[test]
fn report_failure_after_failure_keeps_the_failure_code() {
    let portal = FakePortal {
        report_fails: true,
        ..FakePortal::ok()
    };
    let backend = FakeBackend {
        store_fails: true,
        ..FakeBackend::ok()
    };
    let r = run_with(&good_token(), false, &portal, &backend);
    assert_eq!(r.code, ExitCode::LocalWriteFailed, "{}", r.out);
    assert!(r.out.contains("could not be told"), "{}", r.out);
}

// ---- A short repair code instead of the token.

const CODE: &str = "K7QF-M2XD-9PWA";

/// Whatever happened, the whole code (in any of its spellings) never appears in the output,
/// and neither does the fetched token.
fn assert_code_hidden(r: &Run, portal: &FakePortal) {
    for whole in [CODE, "K7QFM2XD9PWA", "K7QF", "M2XD"] {
        assert!(!r.out.contains(whole), "{whole} printed:\n{}", r.out);
    }
    if let Some(Ok(token)) = &portal.code_result {
        assert!(!r.out.contains(token.as_str()), "token printed:\n{}", r.out);
    }
}

#[test]
fn a_code_is_exchanged_for_its_token_which_then_repairs_as_usual() {
    let token = good_token();
    let portal = FakePortal::with_code(&token);
    let backend = FakeBackend::ok();
    let r = run_with(" k7qf m2xd 9pwa ", false, &portal, &backend);
    assert_eq!(r.code, ExitCode::Repaired, "{}", r.out);
    // The normalized code, with this machine's own name and domain from the backend.
    assert_eq!(
        portal.code_requests(),
        vec![(
            "K7QFM2XD9PWA".to_owned(),
            "LABWS01".to_owned(),
            "lab.example.test".to_owned()
        )]
    );
    // The fetched token is the one redeemed and reported, unchanged.
    assert_eq!(*portal.redeemed_tokens.lock().unwrap(), vec![token]);
    assert_eq!(portal.reports().len(), 1);
    // The fetch is step 1 of 9; the token flow follows, verified as for a pasted token (the
    // identity is read again for that, not taken from the fetch, and the preflight checks
    // that ran before the code was sent run again as step 3).
    assert!(
        r.out
            .contains("[1/9] Fetching the token for code ****-****-9PWA ... ok"),
        "{}",
        r.out
    );
    assert!(
        r.out.contains("[2/9] Verifying the token ... ok"),
        "{}",
        r.out
    );
    assert!(r.out.contains("[9/9] Reporting"), "{}", r.out);
    assert_eq!(
        backend.calls()[..4],
        ["identity", "preflight", "identity", "preflight"]
    );
    assert!(!r.out.contains("code is used up"), "{}", r.out);
    assert_code_hidden(&r, &portal);
}

#[test]
fn a_fetched_token_is_verified_like_a_pasted_one() {
    let other_key = trustdesk_token::SigningKey::from_seed(&[9u8; 32]);
    let mut expired = testutil::claims("LABWS01$", "lab.example.test", PORTAL);
    expired.exp = NOW - 1;
    let cases = [
        (
            "another computer",
            testutil::token_for(&testutil::claims("PAR-WS001$", "lab.example.test", PORTAL)),
            "PAR-WS001$",
        ),
        (
            "another domain",
            testutil::token_for(&testutil::claims("LABWS01$", "other.example.test", PORTAL)),
            "other.example.test",
        ),
        (
            "another portal",
            testutil::token_for(&testutil::claims(
                "LABWS01$",
                "lab.example.test",
                "https://evil.example.test",
            )),
            "evil.example.test",
        ),
        (
            "an unpinned key",
            trustdesk_token::sign(
                &testutil::claims("LABWS01$", "lab.example.test", PORTAL),
                &other_key,
            )
            .unwrap(),
            "unknown_key",
        ),
        ("expired", testutil::token_for(&expired), "(expired)"),
        ("garbage", "td1.garbage".to_owned(), "rejected"),
    ];
    for (what, token, says) in cases {
        let portal = FakePortal::with_code(&token);
        let backend = FakeBackend::ok();
        let r = run_with(CODE, false, &portal, &backend);
        assert_eq!(r.code, ExitCode::TokenRejected, "{what}: {}", r.out);
        assert!(r.out.contains(says), "{what}: {}", r.out);
        assert!(
            r.out.contains("[2/9] Verifying the token ... FAILED"),
            "{what}: {}",
            r.out
        );
        assert_eq!(portal.code_requests().len(), 1, "{what}");
        assert_nothing_happened(&portal, &backend);
        // Only the check before the code was sent: the flow stopped at its step 1.
        assert_eq!(backend.count("preflight"), 1, "{what}");
        // The person is told the code is spent but the token is not.
        assert!(r.out.contains("code is used up"), "{what}: {}", r.out);
        assert!(r.out.contains("token was not used"), "{what}: {}", r.out);
        assert_code_hidden(&r, &portal);
    }
}

#[test]
fn code_refusals_map_to_exit_codes_and_change_nothing() {
    let cases = [
        ("unknown_code", 404, ExitCode::PortalRefused),
        ("malformed", 400, ExitCode::PortalRefused),
        ("rate_limited", 429, ExitCode::PortalUnavailable),
        ("unavailable", 503, ExitCode::PortalUnavailable),
    ];
    for (wire, status, exit) in cases {
        let portal = FakePortal {
            code_result: Some(Err(PortalError::Refused {
                status,
                code: PortalErrorCode::parse(wire),
                message: format!("portal says {wire}"),
            })),
            ..FakePortal::ok()
        };
        let backend = FakeBackend::ok();
        let r = run_with(CODE, false, &portal, &backend);
        assert_eq!(r.code, exit, "{wire}: {}", r.out);
        assert!(r.out.contains("****-****-9PWA ... FAILED"), "{}", r.out);
        assert!(r.out.contains(&format!("portal says {wire}")), "{}", r.out);
        if wire == "unknown_code" {
            let advice = PortalErrorCode::parse(wire).advice();
            assert!(r.out.contains(advice), "{}", r.out);
        }
        assert!(r.out.contains("Nothing was changed"), "{}", r.out);
        // Never past the fetch: no verification, preflight, redeem or report.
        assert!(!r.out.contains("[2/9]"), "{}", r.out);
        assert_eq!(backend.calls(), vec!["identity", "preflight"], "{wire}");
        assert_nothing_happened(&portal, &backend);
        assert_code_hidden(&r, &portal);
    }
    // Transport errors are the portal being unavailable, as for the other calls.
    let portal = FakePortal {
        code_result: Some(Err(PortalError::Transport("timed out".into()))),
        ..FakePortal::ok()
    };
    let backend = FakeBackend::ok();
    let r = run_with(CODE, false, &portal, &backend);
    assert_eq!(r.code, ExitCode::PortalUnavailable, "{}", r.out);
    assert!(r.out.contains("Nothing was changed"), "{}", r.out);
    assert_nothing_happened(&portal, &backend);
    assert_code_hidden(&r, &portal);
}

#[test]
fn a_code_needs_this_machines_identity_before_it_is_sent() {
    let portal = FakePortal::with_code(&good_token());
    let backend = FakeBackend::default();
    let r = run_with(CODE, false, &portal, &backend);
    assert_eq!(r.code, ExitCode::PreflightFailed, "{}", r.out);
    assert!(r.out.contains("cannot tell which computer"), "{}", r.out);
    assert!(portal.code_requests().is_empty());
    assert_nothing_happened(&portal, &backend);
}

#[test]
fn a_code_is_not_sent_when_this_machine_fails_its_preflight() {
    let portal = FakePortal::with_code(&good_token());
    let backend = FakeBackend {
        preflight_fails: true,
        ..FakeBackend::ok()
    };
    let r = run_with(CODE, false, &portal, &backend);
    assert_eq!(r.code, ExitCode::PreflightFailed, "{}", r.out);
    assert!(r.out.contains("****-****-9PWA ... FAILED"), "{}", r.out);
    assert!(r.out.contains("pending"), "{}", r.out);
    assert!(r.out.contains("the code was not sent"), "{}", r.out);
    assert!(!r.out.contains("code is used up"), "{}", r.out);
    assert!(portal.code_requests().is_empty());
    assert_nothing_happened(&portal, &backend);
}

#[test]
fn a_fetched_token_stopped_by_the_portals_health_check_leaves_the_token_unused() {
    let portal = FakePortal {
        healthz_fails: true,
        ..FakePortal::with_code(&good_token())
    };
    let backend = FakeBackend::ok();
    let r = run_with(CODE, false, &portal, &backend);
    assert_eq!(r.code, ExitCode::PreflightFailed, "{}", r.out);
    assert!(
        r.out.contains("[3/9] Preflight checks ... FAILED"),
        "{}",
        r.out
    );
    assert!(r.out.contains("code is used up"), "{}", r.out);
    assert_nothing_happened(&portal, &backend);
    assert_code_hidden(&r, &portal);
}

#[test]
fn a_dry_run_with_a_code_is_refused_without_sending_it() {
    let portal = FakePortal::with_code(&good_token());
    let backend = FakeBackend::ok();
    let r = run_with(CODE, true, &portal, &backend);
    assert_eq!(r.code, ExitCode::Usage, "{}", r.out);
    assert!(r.out.contains("dry run needs the full token"), "{}", r.out);
    assert!(portal.code_requests().is_empty());
    assert!(backend.calls().is_empty());
    assert_nothing_happened(&portal, &backend);
    assert_code_hidden(&r, &portal);
}

#[test]
fn input_that_is_neither_a_token_nor_a_code_gets_the_token_error() {
    // Eleven symbols, a 13th, a U: not codes, so they are judged (and refused) as tokens.
    for input in ["K7QF-M2XD-9PW", "K7QF-M2XD-9PWAA", "K7QF-M2XD-9PWU"] {
        let portal = FakePortal::with_code(&good_token());
        let backend = FakeBackend::ok();
        let r = run_with(input, false, &portal, &backend);
        assert_eq!(r.code, ExitCode::TokenRejected, "{input}: {}", r.out);
        assert!(
            r.out.contains("[1/8] Verifying the token ... FAILED"),
            "{}",
            r.out
        );
        assert!(portal.code_requests().is_empty(), "{input}");
        assert_nothing_happened(&portal, &backend);
    }
}

#[test]
fn the_request_debug_form_hides_the_token() {
    let keys = vec![testutil::verifying_key()];
    let portal_url = PortalUrl::parse(PORTAL).unwrap();
    let token = good_token();
    let req = Request {
        token: &token,
        dry_run: false,
        keys: &keys,
        portal_url: &portal_url,
        now: NOW,
    };
    let debug = format!("{req:?}");
    assert!(!debug.contains(&token), "{debug}");
    assert!(debug.contains("redacted"), "{debug}");
}

//! `PortalClient` against the fake portal over real TLS.

use trustdesk_client::backend::LocalIdentity;
use trustdesk_client::config::PortalUrl;
use trustdesk_client::exit::ExitCode;
use trustdesk_client::http::{
    Outcome, OutcomeReport, Portal, PortalClient, PortalError, PortalErrorCode,
};
use trustdesk_client::password::MachinePassword;
use trustdesk_token::ShortCode;

use crate::fake_portal::{CA_PEM, CodeAnswer, FakePortal, RedeemAnswer};

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
}

fn ok_answer() -> RedeemAnswer {
    RedeemAnswer::Ok {
        dc: "dc1.lab.example.test".into(),
        computer: "LABWS01$".into(),
    }
}

fn client(portal: &FakePortal) -> PortalClient {
    PortalClient::new(PortalUrl::parse(&portal.url()).unwrap(), Some(CA_PEM)).unwrap()
}

#[test]
fn healthz_over_tls_with_the_extra_ca() {
    let portal = FakePortal::start(ok_answer());
    rt().block_on(client(&portal).healthz()).unwrap();
    assert_eq!(portal.seen()[0].path, "/healthz");
}

#[test]
fn the_portals_clock_is_read_from_its_date_header() {
    let portal = FakePortal::start(ok_answer());
    let at = rt().block_on(client(&portal).clock()).unwrap();
    assert_eq!(at, 784_111_777);
}

#[test]
fn unknown_ca_is_refused() {
    let portal = FakePortal::start(ok_answer());
    let c = PortalClient::new(PortalUrl::parse(&portal.url()).unwrap(), None).unwrap();
    let err = rt().block_on(c.healthz()).unwrap_err();
    assert!(matches!(err, PortalError::Transport(_)), "{err}");
    assert!(
        err.to_string().to_lowercase().contains("certificate"),
        "{err}"
    );
    assert!(portal.seen().is_empty());
}

#[test]
fn bad_ca_file_is_a_setup_error() {
    let url = PortalUrl::parse("https://localhost:1").unwrap();
    let err = PortalClient::new(url, Some(b"not a certificate")).unwrap_err();
    assert!(matches!(err, PortalError::Setup(_)), "{err}");
    assert_eq!(err.redeem_exit_code(), ExitCode::Usage);
}

#[test]
fn redeem_sends_token_and_password() {
    let portal = FakePortal::start(ok_answer());
    let pw = MachinePassword::generate().unwrap();
    let answer = rt()
        .block_on(client(&portal).redeem("td1.x.y", &pw))
        .unwrap();
    assert_eq!(answer.dc, "dc1.lab.example.test");
    assert_eq!(answer.computer, "LABWS01$");
    let seen = portal.seen();
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/api/v1/redeem");
    assert_eq!(seen[0].body["token"], "td1.x.y");
    assert_eq!(seen[0].body["password"], pw.expose());
}

#[test]
fn redeem_errors_are_mapped() {
    for (status, code, exit) in [
        (410, "expired", ExitCode::PortalRefused),
        (409, "already_used", ExitCode::PortalRefused),
        (403, "wrong_computer", ExitCode::PortalRefused),
        (502, "dc_write_failed", ExitCode::PortalUnavailable),
        (429, "rate_limited", ExitCode::PortalUnavailable),
    ] {
        let portal = FakePortal::start(RedeemAnswer::Error {
            status,
            code: code.into(),
        });
        let pw = MachinePassword::generate().unwrap();
        let err = rt()
            .block_on(client(&portal).redeem("td1.x.y", &pw))
            .unwrap_err();
        match &err {
            PortalError::Refused {
                status: s,
                code: c,
                message,
            } => {
                assert_eq!(*s, status);
                assert_eq!(*c, PortalErrorCode::parse(code));
                assert_eq!(message, &format!("fake portal: {code}"));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.redeem_exit_code(), exit, "{code}");
    }
}

#[test]
fn redirects_are_not_followed() {
    let portal = FakePortal::start(RedeemAnswer::Redirect);
    let pw = MachinePassword::generate().unwrap();
    let err = rt()
        .block_on(client(&portal).redeem("td1.x.y", &pw))
        .unwrap_err();
    assert!(matches!(err, PortalError::Protocol(_)), "{err}");
    assert!(err.to_string().contains("redirect"), "{err}");
    assert_eq!(portal.seen().len(), 1);
}

#[test]
fn invalid_dc_name_is_refused() {
    let portal = FakePortal::start(RedeemAnswer::Ok {
        dc: "--option=evil".into(),
        computer: "LABWS01$".into(),
    });
    let pw = MachinePassword::generate().unwrap();
    let err = rt()
        .block_on(client(&portal).redeem("td1.x.y", &pw))
        .unwrap_err();
    assert!(matches!(err, PortalError::Protocol(_)), "{err}");
}

#[test]
fn outcome_is_reported() {
    let portal = FakePortal::start(ok_answer());
    let r = rt()
        .block_on(client(&portal).report(&OutcomeReport {
            token: "td1.x.y",
            outcome: Outcome::Failed,
            step: "store_secret",
            detail: "boom",
        }))
        .unwrap();
    assert_eq!(r.state, "failed");
    let seen = portal.seen();
    assert_eq!(seen[0].path, "/api/v1/redeem/outcome");
    assert_eq!(
        seen[0].body,
        serde_json::json!({"token": "td1.x.y", "outcome": "failed", "step": "store_secret", "detail": "boom"})
    );
}

fn labws01() -> LocalIdentity {
    LocalIdentity {
        netbios: "LABWS01".into(),
        dns_domain: "lab.example.test".into(),
    }
}

#[test]
fn a_code_is_exchanged_for_its_token() {
    let portal = FakePortal::start(ok_answer());
    portal.answer_code(CodeAnswer::Token("td1.x.y".into()));
    let code = ShortCode::parse("k7qf m2xd 9pwa").unwrap();
    let token = rt()
        .block_on(client(&portal).token_by_code(&code, &labws01()))
        .unwrap();
    assert_eq!(token.as_str(), "td1.x.y");
    let seen = portal.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].method, "POST");
    assert_eq!(seen[0].path, "/api/v1/redeem/code");
    assert_eq!(
        seen[0].body,
        serde_json::json!({"code": "K7QFM2XD9PWA", "computer": "LABWS01", "domain": "lab.example.test"})
    );
}

#[test]
fn code_refusals_are_mapped() {
    for (status, wire, exit) in [
        (404, "unknown_code", ExitCode::PortalRefused),
        (400, "malformed", ExitCode::PortalRefused),
        (429, "rate_limited", ExitCode::PortalUnavailable),
        (503, "unavailable", ExitCode::PortalUnavailable),
    ] {
        let portal = FakePortal::start(ok_answer());
        portal.answer_code(CodeAnswer::Error {
            status,
            code: wire.into(),
        });
        let code = ShortCode::parse("K7QF-M2XD-9PWA").unwrap();
        let err = rt()
            .block_on(client(&portal).token_by_code(&code, &labws01()))
            .unwrap_err();
        match &err {
            PortalError::Refused {
                status: s, code: c, ..
            } => {
                assert_eq!(*s, status);
                assert_eq!(*c, PortalErrorCode::parse(wire));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(err.redeem_exit_code(), exit, "{wire}");
    }
}

#[test]
fn unreachable_portal_is_a_transport_error() {
    // Bind then drop a listener: the port is (very likely) closed.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let url = PortalUrl::parse(&format!("https://127.0.0.1:{port}")).unwrap();
    let c = PortalClient::new(url, Some(CA_PEM)).unwrap();
    let err = rt().block_on(c.healthz()).unwrap_err();
    assert!(matches!(err, PortalError::Transport(_)), "{err}");
    assert_eq!(err.redeem_exit_code(), ExitCode::PortalUnavailable);
}

//! The portal's HTTP API as the client sees it (also usable from the portal's own tests).
//!
//! HTTPS only (`https_only`), rustls with the aws-lc-rs provider, the OS trust store plus an
//! optional extra root CA, a 15 s timeout per request, redirects never followed.
//!
//! - `GET  {portal}/healthz` → 200
//! - `POST {portal}/api/v1/redeem` `{token, password}` → 200 `{dc, computer}`, or an error
//!   body `{error, message}` (see [`PortalErrorCode`])
//! - `POST {portal}/api/v1/redeem/outcome` `{token, outcome, step, detail}` → 200 `{state}`
//! - `POST {portal}/api/v1/redeem/code` `{code, computer, domain}` → 200 `{token}`, or the same
//!   error body (`unknown_code` for every code the portal will not answer for)

use std::future::Future;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use trustdesk_token::ShortCode;
use zeroize::Zeroizing;

use crate::backend::LocalIdentity;
use crate::config::PortalUrl;
use crate::exit::ExitCode;
use crate::password::MachinePassword;
pub use crate::refusal::PortalErrorCode;
use crate::text::sanitize;

/// Per-request time limit.
pub const TIMEOUT: Duration = Duration::from_secs(15);
/// Path of the health check.
pub const HEALTHZ_PATH: &str = "/healthz";
/// Path of the redeem call.
pub const REDEEM_PATH: &str = "/api/v1/redeem";
/// Path of the outcome report.
pub const OUTCOME_PATH: &str = "/api/v1/redeem/outcome";
/// Path of the short repair code's exchange for its token.
pub const CODE_PATH: &str = "/api/v1/redeem/code";
/// Longest quote of a portal message.
const MAX_QUOTE: usize = 300;
/// Largest response body read (answers are small JSON).
const MAX_BODY: usize = 64 * 1024;

/// The portal's answer to a successful redeem: it wrote the password to `dc`.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct RedeemResponse {
    /// Host name of the domain controller that holds the new password.
    pub dc: String,
    /// `sAMAccountName` of the computer that was written (with `$`).
    pub computer: String,
}

/// Final outcome of a repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Channel verified and rotated.
    Completed,
    /// Failed after the redeem.
    Failed,
}

/// The body of an outcome report. `detail` must hold no secret.
#[derive(Clone, Debug, Serialize)]
pub struct OutcomeReport<'a> {
    /// The redeemed token.
    pub token: &'a str,
    /// Completed or failed.
    pub outcome: Outcome,
    /// Name of the step the outcome refers to (`rotate` when completed).
    pub step: &'a str,
    /// Short human text, no secrets.
    pub detail: &'a str,
}

/// The portal's answer to an outcome report.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct OutcomeResponse {
    /// The token's state after the report (`completed` | `failed`).
    pub state: String,
}

/// The portal's answer to a code: the token, taken as it came (the flow verifies it).
#[derive(Deserialize)]
struct TokenBody {
    token: String,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    error: String,
    #[serde(default)]
    message: String,
}

/// The User-Agent of every request, and the string by which the portal recognises a client
/// binary of its own version before it serves it (`src/downloads/binary.rs` in the portal):
/// keep it one literal.
pub const USER_AGENT: &str = concat!("trustdesk-client/", env!("CARGO_PKG_VERSION"));

/// A failed portal call.
#[derive(Debug, thiserror::Error)]
pub enum PortalError {
    /// The HTTP client could not be built (bad CA file, TLS setup).
    #[error("cannot set up the HTTPS client: {0}")]
    Setup(String),
    /// No answer: DNS, connect, TLS, timeout.
    #[error("cannot reach the portal: {0}")]
    Transport(String),
    /// The portal answered with an error.
    #[error("the portal refused (HTTP {status}, {}): {message}", code.as_str())]
    Refused {
        /// HTTP status.
        status: u16,
        /// Parsed error code.
        code: PortalErrorCode,
        /// The portal's message (sanitised).
        message: String,
    },
    /// The portal answered something this client does not understand.
    #[error("unexpected answer from the portal: {0}")]
    Protocol(String),
}

impl PortalError {
    /// Exit code when this error ends the redeem step or the code fetch.
    #[must_use]
    pub fn redeem_exit_code(&self) -> ExitCode {
        match self {
            Self::Setup(_) => ExitCode::Usage,
            Self::Transport(_) | Self::Protocol(_) => ExitCode::PortalUnavailable,
            Self::Refused { status, code, .. } => code.exit_code(*status),
        }
    }
}

/// The calls the redeem flow makes; [`PortalClient`] is the real one.
pub trait Portal {
    /// `GET /healthz` must answer 200 over TLS.
    fn healthz(&self) -> impl Future<Output = Result<(), PortalError>> + Send;
    /// The portal's clock (Unix seconds), from the `Date` header of its `/healthz` answer:
    /// only to explain a token refused by this machine's clock, never to accept one.
    fn clock(&self) -> impl Future<Output = Result<i64, PortalError>> + Send;
    /// Redeems the token, handing over the new password.
    fn redeem(
        &self,
        token: &str,
        password: &MachinePassword,
    ) -> impl Future<Output = Result<RedeemResponse, PortalError>> + Send;
    /// Reports the outcome of a redeemed token.
    fn report(
        &self,
        report: &OutcomeReport<'_>,
    ) -> impl Future<Output = Result<OutcomeResponse, PortalError>> + Send;
    /// Exchanges a short repair code for its token, naming this machine (`local`) as the
    /// portal requires. The token is returned unverified: the caller verifies it like any
    /// other.
    fn token_by_code(
        &self,
        code: &ShortCode,
        local: &LocalIdentity,
    ) -> impl Future<Output = Result<Zeroizing<String>, PortalError>> + Send;
}

/// The portal's HTTPS client.
#[derive(Clone, Debug)]
pub struct PortalClient {
    portal: PortalUrl,
    http: reqwest::Client,
}

impl PortalClient {
    /// A client for `portal`, trusting the OS roots plus the certificates in `extra_ca_pem`.
    pub fn new(portal: PortalUrl, extra_ca_pem: Option<&[u8]>) -> Result<Self, PortalError> {
        // Idempotent: an already installed provider (e.g. in the portal's tests) stays.
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let mut builder = reqwest::Client::builder()
            .https_only(true)
            .redirect(reqwest::redirect::Policy::none())
            .timeout(TIMEOUT)
            .connect_timeout(TIMEOUT)
            .user_agent(USER_AGENT);
        if let Some(pem) = extra_ca_pem {
            let certs = reqwest::Certificate::from_pem_bundle(pem)
                .map_err(|e| PortalError::Setup(format!("CA file: {}", chain(&e))))?;
            if certs.is_empty() {
                return Err(PortalError::Setup(
                    "CA file holds no PEM certificate".to_owned(),
                ));
            }
            builder = builder.tls_certs_merge(certs);
        }
        let http = builder.build().map_err(|e| PortalError::Setup(chain(&e)))?;
        Ok(Self { portal, http })
    }

    /// The portal this client talks to.
    #[must_use]
    pub fn portal(&self) -> &PortalUrl {
        &self.portal
    }

    async fn post_json(
        &self,
        path: &str,
        body: Zeroizing<Vec<u8>>,
    ) -> Result<(u16, Vec<u8>), PortalError> {
        let response = self
            .http
            .post(self.portal.endpoint(path))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header(reqwest::header::ACCEPT, "application/json")
            // Bytes::from_owner keeps the Zeroizing buffer: it is wiped when sent and dropped.
            .body(bytes_from_owner(body))
            .send()
            .await
            .map_err(|e| transport(&e))?;
        read_response(response).await
    }
}

impl PortalClient {
    /// `GET /healthz`, the answer unread.
    async fn get_healthz(&self) -> Result<reqwest::Response, PortalError> {
        self.http
            .get(self.portal.endpoint(HEALTHZ_PATH))
            .send()
            .await
            .map_err(|e| transport(&e))
    }
}

impl Portal for PortalClient {
    async fn healthz(&self) -> Result<(), PortalError> {
        let response = self.get_healthz().await?;
        let (status, body) = read_response(response).await?;
        if status == 200 {
            Ok(())
        } else {
            Err(unexpected_status(status, &body))
        }
    }

    async fn clock(&self) -> Result<i64, PortalError> {
        self.get_healthz()
            .await?
            .headers()
            .get(reqwest::header::DATE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| httpdate::parse_http_date(v).ok())
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .and_then(|d| i64::try_from(d.as_secs()).ok())
            .ok_or_else(|| PortalError::Protocol("the portal sent no valid Date header".into()))
    }

    async fn redeem(
        &self,
        token: &str,
        password: &MachinePassword,
    ) -> Result<RedeemResponse, PortalError> {
        #[derive(Serialize)]
        struct Body<'a> {
            token: &'a str,
            password: &'a str,
        }
        // Worst case every password character is escaped to two: reserve it all up front so
        // the buffer never reallocates (a reallocation would leave an unwiped copy behind).
        let mut buf = Zeroizing::new(Vec::with_capacity(
            token.len() * 2 + password.expose().len() * 2 + 64,
        ));
        serde_json::to_writer(
            &mut *buf,
            &Body {
                token,
                password: password.expose(),
            },
        )
        .map_err(|e| PortalError::Setup(e.to_string()))?;
        let (status, body) = self.post_json(REDEEM_PATH, buf).await?;
        if status != 200 {
            return Err(error_from(status, &body));
        }
        let parsed: RedeemResponse = serde_json::from_slice(&body).map_err(|e| {
            PortalError::Protocol(format!(
                "HTTP 200 but the body is not {{\"dc\", \"computer\"}}: {e}"
            ))
        })?;
        validate_dc(&parsed.dc)?;
        Ok(parsed)
    }

    async fn report(&self, report: &OutcomeReport<'_>) -> Result<OutcomeResponse, PortalError> {
        let body = serde_json::to_vec(report).map_err(|e| PortalError::Setup(e.to_string()))?;
        let (status, body) = self.post_json(OUTCOME_PATH, Zeroizing::new(body)).await?;
        if status != 200 {
            return Err(error_from(status, &body));
        }
        serde_json::from_slice(&body).map_err(|e| {
            PortalError::Protocol(format!("HTTP 200 but the body is not {{\"state\"}}: {e}"))
        })
    }

    async fn token_by_code(
        &self,
        code: &ShortCode,
        local: &LocalIdentity,
    ) -> Result<Zeroizing<String>, PortalError> {
        #[derive(Serialize)]
        struct Body<'a> {
            code: &'a str,
            computer: &'a str,
            domain: &'a str,
        }
        let body = Body {
            code: code.normalized(),
            computer: local.netbios.trim(),
            domain: local.dns_domain.trim(),
        };
        // Room for the worst-case escaping up front, so the buffer holding the code never
        // reallocates (as for the password).
        let mut buf = Zeroizing::new(Vec::with_capacity(
            64 + 6 * (body.code.len() + body.computer.len() + body.domain.len()),
        ));
        serde_json::to_writer(&mut *buf, &body).map_err(|e| PortalError::Setup(e.to_string()))?;
        let (status, body) = self.post_json(CODE_PATH, buf).await?;
        token_from(status, &Zeroizing::new(body))
    }
}

/// The token in the portal's answer to a code, or the refusal.
fn token_from(status: u16, body: &[u8]) -> Result<Zeroizing<String>, PortalError> {
    if status != 200 {
        return Err(error_from(status, body));
    }
    // serde's message is left out: it can quote the value, and the value may be a token.
    let parsed: TokenBody = serde_json::from_slice(body).map_err(|_| {
        PortalError::Protocol("HTTP 200 but the body is not {\"token\": \"…\"}".to_owned())
    })?;
    Ok(Zeroizing::new(parsed.token))
}

fn bytes_from_owner(buf: Zeroizing<Vec<u8>>) -> reqwest::Body {
    struct Owned(Zeroizing<Vec<u8>>);
    impl AsRef<[u8]> for Owned {
        fn as_ref(&self) -> &[u8] {
            &self.0
        }
    }
    reqwest::Body::from(bytes::Bytes::from_owner(Owned(buf)))
}

/// Reads the whole response, up to [`MAX_BODY`] bytes.
async fn read_response(response: reqwest::Response) -> Result<(u16, Vec<u8>), PortalError> {
    let status = response.status().as_u16();
    if response.status().is_redirection() {
        let to = response
            .headers()
            .get(reqwest::header::LOCATION)
            .and_then(|v| v.to_str().ok())
            .map(|v| sanitize(v, None, MAX_QUOTE))
            .unwrap_or_default();
        return Err(PortalError::Protocol(format!(
            "HTTP {status} redirect to {to:?}; redirects are not followed: check portal_url"
        )));
    }
    let mut response = response;
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| transport(&e))? {
        if body.len().saturating_add(chunk.len()) > MAX_BODY {
            return Err(PortalError::Protocol(format!(
                "HTTP {status} with a body larger than {MAX_BODY} bytes"
            )));
        }
        body.extend_from_slice(&chunk);
    }
    Ok((status, body))
}

fn error_from(status: u16, body: &[u8]) -> PortalError {
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => PortalError::Refused {
            status,
            code: PortalErrorCode::parse(&sanitize(&e.error, None, 64)),
            message: sanitize(&e.message, None, MAX_QUOTE),
        },
        Err(_) => unexpected_status(status, body),
    }
}

fn unexpected_status(status: u16, body: &[u8]) -> PortalError {
    let text = sanitize(&String::from_utf8_lossy(body), None, MAX_QUOTE);
    if (400..500).contains(&status) {
        PortalError::Refused {
            status,
            code: PortalErrorCode::Other(format!("http_{status}")),
            message: text,
        }
    } else {
        PortalError::Protocol(format!("HTTP {status}: {text}"))
    }
}

/// The DC name is passed to `net -S` / Netlogon: accept host names and IP addresses only.
pub fn validate_dc(dc: &str) -> Result<(), PortalError> {
    let ok = !dc.is_empty()
        && dc.len() <= 255
        && !dc.starts_with(['-', '.'])
        && dc
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if ok {
        Ok(())
    } else {
        Err(PortalError::Protocol(format!(
            "the portal named an invalid domain controller {:?}",
            sanitize(dc, None, 80)
        )))
    }
}

fn transport(e: &reqwest::Error) -> PortalError {
    let what = if e.is_timeout() {
        format!("no answer within {} s ({})", TIMEOUT.as_secs(), chain(e))
    } else {
        chain(e)
    };
    PortalError::Transport(what)
}

/// An error with its sources, `a: b: c` (reqwest's own Display hides the TLS reason).
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    sanitize(&out, None, 400)
}

#[cfg(test)]
mod tests {
    use super::*;
    use trustdesk_token::RedeemCode;

    #[test]
    fn error_bodies_are_parsed() {
        let e = error_from(
            410,
            br#"{"error":"expired","message":"token expired at 12:00"}"#,
        );
        assert_eq!(e.redeem_exit_code(), ExitCode::PortalRefused);
        match e {
            PortalError::Refused {
                status,
                code,
                message,
            } => {
                assert_eq!(status, 410);
                assert_eq!(code, PortalErrorCode::Known(RedeemCode::Expired));
                assert_eq!(message, "token expired at 12:00");
            }
            other => panic!("{other:?}"),
        }
        let e = error_from(502, br#"{"error":"dc_write_failed","message":"LDAP 53"}"#);
        assert_eq!(e.redeem_exit_code(), ExitCode::PortalUnavailable);
        let e = error_from(502, b"<html>Bad Gateway</html>");
        assert!(matches!(e, PortalError::Protocol(_)));
        assert_eq!(e.redeem_exit_code(), ExitCode::PortalUnavailable);
        let e = error_from(404, b"not found");
        assert_eq!(e.redeem_exit_code(), ExitCode::PortalRefused);
        assert_eq!(
            PortalError::Transport("x".into()).redeem_exit_code(),
            ExitCode::PortalUnavailable
        );
        assert_eq!(
            PortalError::Setup("x".into()).redeem_exit_code(),
            ExitCode::Usage
        );
    }

    #[test]
    fn a_codes_answer_is_the_token_or_the_refusal() {
        let token = token_from(200, br#"{"token":"td1.eyJ2IjoxfQ.c2ln"}"#).unwrap();
        assert_eq!(token.as_str(), "td1.eyJ2IjoxfQ.c2ln");
        // Taken as it came: verifying it is the flow's job, not the HTTP client's.
        assert_eq!(
            token_from(200, br#"{"token":"garbage","extra":1}"#)
                .unwrap()
                .as_str(),
            "garbage"
        );
        for (status, body, exit) in [
            (
                404,
                &br#"{"error":"unknown_code","message":"no such code"}"#[..],
                ExitCode::PortalRefused,
            ),
            (
                400,
                br#"{"error":"malformed","message":"bad code"}"#,
                ExitCode::PortalRefused,
            ),
            (
                429,
                br#"{"error":"rate_limited","message":"slow down"}"#,
                ExitCode::PortalUnavailable,
            ),
            (
                503,
                br#"{"error":"unavailable","message":"paused"}"#,
                ExitCode::PortalUnavailable,
            ),
            (
                502,
                b"<html>Bad Gateway</html>",
                ExitCode::PortalUnavailable,
            ),
        ] {
            let e = token_from(status, body).unwrap_err();
            assert_eq!(e.redeem_exit_code(), exit, "{status} {e}");
        }
        let e = token_from(404, br#"{"error":"unknown_code","message":"m"}"#).unwrap_err();
        assert!(
            matches!(&e, PortalError::Refused { code, .. }
                if *code == PortalErrorCode::Known(RedeemCode::UnknownCode)),
            "{e:?}"
        );
        // A 200 that is not {"token": "…"} is a protocol error that does not quote the body.
        for body in [
            &b"td1.secret"[..],
            br#""td1.secret""#,
            br#"{"token":5}"#,
            br#"{"tok":"td1.secret"}"#,
        ] {
            let e = token_from(200, body).unwrap_err();
            assert!(matches!(e, PortalError::Protocol(_)), "{e:?}");
            assert!(!e.to_string().contains("secret"), "{e}");
            assert_eq!(e.redeem_exit_code(), ExitCode::PortalUnavailable);
        }
    }

    #[test]
    fn dc_names_are_checked() {
        for ok in [
            "dc1.lab.example.test",
            "DC1",
            "127.0.0.2",
            "dc_1.corp",
            "::1",
        ] {
            assert!(validate_dc(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "-S",
            "--option=x",
            "dc1 lab",
            "dc1;rm",
            "dc1/x",
            ".dc",
            "dc\n1",
        ] {
            assert!(validate_dc(bad).is_err(), "{bad:?}");
        }
        assert!(validate_dc(&"a".repeat(256)).is_err());
    }

    #[test]
    fn outcome_report_shape() {
        let json = serde_json::to_value(OutcomeReport {
            token: "td1.x.y",
            outcome: Outcome::Failed,
            step: "store_secret",
            detail: "boom",
        })
        .unwrap();
        assert_eq!(
            json,
            serde_json::json!({"token": "td1.x.y", "outcome": "failed", "step": "store_secret", "detail": "boom"})
        );
    }
}

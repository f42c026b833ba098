//! A minimal HTTPS portal: HTTP/1.1 over tokio-rustls with the test certificate, answering
//! /healthz, /api/v1/redeem, /api/v1/redeem/outcome and /api/v1/redeem/code from a script. It
//! records requests.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

pub const CA_PEM: &[u8] = include_bytes!("../../testdata/tls/ca.pem");
const CERT_PEM: &[u8] = include_bytes!("../../testdata/tls/server.pem");
const KEY_PEM: &[u8] = include_bytes!("../../testdata/tls/server.key");

/// One recorded request.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    pub path: String,
    pub body: serde_json::Value,
}

/// What the fake answers to a redeem.
#[derive(Clone, Debug)]
pub enum RedeemAnswer {
    Ok { dc: String, computer: String },
    Error { status: u16, code: String },
    Redirect,
}

/// What the fake answers to a short repair code.
#[derive(Clone, Debug)]
pub enum CodeAnswer {
    Token(String),
    Error { status: u16, code: String },
}

pub struct FakePortal {
    pub addr: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    /// The answer to a code (settable once the URL, which tokens name, is known).
    code: Arc<Mutex<CodeAnswer>>,
}

impl FakePortal {
    pub fn url(&self) -> String {
        format!("https://127.0.0.1:{}", self.addr.port())
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    /// From now on, answers a code with `answer`.
    pub fn answer_code(&self, answer: CodeAnswer) {
        *self.code.lock().unwrap() = answer;
    }

    /// Starts the server on 127.0.0.1 (port 0) in a background thread. It answers every
    /// code with `unknown_code` until told otherwise ([`FakePortal::answer_code`]).
    pub fn start(redeem: RedeemAnswer) -> FakePortal {
        let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(CERT_PEM)
            .collect::<Result<_, _>>()
            .unwrap();
        let key = PrivateKeyDer::from_pem_slice(KEY_PEM).unwrap();
        let config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .unwrap();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.set_nonblocking(true).unwrap();
        let addr = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let seen2 = Arc::clone(&seen);
        let code = Arc::new(Mutex::new(CodeAnswer::Error {
            status: 404,
            code: "unknown_code".into(),
        }));
        let code2 = Arc::clone(&code);
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let Ok((tcp, _)) = listener.accept().await else {
                        continue;
                    };
                    let acceptor = acceptor.clone();
                    let seen = Arc::clone(&seen2);
                    let redeem = redeem.clone();
                    let code = code2.lock().unwrap().clone();
                    tokio::spawn(async move {
                        // Clients that reject our certificate abort the handshake: ignore.
                        if let Ok(tls) = acceptor.accept(tcp).await {
                            let _ = serve(tls, &seen, &redeem, &code).await;
                        }
                    });
                }
            });
        });
        FakePortal { addr, seen, code }
    }
}

async fn serve<S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin>(
    mut stream: S,
    seen: &Mutex<Vec<Seen>>,
    redeem: &RedeemAnswer,
    code: &CodeAnswer,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let header_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(pos) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break pos + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..header_end]).into_owned();
    let mut lines = head.lines();
    let mut first = lines.next().unwrap_or("").split_whitespace();
    let method = first.next().unwrap_or("").to_owned();
    let path = first.next().unwrap_or("").to_owned();
    let length: usize = lines
        .filter_map(|l| l.split_once(':'))
        .find(|(k, _)| k.eq_ignore_ascii_case("content-length"))
        .and_then(|(_, v)| v.trim().parse().ok())
        .unwrap_or(0);
    while buf.len() < header_end + length {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body: serde_json::Value =
        serde_json::from_slice(&buf[header_end..]).unwrap_or(serde_json::Value::Null);
    seen.lock().unwrap().push(Seen {
        method: method.clone(),
        path: path.clone(),
        body: body.clone(),
    });

    let (status, extra, payload): (u16, &str, String) = match (method.as_str(), path.as_str()) {
        // RFC 9110's own example of an HTTP date, as a real server sends it.
        ("GET", "/healthz") => (200, "Date: Sun, 06 Nov 1994 08:49:37 GMT\r\n", "ok".into()),
        ("POST", "/api/v1/redeem") => match redeem {
            RedeemAnswer::Ok { dc, computer } => (
                200,
                "",
                serde_json::json!({"dc": dc, "computer": computer}).to_string(),
            ),
            RedeemAnswer::Error { status, code } => (
                *status,
                "",
                serde_json::json!({"error": code, "message": format!("fake portal: {code}")})
                    .to_string(),
            ),
            RedeemAnswer::Redirect => (
                302,
                "Location: https://elsewhere.example.test/api/v1/redeem\r\n",
                String::new(),
            ),
        },
        ("POST", "/api/v1/redeem/code") => match code {
            CodeAnswer::Token(token) => (200, "", serde_json::json!({"token": token}).to_string()),
            CodeAnswer::Error { status, code } => (
                *status,
                "",
                serde_json::json!({"error": code, "message": format!("fake portal: {code}")})
                    .to_string(),
            ),
        },
        ("POST", "/api/v1/redeem/outcome") => (
            200,
            "",
            serde_json::json!({"state": body["outcome"]}).to_string(),
        ),
        _ => (404, "", "not found".into()),
    };
    let response = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n{extra}Content-Length: {}\r\n\
         Connection: close\r\n\r\n{payload}",
        payload.len()
    );
    stream.write_all(response.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

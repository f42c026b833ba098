//! A TLS-terminating reverse proxy in front of the portal, as production would have — and a
//! tap: it records the bodies of redeem requests, i.e. what crossed the network, so the
//! end-to-end test can prove the password that travelled no longer works.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::response::Response;

/// A throwaway CA and a server certificate for 127.0.0.1, made with the openssl CLI.
pub fn test_pki(dir: &Path) -> (PathBuf, PathBuf, PathBuf) {
    let run = |args: &[&str]| {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    run(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=trustdesk test CA",
        "-addext",
        "basicConstraints=critical,CA:TRUE",
        "-addext",
        "keyUsage=critical,keyCertSign",
        "-keyout",
        "ca.key",
        "-out",
        "ca.pem",
    ]);
    run(&[
        "req",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:P-256",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
    ]);
    std::fs::write(
        dir.join("server.ext"),
        "subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "server.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        "server.ext",
        "-out",
        "server.pem",
    ]);
    (
        dir.join("ca.pem"),
        dir.join("server.pem"),
        dir.join("server.key"),
    )
}

#[derive(Clone)]
struct Tap {
    upstream: String,
    client: reqwest::Client,
    redeems: Arc<Mutex<Vec<String>>>,
}

async fn forward(State(tap): State<Tap>, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    if parts.uri.path() == "/api/v1/redeem" {
        tap.redeems
            .lock()
            .unwrap()
            .push(String::from_utf8_lossy(&bytes).into_owned());
    }
    let url = format!(
        "{}{}",
        tap.upstream,
        parts
            .uri
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/")
    );
    let mut out = tap.client.request(parts.method, url);
    for (k, v) in &parts.headers {
        out = out.header(k, v);
    }
    let resp = match out.body(bytes).send().await {
        Ok(r) => r,
        Err(e) => {
            return Response::builder()
                .status(502)
                .body(Body::from(e.to_string()))
                .unwrap();
        }
    };
    let mut b = Response::builder().status(resp.status());
    for (k, v) in resp.headers() {
        if k != "transfer-encoding" && k != "content-length" {
            b = b.header(k, v);
        }
    }
    b.body(Body::from(resp.bytes().await.unwrap_or_default()))
        .unwrap()
}

/// Start the proxy on a free port with `cert`/`key`, forwarding to `upstream` (Host and
/// Origin unchanged). Returns its https base URL and the recorded redeem bodies.
pub async fn start(upstream: String, cert: &Path, key: &Path) -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let base = format!("https://{}", listener.local_addr().unwrap());
    let redeems = Arc::new(Mutex::new(Vec::new()));
    let tap = Tap {
        upstream,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        redeems: redeems.clone(),
    };
    let app = axum::Router::new().fallback(forward).with_state(tap);
    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(cert, key)
        .await
        .unwrap();
    let server = axum_server::from_tcp_rustls(listener, config).unwrap();
    tokio::spawn(server.serve(app.into_make_service()));
    (base, redeems)
}

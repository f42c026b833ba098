//! The portal behind a real reverse proxy: Debian's nginx (the one the lab installs for
//! LemonLDAP::NG), on loopback, started by the test with its own configuration. Workstations
//! are loopback addresses the client binds (127.0.2.2, 127.0.2.3, …).
//!
//! nginx is configured as its documentation describes for passing the client address on
//! (ngx_http_proxy_module, `proxy_set_header`:
//! <https://nginx.org/en/docs/http/ngx_http_proxy_module.html#proxy_set_header>, and the
//! embedded variable `$proxy_add_x_forwarded_for`: "the X-Forwarded-For client request header
//! field with the $remote_addr variable appended to it, separated by a comma"), and it sets
//! its own request id (`$request_id`, ngx_http_core_module: "unique request identifier
//! generated from 16 random bytes, in hexadecimal").

use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{install_crypto, lab, start_portal_with};

/// nginx in the foreground, killed when dropped.
struct Nginx {
    base: String,
    child: Child,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Start nginx on a free loopback port, proxying everything to `upstream` (`host:port`).
async fn nginx(dir: &Path, upstream: &str) -> Nginx {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let d = dir.display();
    let conf = format!(
        r#"daemon off;
master_process off;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://{upstream};
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Request-Id $request_id;
        }}
    }}
}}
"#
    );
    let path = dir.join("nginx.conf");
    std::fs::write(&path, conf).unwrap();
    let child = Command::new("nginx")
        .arg("-c")
        .arg(&path)
        .arg("-e")
        .arg(dir.join("error.log"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("nginx (installed by lab/install.sh)");
    let ngx = Nginx {
        base: format!("http://127.0.0.1:{port}"),
        child,
    };
    for _ in 0..100 {
        if tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .is_ok()
        {
            return ngx;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!(
        "nginx did not start: {}",
        std::fs::read_to_string(dir.join("error.log")).unwrap_or_default()
    );
}

/// A workstation: an HTTP client whose connections come from `addr`.
fn workstation(addr: &str) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(addr.parse::<IpAddr>().unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// A redeem with a token that is not one: refused by the handler (4xx), or 429 by the limit.
async fn redeem(c: &reqwest::Client, base: &str, forwarded_for: Option<&str>) -> u16 {
    let mut req = c
        .post(format!("{base}/api/v1/redeem"))
        .json(&serde_json::json!({"token": "td1.not-a-token", "password": "x"}));
    if let Some(xff) = forwarded_for {
        req = req.header("x-forwarded-for", xff);
    }
    req.send().await.unwrap().status().as_u16()
}

const LIMITS: &str = "\n[limits]\nredeem_burst = 3\nredeem_refill_secs = 3600\n";

/// Through the proxy, each workstation has its own redeem bucket, a forged `X-Forwarded-For`
/// does not buy a fresh one, refusals are audited as counts under the workstation's address,
/// and the request id is the proxy's, never the client's.
#[tokio::test]
#[ignore = "needs the lab"]
async fn behind_nginx_two_workstations_have_separate_redeem_buckets() {
    install_crypto();
    let lab = lab();
    let p = start_portal_with(&lab, "trusted_proxies = [\"127.0.0.1/32\"]", LIMITS, false).await;
    let dir = tempfile::tempdir().unwrap();
    let ngx = nginx(dir.path(), p.base.trim_start_matches("http://")).await;
    let (a, b) = (workstation("127.0.2.2"), workstation("127.0.2.3"));

    for i in 0..3 {
        assert_ne!(redeem(&a, &ngx.base, None).await, 429, "attempt {i}");
    }
    assert_eq!(
        redeem(&a, &ngx.base, None).await,
        429,
        "A's bucket is empty"
    );
    // nginx appends the real address to A's own header: still A.
    assert_eq!(redeem(&a, &ngx.base, Some("198.51.100.77")).await, 429);
    // The old keying (the TCP peer: nginx, for everyone) would refuse B here.
    assert_ne!(
        redeem(&b, &ngx.base, None).await,
        429,
        "B has a bucket of its own"
    );

    // Two refusals from A: the first is audited, with the count, under A's address.
    let rows = p.state.store.audit_recent(50).await.unwrap();
    let limited: Vec<_> = rows
        .iter()
        .filter(|r| {
            r.event.action == "redeem_token"
                && r.event
                    .reason
                    .as_deref()
                    .unwrap_or("")
                    .starts_with("rate_limited")
        })
        .collect();
    assert_eq!(limited.len(), 1, "{limited:?}");
    assert_eq!(limited[0].event.source_ip.as_deref(), Some("127.0.2.2"));
    assert!(
        limited[0]
            .event
            .reason
            .as_deref()
            .unwrap()
            .contains("1 request(s) refused by the rate limit from 127.0.2.2"),
        "{limited:?}"
    );

    // L-7: through the proxy the id is nginx's ($request_id, 32 hex digits); directly from a
    // workstation a chosen id is replaced by the portal's own.
    let r = a
        .get(format!("{}/healthz", ngx.base))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 32, "{id}");
    assert!(id.bytes().all(|b| b.is_ascii_hexdigit()), "{id}");
    let r = a
        .get(format!("{}/healthz", p.base))
        .header("x-request-id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    let id = r.headers()["x-request-id"].to_str().unwrap();
    assert_ne!(id, "chosen-by-the-client");
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
}

/// The control: when the portal does not trust the proxy, the peer is all it can go by, and
/// every workstation behind nginx shares one bucket (what the old keying did even with
/// `trusted_proxies` set).
#[tokio::test]
#[ignore = "needs the lab"]
async fn an_untrusted_proxy_makes_one_bucket_for_everyone_behind_it() {
    install_crypto();
    let lab = lab();
    let p = start_portal_with(&lab, "", LIMITS, false).await;
    let dir = tempfile::tempdir().unwrap();
    let ngx = nginx(dir.path(), p.base.trim_start_matches("http://")).await;
    let (a, b) = (workstation("127.0.2.4"), workstation("127.0.2.5"));
    for _ in 0..3 {
        assert_ne!(redeem(&a, &ngx.base, None).await, 429);
    }
    assert_eq!(redeem(&b, &ngx.base, None).await, 429);
}

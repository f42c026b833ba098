//! The HTTP skeleton, served on a real port: health and readiness against the lab DC,
//! headers, metrics. What needs no DC (readiness with none answering, error pages with the
//! request id, cross-site POST refused, headers, metrics) is tested in-process in `web/`.

use tokio::net::TcpListener;

use crate::common::{config_toml, install_crypto, lab, load_config};

/// Build the portal from `toml` and serve it on a free loopback port.
async fn spawn(dir: &std::path::Path, toml: &str) -> String {
    let cfg = load_config(dir, toml);
    let state = trustdesk::build(cfg).await.unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(trustdesk::serve(listener, state));
    format!("http://{addr}")
}

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn readyz_is_200_against_the_lab_dc_and_pages_carry_security_headers() {
    install_crypto();
    let lab = lab();
    let dir = tempfile::tempdir().unwrap();
    let base = spawn(
        dir.path(),
        &config_toml(dir.path(), &[&lab.ldaps_url], &lab.ca, &lab),
    )
    .await;
    let c = client();

    let r = c.get(format!("{base}/healthz")).send().await.unwrap();
    assert_eq!(r.status(), 200);

    let r = c.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let body: serde_json::Value = r.json().await.unwrap();
    assert_eq!(body["database"], "ok");
    assert_eq!(body["directory"]["status"], "ok");

    let r = c.get(format!("{base}/")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let h = r.headers();
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    assert_eq!(h["x-content-type-options"], "nosniff");
    assert_eq!(h["x-frame-options"], "DENY");
    assert!(h.get("x-request-id").is_some());
    assert!(
        h.get("strict-transport-security").is_none(),
        "no HSTS on an http:// public URL"
    );

    let css = c
        .get(format!("{base}/static/trustdesk.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), 200);

    let spec: serde_json::Value = c
        .get(format!("{base}/api/v1/openapi.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(spec["openapi"], "3.1.0");
    assert!(spec["paths"]["/api/v1/computers/{name}"].is_object());

    assert!(
        !body.to_string().contains(&lab.ldaps_url),
        "readiness does not name the DC: {body}"
    );
    assert!(
        crate::common::metrics_text(&base)
            .await
            .contains("trustdesk_http_requests_total")
    );
    // Without the monitoring system's token, /metrics does not exist (security review L-5).
    let r = c.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 404);
    let r = c
        .get(format!("{base}/metrics"))
        .bearer_auth("not-the-token")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
}

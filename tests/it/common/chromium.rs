//! Headless Chromium for the lab tests: chromedriver in a process group of its own, a session
//! per test with its own profile, waiting for an element, signing in through the portal's
//! link and the provider's form, and where screenshots go.

use std::time::Duration;

use fantoccini::{ClientBuilder, Locator};

/// chromedriver on a free port, in a process group of its own. Dropping it kills the whole
/// group, so the Chromium it started dies with it even when a test panics before closing its
/// session; the browser profiles are removed after.
pub struct Driver {
    url: String,
    child: tokio::process::Child,
    /// The browser profiles of its sessions, removed when it is dropped.
    pub profiles: std::sync::Mutex<Vec<tempfile::TempDir>>,
}

impl Drop for Driver {
    fn drop(&mut self) {
        if let Some(pid) = self.child.id() {
            // Our own group (process_group(0) below): chromedriver and every Chromium
            // process it started, and nothing else.
            let _ = std::process::Command::new("kill")
                .args(["-KILL", "--", &format!("-{pid}")])
                .status();
        }
    }
}

pub async fn chromedriver() -> Driver {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = tokio::process::Command::new("chromedriver")
        .arg(format!("--port={port}"))
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .expect("chromedriver must be installed (lab/install.sh)");
    let url = format!("http://127.0.0.1:{port}");
    let driver = Driver {
        url,
        child,
        profiles: Default::default(),
    };
    for _ in 0..100 {
        if reqwest::get(format!("{}/status", driver.url)).await.is_ok() {
            return driver;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("chromedriver did not start");
}

pub async fn browser_session(driver: &Driver) -> fantoccini::Client {
    let profile = tempfile::tempdir().unwrap();
    let caps = serde_json::json!({
        "goog:chromeOptions": {
            "binary": "/usr/bin/chromium",
            "args": [
                "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                "--disable-background-networking", "--disable-component-update", "--disable-sync",
                "--no-first-run", "--disable-quic", "--disable-default-apps", "--disable-extensions",
                format!("--user-data-dir={}", profile.path().display()), "--window-size=1280,1600"
            ]
        }
    });
    driver.profiles.lock().unwrap().push(profile);
    let serde_json::Value::Object(caps) = caps else {
        unreachable!()
    };
    ClientBuilder::rustls()
        .unwrap()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .unwrap()
}

/// Wait (fantoccini's default: 30 s) for the element with `id`. When it does not come, the
/// panic says what the browser shows instead (address and page text), and a screenshot is
/// saved as `tests/artifacts/missing-<id>.png`. A search that a navigation cut short
/// (chromedriver answers "aborted by navigation" while a redirect chain, such as a sign-out
/// through the provider, is still under way) is asked again on the next page.
pub async fn wait_for_id(b: &fantoccini::Client, id: &str) -> fantoccini::elements::Element {
    let since = std::time::Instant::now();
    let found = loop {
        match b.wait().for_element(Locator::Id(id)).await {
            Err(e)
                if e.to_string().contains("aborted by navigation")
                    && since.elapsed() < std::time::Duration::from_secs(30) =>
            {
                continue;
            }
            other => break other,
        }
    };
    match found {
        Ok(element) => element,
        Err(e) => {
            let url = b
                .current_url()
                .await
                .map(|u| u.to_string())
                .unwrap_or_default();
            let text = match b.find(Locator::Css("body")).await {
                Ok(body) => body.text().await.unwrap_or_default(),
                Err(_) => String::new(),
            };
            if let Ok(png) = b.screenshot().await {
                let _ = std::fs::write(artifact(&format!("missing-{id}.png")), png);
            }
            let text: String = text.chars().take(2000).collect();
            panic!("#{id} did not appear ({e}); the browser shows {url}:\n{text}");
        }
    }
}

/// Sign in through the portal's link and the provider's form, in the browser.
pub async fn browser_sign_in(b: &fantoccini::Client, base: &str, user: &str, password: &str) {
    b.goto(base).await.unwrap();
    b.find(Locator::Id("login"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let form = b.form(Locator::Css("form")).await.unwrap();
    form.set_by_name("login", user).await.unwrap();
    form.set_by_name("password", password).await.unwrap();
    form.submit().await.unwrap();
    wait_for_id(b, "whoami").await;
}

/// Where a test saves what it shows (screenshots, logs): `tests/artifacts/`.
pub fn artifact(name: &str) -> std::path::PathBuf {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/artifacts");
    std::fs::create_dir_all(&dir).unwrap();
    dir.join(name)
}

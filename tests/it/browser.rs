//! Headless Chromium through chromedriver: sign in at the real OIDC provider, look a computer
//! up, read its diagnosis. Saves a screenshot to `tests/artifacts/`.

use std::time::Duration;

use fantoccini::Locator;

use crate::common::chromium::{
    artifact, browser_session, browser_sign_in, chromedriver, wait_for_id,
};
use crate::common::{install_crypto, lab, start_portal};

#[tokio::test]
#[ignore = "needs the lab"]
async fn chromium_signs_in_looks_up_and_reads_the_diagnosis() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let driver = chromedriver().await;
    let b = browser_session(&driver).await;

    browser_sign_in(&b, &p.base, "alice", "alice-pw").await;
    let who = b
        .find(Locator::Id("whoami"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(who.contains("Alice Senior"), "{who}");

    // Look up by prefix: the list, then the diagnosis of one match.
    let q = b.find(Locator::Id("q")).await.unwrap();
    q.send_keys("PAR-WS").await.unwrap();
    b.form(Locator::Css("main form[role=search]"))
        .await
        .unwrap()
        .submit()
        .await
        .unwrap();
    wait_for_id(&b, "matches").await;
    b.find(Locator::LinkText("PAR-WS001"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let cause = wait_for_id(&b, "top-cause").await.text().await.unwrap();
    // The verdict in plain words comes first; the cause code is small print.
    let headline = wait_for_id(&b, "headline").await.text().await.unwrap();
    assert!(
        !headline.is_empty() && !headline.contains('_'),
        "{headline}"
    );
    let name = b
        .find(Locator::Id("computer-name"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(name, "PAR-WS001");
    assert!(!cause.is_empty());
    let findings = b
        .find(Locator::Id("findings"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(!findings.is_empty());
    b.find(Locator::Id("per-dc")).await.unwrap();
    let png = b.screenshot().await.unwrap();
    std::fs::write(artifact("diagnosis.png"), png).unwrap();
    b.close().await.unwrap();
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn chromium_auditor_filters_the_log_and_exports_csv() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let driver = chromedriver().await;
    let b = browser_session(&driver).await;

    browser_sign_in(&b, &p.base, "carol", "carol-pw").await;
    let audit_link = wait_for_id(&b, "audit-link").await;
    assert!(
        b.find(Locator::Id("q")).await.is_err(),
        "an auditor gets no computer lookup"
    );
    audit_link.click().await.unwrap();
    wait_for_id(&b, "filter").await;
    let head = b
        .find(Locator::Id("head-hash"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(head.len(), 64, "the chain head is shown");

    let filter = b.form(Locator::Id("filter")).await.unwrap();
    filter.set_by_name("action", "sign_in").await.unwrap();
    filter.set_by_name("actor", "carol").await.unwrap();
    filter.submit().await.unwrap();
    // The filtered page replaces the one whose table has the same id: wait for its address.
    for _ in 0..300 {
        let at = b.current_url().await.unwrap();
        if at.query().is_some_and(|q| q.contains("action=sign_in")) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let table = wait_for_id(&b, "audit-rows").await.text().await.unwrap();
    assert!(
        table.contains("sign_in") && table.contains("Carol Auditor"),
        "{table}"
    );
    assert!(
        !table.contains("config_load"),
        "the filter applies: {table}"
    );
    let png = b.screenshot().await.unwrap();
    std::fs::write(artifact("audit.png"), png).unwrap();

    // The export link carries the filter; fetch it with the browser's session cookie.
    let href = b
        .find(Locator::Id("export-csv"))
        .await
        .unwrap()
        .attr("href")
        .await
        .unwrap()
        .unwrap();
    assert!(href.contains("action=sign_in"), "{href}");
    let cookie = b.get_named_cookie("td_session").await.unwrap();
    let csv = reqwest::Client::new()
        .get(format!("{}{href}", p.base))
        .header("cookie", format!("td_session={}", cookie.value()))
        .send()
        .await
        .unwrap();
    assert_eq!(csv.status(), 200);
    assert!(
        csv.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/csv")
    );
    let body = csv.text().await.unwrap();
    let mut lines = body.lines();
    assert!(lines.next().unwrap().starts_with("seq,at,actor_sub"));
    let rows: Vec<&str> = lines.collect();
    assert!(
        !rows.is_empty() && rows.iter().all(|l| l.contains("\"sign_in\"")),
        "{body}"
    );
    b.close().await.unwrap();
    // The export itself is audited.
    let recent = p.state.store.audit_recent(3).await.unwrap();
    assert!(
        recent
            .iter()
            .any(|r| r.event.action == "export_audit"
                && r.event.actor_sub.as_deref() == Some("carol"))
    );
}

/// A test that fails before closing its browser session still leaves no Chromium behind.
#[tokio::test]
#[ignore = "needs Chromium"]
async fn dropping_the_driver_ends_its_chromium() {
    install_crypto();
    let driver = chromedriver().await;
    let b = browser_session(&driver).await;
    b.goto("about:blank").await.unwrap();
    let profile = driver.profiles.lock().unwrap()[0]
        .path()
        .display()
        .to_string();
    let running = |needle: &str| {
        std::fs::read_dir("/proc")
            .unwrap()
            .filter_map(|e| std::fs::read(e.ok()?.path().join("cmdline")).ok())
            .filter(|c| String::from_utf8_lossy(c).contains(needle))
            .count()
    };
    assert!(running(&profile) > 0, "Chromium runs with {profile}");
    drop(b); // never closed, as after a panic
    drop(driver);
    let mut left = usize::MAX;
    for _ in 0..50 {
        left = running(&profile);
        if left == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(left, 0, "no Chromium process is left");
    assert!(!std::path::Path::new(&profile).exists(), "profile removed");
}

/// A shared helpdesk PC: every page is `Cache-Control: no-store` (static assets aside), so
/// Forward after a mint does not show the token again and Back after sign-out does not show
/// the signed-in pages: the browser has to ask the portal, which no longer knows the session.
#[tokio::test]
#[ignore = "needs the lab"]
async fn forward_after_a_mint_and_back_after_sign_out_show_nothing_signed_in() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let http = reqwest::Client::new();
    for (path, want) in [("/", Some("no-store")), ("/static/copy.js", None)] {
        let r = http.get(format!("{}{path}", p.base)).send().await.unwrap();
        let got = r
            .headers()
            .get("cache-control")
            .map(|v| v.to_str().unwrap().to_string());
        assert_eq!(got.as_deref(), want, "{path}");
    }

    let driver = chromedriver().await;
    let b = browser_session(&driver).await;
    browser_sign_in(&b, &p.base, "alice", "alice-pw").await;
    b.goto(&format!("{}/computers/PAR-WS001", p.base))
        .await
        .unwrap();
    wait_for_id(&b, "mint").await.click().await.unwrap();
    let token = wait_for_id(&b, "token")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(token.starts_with("td1."), "{token}");

    // Back to the computer page, then Forward: the token page is not shown again.
    b.back().await.unwrap();
    wait_for_id(&b, "computer-name").await;
    b.forward().await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let source = b.source().await.unwrap();
    assert!(!source.contains(&token), "Forward showed the token again");
    std::fs::write(
        artifact("forward-after-mint.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();

    // Sign out, then Back: no signed-in page, no name, no token.
    b.goto(&format!("{}/computers/PAR-WS001", p.base))
        .await
        .unwrap();
    wait_for_id(&b, "logout").await.click().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    b.back().await.unwrap();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    let source = b.source().await.unwrap();
    let url = b.current_url().await.unwrap();
    assert!(
        !source.contains("Alice Senior") && !source.contains("id=\"computer-name\""),
        "Back after sign-out showed a signed-in page ({url})"
    );
    std::fs::write(
        artifact("back-after-sign-out.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    b.close().await.unwrap();
}

/// Four eyes in the browser: a junior asks for a token for a server, a senior finds the
/// request in the approvals queue (linked from the navigation) and approves it, and the junior
/// collects the token, once.
#[tokio::test]
#[ignore = "needs the lab"]
async fn chromium_a_juniors_request_is_approved_from_the_seniors_queue() {
    install_crypto();
    let lab = lab();
    let p = crate::common::start_portal_roles(&lab, "", &crate::approvals_lab::roles(&lab.base_dn))
        .await;
    let senior_api = crate::approvals_lab::caller(&p, "browser-senior", "senior").await;
    const NAME: &str = "T-BROWSE";
    crate::approvals_lab::server(&lab, &p, &senior_api, NAME).await;
    let driver = chromedriver().await;

    // The junior (bob) asks: the page offers a request, not a mint.
    let b = browser_session(&driver).await;
    browser_sign_in(&b, &p.base, "bob", "bob-pw").await;
    b.goto(&format!("{}/computers/{NAME}", p.base))
        .await
        .unwrap();
    assert!(b.find(Locator::Id("mint")).await.is_err(), "no mint button");
    wait_for_id(&b, "ask-mint-ticket")
        .await
        .send_keys("INC0777")
        .await
        .unwrap();
    wait_for_id(&b, "ask-mint").await.click().await.unwrap();
    let queue = wait_for_id(&b, "approvals").await.text().await.unwrap();
    assert!(queue.contains(NAME) && queue.contains("pending"), "{queue}");
    let request = b.current_url().await.unwrap().to_string();
    assert!(request.contains("/approvals/"), "{request}");
    assert!(
        b.find(Locator::Css("button.approve")).await.is_err(),
        "not their own"
    );
    std::fs::write(
        artifact("approval-requested.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    b.close().await.unwrap();

    // The senior (alice) finds it in the queue and approves.
    let a = browser_session(&driver).await;
    browser_sign_in(&a, &p.base, "alice", "alice-pw").await;
    wait_for_id(&a, "nav-approvals")
        .await
        .click()
        .await
        .unwrap();
    wait_for_id(&a, "approvals").await;
    let id = request.rsplit('/').next().unwrap();
    let row = format!("approval-{id}");
    let line = wait_for_id(&a, &row).await;
    assert!(line.text().await.unwrap().contains("INC0777"));
    std::fs::write(
        artifact("approval-queue.png"),
        a.screenshot().await.unwrap(),
    )
    .unwrap();
    line.find(Locator::Css("button.approve"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let decided = wait_for_id(&a, &row).await.text().await.unwrap();
    assert!(
        decided.contains("approved") && decided.contains("Alice"),
        "{decided}"
    );
    a.close().await.unwrap();

    // The junior collects the token, once.
    let b = browser_session(&driver).await;
    browser_sign_in(&b, &p.base, "bob", "bob-pw").await;
    b.goto(&request).await.unwrap();
    wait_for_id(&b, &row)
        .await
        .find(Locator::Css("button.collect"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let token = wait_for_id(&b, "token")
        .await
        .prop("value")
        .await
        .unwrap()
        .unwrap_or_default();
    assert!(token.starts_with("td1."), "{token}");
    std::fs::write(
        artifact("approval-collected.png"),
        b.screenshot().await.unwrap(),
    )
    .unwrap();
    b.goto(&request).await.unwrap();
    let used = wait_for_id(&b, &row).await.text().await.unwrap();
    assert!(used.contains("used"), "{used}");
    assert!(
        b.find(Locator::Css("button.collect")).await.is_err(),
        "shown once"
    );
    b.close().await.unwrap();
}

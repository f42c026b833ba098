//! Accessibility: axe-core (npm, pinned in `tests/axe/package.json`, installed by
//! `lab/install.sh`) runs in headless Chromium on the main pages, as each role sees them, and
//! finds no serious or critical violation (axe's own impact levels; its WCAG 2.x A/AA rules
//! and best practices, as `axe.run` does by default).

use crate::common::chromium::{
    artifact, browser_session, browser_sign_in, chromedriver, wait_for_id,
};
use crate::common::{install_crypto, lab, start_portal};

/// axe-core's browser build.
fn axe_source() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/axe/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "{}: {e}: axe-core is installed by lab/install.sh (npm ci in tests/axe)",
            path.display()
        )
    })
}

/// Run axe on the page `b` shows; the serious and critical violations, one line each.
async fn serious(b: &fantoccini::Client, axe: &str) -> Vec<String> {
    // WebDriver scripts run outside the page's CSP (script-src 'self' would refuse inline).
    b.execute(axe, vec![]).await.unwrap();
    let found = b
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, { resultTypes: ['violations'] })
               .then((r) => done(r.violations.map((v) => ({
                 id: v.id, impact: v.impact, help: v.help,
                 targets: v.nodes.slice(0, 5).map((n) => n.target.join(' ')),
               }))))
               .catch((e) => done([{ id: 'axe-error', impact: 'critical', help: String(e), targets: [] }]));",
            vec![],
        )
        .await
        .unwrap();
    found
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical")))
        .map(|v| {
            format!(
                "{} ({}): {} at {}",
                v["id"], v["impact"], v["help"], v["targets"]
            )
        })
        .collect()
}

/// Go to `path` (waiting for the element `id`), run axe, and collect what it finds.
async fn check(
    b: &fantoccini::Client,
    base: &str,
    path: &str,
    id: &str,
    axe: &str,
    all: &mut Vec<String>,
) {
    if !path.is_empty() {
        b.goto(&format!("{base}{path}")).await.unwrap();
    }
    wait_for_id(b, id).await;
    let found = serious(b, axe).await;
    if !found.is_empty() {
        let shot = format!("axe-{}.png", id.replace(['/', '?', '='], "-"));
        std::fs::write(artifact(&shot), b.screenshot().await.unwrap()).unwrap();
    }
    all.extend(found.into_iter().map(|f| format!("{path} (#{id}): {f}")));
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn axe_finds_no_serious_violation_on_the_main_pages() {
    install_crypto();
    let lab = lab();
    let axe = axe_source();
    let p = start_portal(&lab, "").await;
    let driver = chromedriver().await;
    let mut all = Vec::new();

    // Signed out, then as the senior tech through a repair's pages.
    let b = browser_session(&driver).await;
    check(&b, &p.base, "/", "login", &axe, &mut all).await;
    browser_sign_in(&b, &p.base, "alice", "alice-pw").await;
    for (path, id) in [
        ("/", "q"),
        ("/computers?q=PAR", "nav-q"),
        ("/computers/PAR-WS001", "headline"),
        ("/computers/PAR-WS001/reset", "confirm-verdict"),
        ("/downloads/", "downloads-off"),
        ("/approvals", "no-approvals"),
        ("/computers/NO-SUCH-PC-7", "whoami"),
        ("/no-such-page", "whoami"),
    ] {
        check(&b, &p.base, path, id, &axe, &mut all).await;
    }
    // The token page, reached as a tech does: the mint button on the computer page.
    b.goto(&format!("{}/computers/PAR-WS001", p.base))
        .await
        .unwrap();
    wait_for_id(&b, "mint").await.click().await.unwrap();
    check(&b, &p.base, "", "token-state", &axe, &mut all).await;
    b.close().await.unwrap();

    // The admin's and the auditor's pages.
    let b = browser_session(&driver).await;
    browser_sign_in(&b, &p.base, "erin", "erin-pw").await;
    for (path, id) in [
        ("/audit", "filter"),
        ("/policy", "roles"),
        ("/fleet", "fleet-progress"),
    ] {
        check(&b, &p.base, path, id, &axe, &mut all).await;
    }
    b.close().await.unwrap();
    assert!(
        all.is_empty(),
        "axe-core: serious or critical violations:\n{}",
        all.join("\n")
    );
}

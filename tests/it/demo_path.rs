//! The demo's whole path in headless Chromium, for real: LABWS01 is broken by a DC-side reset,
//! a senior signs in, looks it up, reads the headline, presses the one primary button, and the
//! token page's own Linux commands run on the member (the test runs in the lab's namespace,
//! where `/etc/samba/smb.conf` is LABWS01's) and repair it; the page turns to "completed" by
//! itself. Then the same with the short code in place of the token. The page loads from
//! sign-in to "completed" are counted; screenshots of the computer and token pages are saved
//! in `tests/artifacts/`.

use std::time::Duration;

use fantoccini::Locator;

use crate::common::chromium::{artifact, browser_sign_in, chromedriver, wait_for_id};
use crate::common::csrf;
use crate::common::{Portal, browser_for, causes, install_crypto, lab, sign_in, start_portal_with};
use crate::downloads::{run_block, session_for_front};
use crate::e2e_repair::{
    MEMBER, client_binary, env, member_portal_db, settled_diagnosis, testjoin,
};

/// Break `member` with a DC-side reset through the portal, then wait (as a patient tech
/// would) until the diagnosis has settled and offers the token repair as its primary button.
async fn break_member(c: &reqwest::Client, p: &Portal, member: &str, conf: &str) {
    // A reset right after a repair waits, like the page, for the DCs to agree.
    settled_diagnosis(c, p, member).await;
    let token = csrf(c, &p.base).await;
    let r = c
        .post(format!("{}/computers/{member}/reset", p.base))
        .form(&[("csrf", token.as_str()), ("ticket", "INC-7 demo")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 303, "{}", r.text().await.unwrap());
    assert!(!testjoin(conf), "the reset broke the member's channel");
    let r = settled_diagnosis(c, p, member).await;
    assert!(!causes(&r).contains(&"healthy".to_string()), "{r:#}");
    assert_eq!(
        r["diagnosis"]["verdict"]["primary"]["action"], "token_repair",
        "{r:#}"
    );
}

/// Marks the current document; [`loaded`] tells whether a new one replaced it.
async fn mark(b: &fantoccini::Client) {
    b.execute("window.__tdMark = true;", vec![]).await.unwrap();
}

async fn loaded(b: &fantoccini::Client) -> bool {
    b.execute("return window.__tdMark !== true;", vec![])
        .await
        .unwrap()
        .as_bool()
        .unwrap()
}

/// From a signed-in page: search `member`, press the primary repair; the token page's
/// document, and the page loads it took (each checked to be a new document).
async fn look_up_and_mint(b: &fantoccini::Client, member: &str, shots: Option<&str>) -> u32 {
    let mut loads = 0;
    mark(b).await;
    let q = wait_for_id(b, "q").await;
    q.send_keys(member).await.unwrap();
    q.send_keys("\u{E007}").await.unwrap(); // Enter
    let headline = wait_for_id(b, "headline").await.text().await.unwrap();
    assert!(loaded(b).await);
    loads += 1;
    assert!(
        headline.starts_with("Broken") || headline.contains("changed"),
        "a headline in plain words: {headline:?}"
    );
    let primary = wait_for_id(b, "primary-repair").await;
    assert!(
        primary.text().await.unwrap().contains("token repair"),
        "the primary button is the token repair"
    );
    // The steps' commands are code, each with its copy button.
    let command = b.find(Locator::Css("#steps code.cmd")).await.unwrap();
    assert!(!command.text().await.unwrap().is_empty());
    let copy = b
        .find(Locator::Css("#steps button.copy-small"))
        .await
        .unwrap();
    assert!(
        copy.is_displayed().await.unwrap(),
        "copy.js shows the button"
    );
    if let Some(prefix) = shots {
        std::fs::write(
            artifact(&format!("{prefix}-computer.png")),
            b.screenshot().await.unwrap(),
        )
        .unwrap();
    }
    mark(b).await;
    primary.click().await.unwrap();
    wait_for_id(b, "token-state").await;
    assert!(loaded(b).await);
    loads += 1;
    if let Some(prefix) = shots {
        std::fs::write(
            artifact(&format!("{prefix}-token.png")),
            b.screenshot().await.unwrap(),
        )
        .unwrap();
    }
    loads
}

/// The token the page shows in its text area.
async fn shown_token(b: &fantoccini::Client) -> String {
    let value = wait_for_id(b, "token").await.prop("value").await.unwrap();
    value.unwrap().trim().to_string()
}

/// Wait, without any reload, until the token page says `completed`.
async fn sees_completed(b: &fantoccini::Client, client_output: &str) {
    let state = wait_for_id(b, "token-state-value").await;
    let mut last = String::new();
    for _ in 0..120 {
        last = state.text().await.unwrap();
        if last == "completed" {
            assert!(!loaded(b).await, "the page changed without a reload");
            return;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    panic!("the token page shows {last:?}, not completed; the client said:\n{client_output}");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn chromium_repairs_labws01_from_the_token_page_by_its_commands_and_by_its_code() {
    install_crypto();
    let lab = lab();
    let _member = MEMBER.lock().await;
    let (conf, member) = (env("LAB_MEMBER_CONF"), env("LAB_MEMBER_NAME"));
    let downloads = format!(
        "\n[downloads]\nlinux_binary = {:?}\nca_file = \"{{front_ca}}\"\n",
        client_binary().display().to_string()
    );
    let p = start_portal_with(&lab, &member_portal_db(), &downloads, true).await;
    let c = browser_for(p.ca.as_deref());
    sign_in(&c, &p.base, "alice", "alice-pw").await;
    assert!(testjoin(&conf), "the member is joined before the test");

    let driver = chromedriver().await;
    let b = session_for_front(&driver).await;

    // 1. With the token page's commands.
    break_member(&c, &p, &member, &conf).await;
    browser_sign_in(&b, &p.base, "alice", "alice-pw").await;
    let mut loads = 1; // the signed-in landing page
    loads += look_up_and_mint(&b, &member, Some("demo")).await;
    let block = wait_for_id(&b, "sh-block").await.text().await.unwrap();
    let token = shown_token(&b).await;
    assert!(block.contains(&token), "the block carries the token");
    mark(&b).await;
    let out = run_block(&p, &block).await;
    assert!(out.contains("trustdesk-client exit code: 0"), "{out}");
    sees_completed(&b, &out).await;
    assert!(testjoin(&conf), "the commands repaired the member:\n{out}");
    eprintln!("page loads from sign-in to completed (token commands): {loads}");
    assert!(loads <= 4, "{loads} page loads");

    // 2. With the short code: the same commands, the code in place of the token.
    break_member(&c, &p, &member, &conf).await;
    b.goto(&p.base).await.unwrap();
    wait_for_id(&b, "whoami").await;
    let loads = 1 + look_up_and_mint(&b, &member, None).await;
    let block = wait_for_id(&b, "sh-block").await.text().await.unwrap();
    let token = shown_token(&b).await;
    let code = wait_for_id(&b, "short-code").await.text().await.unwrap();
    assert!(
        trustdesk_token::ShortCode::parse(&code).is_some(),
        "{code:?}"
    );
    let command = b
        .find(Locator::Id("code-command"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(command, format!("trustdesk-client redeem {code}"));
    let by_code = block.replace(&token, &code);
    assert!(
        !by_code.contains("td1."),
        "only the code goes to the client"
    );
    // Meanwhile the same tech has the computer's page open in another browser: its token list
    // follows the repair too.
    let list = session_for_front(&driver).await;
    browser_sign_in(&list, &p.base, "alice", "alice-pw").await;
    list.goto(&format!("{}/computers/{member}", p.base))
        .await
        .unwrap();
    let cell = list
        .wait()
        .for_element(Locator::Css("#tokens [data-live-token]"))
        .await
        .unwrap();
    assert_eq!(cell.text().await.unwrap(), "pending");
    mark(&list).await;
    mark(&b).await;
    let out = run_block(&p, &by_code).await;
    assert!(out.contains("trustdesk-client exit code: 0"), "{out}");
    assert!(
        !out.contains(&code),
        "the client never prints the whole code:\n{out}"
    );
    sees_completed(&b, &out).await;
    let mut shown = String::new();
    for _ in 0..20 {
        shown = cell.text().await.unwrap();
        if shown == "completed" {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(shown, "completed", "the computer page's token list");
    assert!(!loaded(&list).await, "without a reload");
    list.close().await.unwrap();
    assert!(testjoin(&conf), "the code repaired the member:\n{out}");
    eprintln!("page loads from the landing page to completed (short code): {loads}");
    assert!(loads <= 4, "{loads} page loads");
    b.close().await.unwrap();
}

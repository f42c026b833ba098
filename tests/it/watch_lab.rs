//! The post-repair watch (security review H-1), against the lab: a token redeemed with `curl`
//! (a new password set, and nothing on the machine rotating it away) ends its watch
//! `exposed` within `tokens.repair_watch_secs`: an audit event, a critical finding at the top
//! of the computer's page, a line in the fleet report. The redeem came from the minter's own
//! address, which the audit log flags. (`e2e_repair` shows the real client's repair ending
//! `rotated`, with no finding.)

use crate::common::{get_text, install_crypto, lab};
use crate::labctl::{admin, create_computer, random_pw};
use crate::repair_lab::{machine_pw, mint, redeem, signed_in};

/// A watch short enough for a test; the watcher looks every half of it.
pub const SHORT_WATCH: &str = "\n[tokens]\nrepair_watch_secs = 4\n";

/// Wait (at most 30 s) for the `repair_watch` row of `name`; its outcome and reason.
pub async fn watch_row(p: &crate::common::Portal, name: &str) -> (String, String) {
    for _ in 0..60 {
        let rows = p.state.store.audit_recent(30).await.unwrap();
        if let Some(r) = rows.iter().find(|r| {
            r.event.action == "repair_watch" && r.event.target_name.as_deref() == Some(name)
        }) {
            return (
                r.event.outcome.clone(),
                r.event.reason.clone().unwrap_or_default(),
            );
        }
        tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    }
    panic!("no repair_watch row for {name} within 30 s");
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn a_curl_redeem_that_nothing_rotates_raises_the_critical_finding() {
    install_crypto();
    let lab = lab();
    let (p, c) = signed_in(&lab, "", SHORT_WATCH).await;
    let mut dc = admin(&lab.ldaps_url).await;
    let name = "T-WATCHED";
    let dn = create_computer(
        &mut dc,
        &lab,
        name,
        "OU=Berlin,OU=Workstations",
        &random_pw(),
    )
    .await;
    let token = mint(&c, &p.base, name).await;
    // What a technician who kept the token could send from their own desk.
    let password = machine_pw();
    let (status, body) = redeem(&p.base, &token, &password).await;
    assert_eq!(status, 200, "{body}");

    let rows = p.state.store.audit_recent(10).await.unwrap();
    let flagged = rows.iter().find(|r| {
        r.event.action == "redeem_token"
            && r.event.outcome == "flagged"
            && r.event.target_name.as_deref() == Some(name)
    });
    let flagged = flagged.expect("a redeem from the minter's address is flagged");
    assert!(
        flagged
            .event
            .reason
            .as_deref()
            .is_some_and(|r| r.contains("minted from (127.0.0.1)")),
        "{:?}",
        flagged.event.reason
    );

    let (outcome, reason) = watch_row(&p, name).await;
    assert_eq!(outcome, "failure", "{reason}");
    assert!(reason.contains("may still be valid"), "{reason}");

    let page = get_text(&c, &format!("{}/computers/{name}", p.base)).await;
    assert!(
        page.contains("id=\"critical-transited_password_may_be_valid\""),
        "the critical finding is at the top of the page:\n{page}"
    );
    let fleet = get_text(&c, &format!("{}/fleet", p.base)).await;
    assert!(
        fleet.contains("id=\"exposed-repairs\"") && fleet.contains(&format!(">{name}</a>")),
        "the fleet report lists it:\n{fleet}"
    );
    // Once the machine (here: an admin, twice) rotates it away, the finding goes.
    crate::labctl::set_password(&mut dc, &dn, &random_pw()).await;
    crate::labctl::set_password(&mut dc, &dn, &random_pw()).await;
    let page = get_text(&c, &format!("{}/computers/{name}", p.base)).await;
    assert!(
        !page.contains("critical-transited_password_may_be_valid"),
        "rotated twice since: no finding"
    );
    let _ = dc.delete(&dn).await;
}

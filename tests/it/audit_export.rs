//! The audit export as browsers fetch it: compressed (`Accept-Encoding: gzip, br`), complete,
//! and audited once with its outcome.

use std::io::Read;
use std::time::Duration;

use trustdesk::db::{AuditFilter, AuditRow};

use crate::common::chromium::{
    artifact, browser_session, browser_sign_in, chromedriver, wait_for_id,
};
use crate::common::{browser, install_crypto, lab, sign_in, start_portal};
use crate::downloads::cdp;

/// The export events in the log, newest first.
async fn export_events(store: &trustdesk::db::Store) -> Vec<AuditRow> {
    let filter = AuditFilter {
        action: Some("export_audit".into()),
        ..AuditFilter::default()
    };
    store.audit_query(&filter, i64::MAX, 100).await.unwrap()
}

/// GET `path` as a browser does; returns the decoded body and the encoding used.
async fn get_compressed(c: &reqwest::Client, url: &str) -> (String, String) {
    let r = c
        .get(url)
        .header("accept-encoding", "gzip, br")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200, "{url}");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .starts_with("attachment"),
    );
    let encoding = r
        .headers()
        .get("content-encoding")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    // A cut-off body is an error here, not a short file.
    let raw = r.bytes().await.unwrap();
    let mut text = String::new();
    match encoding.as_str() {
        "gzip" => flate2::read::GzDecoder::new(&raw[..])
            .read_to_string(&mut text)
            .unwrap(),
        "br" => brotli::Decompressor::new(&raw[..], 4096)
            .read_to_string(&mut text)
            .unwrap(),
        other => panic!("the export is not compressed ({other:?})"),
    };
    (text, encoding)
}

/// The `seq` column of an exported CSV, after checking its header.
fn csv_seqs(csv: &str) -> Vec<i64> {
    let mut lines = csv.lines();
    assert!(
        lines.next().unwrap().starts_with("seq,at,actor_sub"),
        "{csv}"
    );
    lines
        .map(|l| l.split(',').next().unwrap().parse().unwrap())
        .collect()
}

/// One new export event after `before`, with outcome success; returns its seq.
async fn one_new_success(store: &trustdesk::db::Store, before: usize) -> i64 {
    let mut events = export_events(store).await;
    for _ in 0..20 {
        if events.len() > before {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
        events = export_events(store).await;
    }
    // Late duplicates (a retry, a second write) would show up here.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let events = export_events(store).await;
    assert_eq!(events.len(), before + 1, "exactly one event per export");
    let e = &events[0];
    assert_eq!(e.event.outcome, "success", "{:?}", e.event.reason);
    assert_eq!(e.event.actor_sub.as_deref(), Some("carol"));
    e.seq
}

#[tokio::test]
#[ignore = "needs the lab"]
async fn compressed_audit_export_is_complete_and_audited_once() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let c = browser();
    sign_in(&c, &p.base, "carol", "carol-pw").await;

    // CSV: the header, then every row older than the export's own event, newest first.
    let (csv, encoding) = get_compressed(&c, &format!("{}/audit/export.csv", p.base)).await;
    let seq = one_new_success(&p.state.store, 0).await;
    let seqs = csv_seqs(&csv);
    let expected: Vec<i64> = (1..seq).rev().collect();
    assert_eq!(seqs, expected, "every row, over {encoding}");

    // JSON Lines: every line parses, and the CSV export's event is among them.
    let (jsonl, encoding) = get_compressed(&c, &format!("{}/audit/export.jsonl", p.base)).await;
    let seq2 = one_new_success(&p.state.store, 1).await;
    let rows: Vec<serde_json::Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let seqs: Vec<i64> = rows.iter().map(|r| r["seq"].as_i64().unwrap()).collect();
    let expected: Vec<i64> = (1..seq2).rev().collect();
    assert_eq!(seqs, expected, "every row, over {encoding}");
    assert!(
        rows.iter()
            .any(|r| r["action"] == "export_audit" && r["outcome"] == "success")
    );
}

/// A click on "Export CSV" in Chromium (which asks for gzip and br) saves the whole file, and
/// the log gets one export event, a success.
#[tokio::test]
#[ignore = "needs the lab"]
async fn chromium_downloads_the_audit_csv() {
    install_crypto();
    let lab = lab();
    let p = start_portal(&lab, "").await;
    let driver = chromedriver().await;
    let b = browser_session(&driver).await;
    let downloads = tempfile::tempdir().unwrap();
    let to = downloads.path().display().to_string();
    let params = serde_json::json!({ "behavior": "allow", "downloadPath": to });
    cdp(&b, "Browser.setDownloadBehavior", params).await;

    browser_sign_in(&b, &p.base, "carol", "carol-pw").await;
    b.goto(&format!("{}/audit", p.base)).await.unwrap();
    wait_for_id(&b, "export-csv").await.click().await.unwrap();
    let file = downloads.path().join("trustdesk-audit.csv");
    for _ in 0..300 {
        if file.exists() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    if !file.exists() {
        std::fs::write(
            artifact("audit-download.png"),
            b.screenshot().await.unwrap(),
        )
        .unwrap();
        panic!("no download in {}", downloads.path().display());
    }
    b.close().await.unwrap();

    let seq = one_new_success(&p.state.store, 0).await;
    let csv = std::fs::read_to_string(&file).unwrap();
    let seqs = csv_seqs(&csv);
    assert_eq!(seqs, (1..seq).rev().collect::<Vec<_>>(), "{csv}");
}

/// The audit view and export follow the role's scopes (security review L-6): a site lead
/// granted `view_audit` and `export_audit` on Paris sees alice's lookup of a Paris computer
/// and not her lookup of a Berlin one; the security team's role, with no scopes, sees both.
#[tokio::test]
#[ignore = "needs the lab"]
async fn a_site_leads_audit_view_and_export_stay_in_the_site() {
    install_crypto();
    let lab = lab();
    let lead = format!(
        "\n[roles.sitelead]\ngroups = [\"helpdesk-junior-paris\"]\nactions = [\"view_audit\", \"export_audit\"]\nscopes = [\"OU=Paris,OU=Workstations,{}\"]\n",
        lab.base_dn
    );
    let p = start_portal(&lab, &lead).await;
    let alice = browser();
    sign_in(&alice, &p.base, "alice", "alice-pw").await;
    for name in ["PAR-WS002", "BER-WS002"] {
        let r = alice
            .get(format!("{}/computers/lab.example.test/{name}", p.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{name}");
    }
    let bob = browser();
    sign_in(&bob, &p.base, "bob", "bob-pw").await;
    let carol = browser();
    sign_in(&carol, &p.base, "carol", "carol-pw").await;
    for (who, c, sees_berlin) in [("bob", &bob, false), ("carol", &carol, true)] {
        let page = crate::common::get_text(c, &format!("{}/audit", p.base)).await;
        assert!(page.contains("PAR-WS002"), "{who} sees the Paris lookup");
        assert_eq!(page.contains("BER-WS002"), sees_berlin, "{who}: {page}");
        let (csv, _) = get_compressed(c, &format!("{}/audit/export.csv", p.base)).await;
        assert!(csv.contains("PAR-WS002"), "{who}'s export");
        assert_eq!(csv.contains("BER-WS002"), sees_berlin, "{who}'s export");
    }
}

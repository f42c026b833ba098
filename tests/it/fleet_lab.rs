//! Fleet health against the lab: the bulk computers PC00001… (`lab.sh up --computers N`) are in
//! mixed states by number (`lab/fixtures/bulk.py`, which writes the at-risk ones and their
//! causes to `$LAB_FIXTURES`); the report must list exactly those, with their causes, and no
//! healthy one.

use std::collections::BTreeMap;
use std::time::Duration;

use fantoccini::Locator;
use serde_json::Value;

use crate::common::chromium::{browser_session, browser_sign_in, chromedriver};
use crate::common::csrf;
use crate::common::{
    Lab, api_get, browser, config_toml, get_text, install_crypto, lab, sign_in, start_portal,
    start_portal_on,
};
use crate::relay;

fn fleet_role(lab: &Lab, extra: &str) -> String {
    format!(
        "\n[roles.fleetops]\ngroups = [\"trustdesk-admins\"]\nactions = [\"lookup\", \"run_fleet_scan\"]\nscopes = [\"{}\"]\n{extra}",
        lab.base_dn
    )
}

/// How many bulk computers the lab has; the fleet tests need a few thousand.
fn bulk() -> usize {
    let n = std::env::var("LAB_BULK_COMPUTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(
        n >= 1000,
        "the fleet tests need the lab up with --computers N (N >= 1000); LAB_BULK_COMPUTERS={n}"
    );
    n
}

/// The bulk computers (PC + 5 digits) among report rows: name → cause.
fn bulk_rows(rows: &[Value]) -> BTreeMap<String, String> {
    rows.iter()
        .filter_map(|r| {
            let name = r["name"].as_str()?;
            let digits = name.strip_prefix("PC")?;
            (digits.len() == 5 && digits.bytes().all(|b| b.is_ascii_digit())).then(|| {
                (
                    name.to_string(),
                    r["cause"].as_str().unwrap_or("").to_string(),
                )
            })
        })
        .collect()
}

/// The at-risk bulk computers and their causes (all, or those of cause `only`), as
/// `lab/fixtures/bulk.py` wrote them to `$LAB_FIXTURES` when it set their states: the one
/// statement of the fixture's contract.
fn expected_rows(n: usize, only: Option<&str>) -> BTreeMap<String, String> {
    let path = std::env::var("LAB_FIXTURES").expect("LAB_FIXTURES: run inside lab/lab.sh run");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    let fixtures: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(fixtures["count"], n, "{path} was written for another lab");
    let at_risk = fixtures["at_risk"].as_object().unwrap();
    assert!(!at_risk.is_empty(), "{path}: no at-risk computer");
    at_risk
        .iter()
        .map(|(name, cause)| (name.clone(), cause.as_str().unwrap().to_string()))
        .filter(|(_, c)| only.is_none_or(|o| o == c))
        .collect()
}

/// Start a scan through the page's form and wait for it to end; returns the last progress.
async fn scan(c: &reqwest::Client, base: &str) -> Value {
    let token = csrf(c, base).await;
    let r = c
        .post(format!("{base}/fleet/scans"))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 303, "{}", r.text().await.unwrap());
    for _ in 0..600 {
        let (status, p) = api_get(c, base, "/api/v1/fleet/progress").await;
        assert_eq!(status, 200);
        if p["state"] != "running" {
            return p;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    panic!("the fleet scan did not finish in 120 s");
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the lab"]
async fn fleet_report_lists_exactly_the_broken_and_at_risk() {
    install_crypto();
    let lab = lab();
    let n = bulk();
    let p = start_portal(&lab, &fleet_role(&lab, "")).await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    assert_eq!(
        api_get(&c, &p.base, "/api/v1/fleet").await.0,
        404,
        "no report yet"
    );

    let progress = scan(&c, &p.base).await;
    assert_eq!(progress["state"], "complete", "{progress}");
    assert!(progress["scanned"].as_u64().unwrap() >= n as u64);
    let (status, report) = api_get(&c, &p.base, "/api/v1/fleet").await;
    assert_eq!(status, 200);
    let rows = report["at_risk"].as_array().unwrap();
    assert_eq!(bulk_rows(rows), expected_rows(n, None));
    for r in rows {
        assert_ne!(r["cause"], "healthy", "{r}");
        assert!(
            r["name"] != "SILENT-WS01",
            "a silent but consistent machine is not at risk"
        );
    }
    let counts = &report["counts"]["causes"];
    assert!(counts["healthy"].as_u64().unwrap() >= (n - n * 3 / 20) as u64);
    eprintln!(
        "fleet: {} scanned, {} at risk, counts {counts}",
        report["scanned"], report["counts"]["at_risk"]
    );

    // The page: counts, three plots, the table; and the CSV twin of the table.
    let html = get_text(&c, &format!("{}/fleet", p.base)).await;
    assert_eq!(html.matches("<svg").count(), 3, "three plots");
    assert!(html.contains("id=\"fleet-rows\""));
    let filtered = get_text(&c, &format!("{}/fleet?q=pc00013&sort=name", p.base)).await;
    assert!(
        filtered.contains("/computers/lab.example.test/PC00013")
            && !filtered.contains("/computers/lab.example.test/PC00014")
    );
    let csv = get_text(
        &c,
        &format!("{}/fleet/export.csv?cause=account_disabled", p.base),
    )
    .await;
    let lines: Vec<&str> = csv.lines().collect();
    assert!(lines[0].starts_with("name,cause,"));
    let disabled_pcs = lines.iter().filter(|l| l.starts_with("\"PC")).count();
    assert_eq!(
        disabled_pcs,
        expected_rows(n, Some("account_disabled")).len()
    );
    assert!(
        lines[1..]
            .iter()
            .all(|l| l.contains("\"account_disabled\""))
    );

    // A junior scoped to Paris sees Paris only (rows, totals and plots), and may not scan.
    let j = browser();
    sign_in(&j, &p.base, "bob", "bob-pw").await;
    let (_, theirs) = api_get(&j, &p.base, "/api/v1/fleet").await;
    let total = theirs["counts"]["total"].as_u64().unwrap();
    assert!(total > 0 && total < 50, "Paris only: {total}");
    for r in theirs["at_risk"].as_array().unwrap() {
        assert!(r["dn"].as_str().unwrap().contains("OU=Paris"), "{r}");
    }
    let token = csrf(&j, &p.base).await;
    let r = j
        .post(format!("{}/fleet/scans", p.base))
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
    // Without the CSRF token nobody starts a scan.
    let r = c
        .post(format!("{}/fleet/scans", p.base))
        .form(&[("csrf", "forged")])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status().as_u16(), 403);
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the lab"]
async fn fleet_cli_prints_the_same_report_as_csv() {
    install_crypto();
    let lab = lab();
    let n = bulk();
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![lab.ldaps_url.as_str()];
    urls.extend(lab.dc2_ldaps_url.as_deref());
    let conf = dir.path().join("trustdesk.toml");
    std::fs::write(&conf, config_toml(dir.path(), &urls, &lab.ca, &lab)).unwrap();
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_trustdesk"))
        .args([
            "--config",
            conf.to_str().unwrap(),
            "fleet",
            "scan",
            "--format",
            "csv",
        ])
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.contains("at risk"), "{stderr}");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let mut rdr = stdout.lines();
    assert!(rdr.next().unwrap().starts_with("name,cause,"));
    let got: BTreeMap<String, String> = rdr
        .filter_map(|l| {
            let mut f = l.split("\",\"");
            let name = f.next()?.trim_start_matches('"').to_string();
            let cause = f.next()?.to_string();
            name.starts_with("PC").then_some((name, cause))
        })
        .collect();
    assert_eq!(got, expected_rows(n, None));
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the lab"]
async fn fleet_scan_starts_over_on_the_next_dc_when_one_dies_and_never_passes_a_partial_report() {
    install_crypto();
    let lab = lab();
    let n = bulk();
    let Some(dc2) = lab.dc2_ldaps_url.clone() else {
        panic!("this test needs the second DC (lab.sh up --dc2)");
    };
    // DC1 dies after ~300 kB of answers: well into the pass, which is several MB.
    let dying = relay::start("127.0.0.2", None, Some(300_000)).await;
    let extra = fleet_role(&lab, "[fleet]\npage_size = 200\n");
    let p = start_portal_on(&lab, &[dying.url.as_str(), dc2.as_str()], "", &extra, false).await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    let progress = scan(&c, &p.base).await;
    assert_eq!(progress["state"], "complete", "{progress}");
    assert_eq!(progress["restarts"], 1, "{progress}");
    let (_, report) = api_get(&c, &p.base, "/api/v1/fleet").await;
    assert!(
        report["scanned"].as_u64().unwrap() >= n as u64,
        "the whole fleet, once"
    );
    assert_eq!(report["dc"], dc2.trim_start_matches("ldaps://"));
    let rows = report["at_risk"].as_array().unwrap();
    // DC2 has no lastLogon for the bulk computers (it is not replicated), so it cannot prove
    // a password was set after the last logon; what it can see must match exactly.
    let got = bulk_rows(rows);
    assert_eq!(
        got.iter().filter(|(_, c)| *c == "account_disabled").count(),
        expected_rows(n, Some("account_disabled")).len()
    );
    let all = expected_rows(n, None);
    for (name, cause) in &got {
        assert_eq!(
            all.get(name),
            Some(cause),
            "{name} flagged {cause} from DC2"
        );
    }
    let stored = p
        .state
        .store
        .fleet_latest(trustdesk::db::FleetState::Complete)
        .await
        .unwrap()
        .unwrap();
    assert!(stored.notes.unwrap_or_default().contains("started over"));
    assert!(dying.from_dc.load(std::sync::atomic::Ordering::SeqCst) >= 300_000);

    // With no DC left to take over, the report fails cleanly: no rows, and the page keeps
    // showing no complete report rather than a partial one.
    let alone = relay::start("127.0.0.2", None, Some(300_000)).await;
    let p = start_portal_on(&lab, &[alone.url.as_str()], "", &extra, false).await;
    let c = browser();
    sign_in(&c, &p.base, "erin", "erin-pw").await;
    let progress = scan(&c, &p.base).await;
    assert_eq!(progress["state"], "failed", "{progress}");
    assert_eq!(api_get(&c, &p.base, "/api/v1/fleet").await.0, 404);
    let failed = p
        .state
        .store
        .fleet_latest(trustdesk::db::FleetState::Failed)
        .await
        .unwrap()
        .unwrap();
    assert!(
        failed
            .error
            .unwrap()
            .contains("no domain controller completed")
    );
    assert!(
        p.state
            .store
            .fleet_findings(failed.id)
            .await
            .unwrap()
            .is_empty()
    );
    alone.kill();
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the lab"]
async fn chromium_watches_the_fleet_progress_bar_move() {
    install_crypto();
    let lab = lab();
    bulk();
    // A slow DC (20 ms per 16 kB): the scan takes seconds, so the bar has time to move.
    let slow = relay::start("127.0.0.2", Some(Duration::from_millis(20)), None).await;
    let extra = fleet_role(&lab, "[fleet]\npage_size = 200\n");
    let p = start_portal_on(&lab, &[slow.url.as_str()], "", &extra, false).await;
    let driver = chromedriver().await;
    let b = browser_session(&driver).await;
    browser_sign_in(&b, &p.base, "erin", "erin-pw").await;
    b.goto(&format!("{}/fleet", p.base)).await.unwrap();
    b.find(Locator::Id("run-scan"))
        .await
        .unwrap()
        .click()
        .await
        .unwrap();
    let mut seen = Vec::new();
    // Up to 3 minutes: at 20,000 computers behind the slow relay the scan alone takes about a
    // minute, more when other tests share the two cores. The loop ends when the report shows.
    for _ in 0..1800 {
        let js = "const b = document.getElementById('fleet-bar'); return b ? b.value : null;";
        if let Ok(v) = b.execute(js, vec![]).await
            && let Some(v) = v.as_f64()
            && seen.last() != Some(&v)
        {
            seen.push(v);
        }
        if b.find(Locator::Id("report-info")).await.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let moving: Vec<&f64> = seen.iter().filter(|v| **v > 0.0).collect();
    if moving.len() < 2 {
        let html = b.source().await.unwrap_or_default();
        panic!("the bar did not move: {seen:?}\n{html}");
    }
    let info = b
        .find(Locator::Id("report-info"))
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(info.contains("computers scanned"), "{info}");
    let png = b.screenshot().await.unwrap();
    std::fs::write(crate::common::chromium::artifact("fleet.png"), png).unwrap();
    b.close().await.unwrap();
}

/// `fleet.schedule_hours` starts scans as the service, each audited: the same schedule with a
/// period of two seconds (hours would not fit in a test) on a portal's own state.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the lab"]
async fn the_schedule_scans_as_the_service_and_audits_each_start() {
    install_crypto();
    let lab = lab();
    bulk();
    let dir = tempfile::tempdir().unwrap();
    let cfg = crate::common::load_config(
        dir.path(),
        &config_toml(dir.path(), &[&lab.ldaps_url], &lab.ca, &lab),
    );
    let state = trustdesk::build(cfg).await.unwrap();
    let schedule = trustdesk::fleet::spawn_every(
        state.fleet.clone(),
        state.scan.clone(),
        Duration::from_secs(2),
    );
    let mut report = None;
    for _ in 0..1800 {
        if let Some(r) = state
            .store
            .fleet_latest(trustdesk::db::FleetState::Complete)
            .await
            .unwrap()
        {
            report = Some(r);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    schedule.abort();
    let report = report.expect("no scheduled scan completed within 3 minutes");
    assert_eq!(report.started_by, "schedule");
    assert!(report.scanned as usize >= bulk(), "{report:?}");
    let audit = state.store.audit_recent(50).await.unwrap();
    // The schedule may have started the next scan meanwhile: find this report's start.
    let target = format!("fleet report {}", report.id);
    let started = audit
        .iter()
        .find(|r| {
            r.event.action == "fleet_scan"
                && r.event.outcome == "started"
                && r.event.target_name.as_deref() == Some(target.as_str())
        })
        .expect("the scheduled start is audited");
    assert_eq!(
        started.event.reason.as_deref(),
        Some("fleet.schedule_hours")
    );
    assert!(
        started.event.actor_sub.is_none(),
        "the service acts, not a person"
    );
}

/// The report carries diagnoses, so it is cut by the `diagnose` scope, not `lookup`'s
/// (security review L-5): bob may look up every workstation but diagnose only Paris, and sees
/// none of the at-risk Berlin computers; the scan's progress reaches him without who started
/// it or on which DC.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the lab"]
async fn the_fleet_report_follows_the_diagnose_scope() {
    install_crypto();
    let lab = lab();
    bulk();
    let wide_lookup = format!(
        "\n[roles.sitelookup]\ngroups = [\"helpdesk-junior-paris\"]\nactions = [\"lookup\"]\nscopes = [\"OU=Workstations,{}\"]\n",
        lab.base_dn
    );
    let p = start_portal(&lab, &fleet_role(&lab, &wide_lookup)).await;
    let erin = browser();
    sign_in(&erin, &p.base, "erin", "erin-pw").await;
    let progress = scan(&erin, &p.base).await;
    assert_eq!(progress["state"], "complete", "{progress}");
    assert_eq!(
        progress["started_by"].as_str().map(|s| !s.is_empty()),
        Some(true)
    );

    let bob = browser();
    sign_in(&bob, &p.base, "bob", "bob-pw").await;
    let (status, report) = api_get(&bob, &p.base, "/api/v1/fleet").await;
    assert_eq!(status, 200, "{report}");
    let rows = report["at_risk"].as_array().unwrap();
    assert!(
        bulk_rows(rows).is_empty(),
        "no Berlin computer in bob's report: {rows:?}"
    );
    let (_, progress) = api_get(&bob, &p.base, "/api/v1/fleet/progress").await;
    assert_eq!(progress["started_by"], "", "{progress}");
    assert_eq!(progress["dc"], Value::Null, "{progress}");
}

/// #19, several instances on one PostgreSQL: a scan run by the CLI (instance A, a process of
/// its own, its DC slowed so that the scan outlasts a heartbeat) shows its progress on the
/// portal (instance B) while it runs. A is killed mid-scan: once its lease has passed, B's
/// next look fails the report, which is never complete and keeps no rows.
#[tokio::test(flavor = "multi_thread")]
#[ignore = "needs the lab"]
async fn a_scan_killed_on_one_instance_is_shown_on_another_and_never_complete() {
    install_crypto();
    let lab = lab();
    bulk();
    let (pg, pg_name) = crate::common::create_pg_database().await;
    let top = format!("database_url = {pg:?}\ninstances = 2\n");
    let slow = relay::start("127.0.0.2", Some(Duration::from_millis(50)), None).await;
    let b = crate::common::start_portal_with(&lab, &top, "", false).await;
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("trustdesk.toml");
    let toml = config_toml(dir.path(), &[slow.url.as_str()], &lab.ca, &lab);
    std::fs::write(&conf, format!("{top}{toml}\n[fleet]\npage_size = 200\n")).unwrap();
    let mut a = tokio::process::Command::new(env!("CARGO_BIN_EXE_trustdesk"))
        .args(["--config", conf.to_str().unwrap(), "fleet", "scan"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let fleet = &b.state.fleet;
    let mut seen = None;
    for _ in 0..600 {
        if let Some(p) = fleet.current(&b.state.store).await
            && p.state == trustdesk::fleet::State::Running
            && p.scanned > 0
        {
            seen = Some(p);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let running = seen.expect("B never saw A's scan running with progress");
    assert!(fleet.progress().is_none(), "B runs nothing itself");
    assert!(running.estimate.is_some(), "{running:?}");
    a.start_kill().unwrap();
    let _ = a.wait().await;
    // A's last heartbeat is at most 5 s old now; the lease is 30 s.
    let mut ended = None;
    for _ in 0..600 {
        match fleet.current(&b.state.store).await {
            Some(p)
                if p.scan_id == running.scan_id && p.state != trustdesk::fleet::State::Running =>
            {
                ended = Some(p);
                break;
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
    let ended = ended.expect("the dead instance's report stayed running past its lease");
    assert_eq!(ended.state, trustdesk::fleet::State::Failed);
    assert_eq!(ended.error.as_deref(), Some(trustdesk::db::STALE_SCAN));
    let store = &b.state.store;
    assert!(
        store
            .fleet_latest(trustdesk::fleet::State::Complete)
            .await
            .unwrap()
            .is_none()
    );
    assert!(
        store
            .fleet_findings(running.scan_id)
            .await
            .unwrap()
            .is_empty()
    );
    slow.kill();
    drop(b);
    crate::common::drop_pg_database(&pg_name).await;
}

//! Fleet scan throughput and peak memory: `trustdesk fleet scan` (the release CLI, SQLite report)
//! against `ldapsearch -E pr=1000/noprompt` with the same attributes on the same DC, in the same
//! run.
//!
//!   lab/lab.sh up --dc2 --computers 20000 && lab/lab.sh run -- cargo bench --offline --bench fleet
//!
//! Environment: BENCH_RUNS (measured runs per setting after one warm-up; default 3).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

#[path = "common.rs"]
mod common;
use common::env;

/// The baseline: one paged search, every entry read; returns (entries, seconds).
fn ldapsearch(pwfile: &std::path::Path) -> (u64, f64) {
    let filter = trustdesk::directory::filter::all_computers_filter();
    let start = Instant::now();
    let mut child = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", env("LAB_CA"))
        .args(["-LLL", "-x", "-o", "ldif-wrap=no", "-E", "pr=1000/noprompt"])
        .args(["-H", &env("LAB_LDAPS_URL"), "-D", &env("LAB_SVC_UPN")])
        .arg("-y")
        .arg(pwfile)
        .args(["-b", &env("LAB_BASEDN"), &filter])
        .args(trustdesk::directory::scan::scan_attrs())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("ldapsearch (lab/install.sh installs ldap-utils)");
    let out = BufReader::new(child.stdout.take().unwrap());
    let n = out
        .split(b'\n')
        .filter(|l| l.as_ref().is_ok_and(|l| l.starts_with(b"dn: ")))
        .count() as u64;
    assert!(child.wait().unwrap().success());
    (n, start.elapsed().as_secs_f64())
}

/// One CLI scan; returns (computers scanned, seconds, peak RSS in KiB).
fn cli_scan(conf: &std::path::Path) -> (u64, f64, u64) {
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trustdesk"))
        .arg("--config")
        .arg(conf)
        .args(["fleet", "scan", "--format", "csv", "--output", "/dev/null"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // VmHWM is the process's peak resident set so far: poll it until the process exits.
    let status = format!("/proc/{}/status", child.id());
    let mut peak = 0u64;
    let exit = loop {
        if let Ok(s) = std::fs::read_to_string(&status)
            && let Some(kb) = s
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        {
            peak = peak.max(kb);
        }
        if let Some(exit) = child.try_wait().unwrap() {
            break exit;
        }
        // Sampling a child's memory from a plain thread: blocking is the point.
        #[allow(clippy::disallowed_methods)]
        std::thread::sleep(Duration::from_millis(2));
    };
    let secs = start.elapsed().as_secs_f64();
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(exit.success(), "{err}");
    // "fleet report N: X computers scanned on DC, Y at risk"
    let scanned = err
        .lines()
        .find_map(|l| l.split(": ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("no summary line in: {err}"));
    (scanned, secs, peak)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(|a, b| a.total_cmp(b));
    v[v.len() / 2]
}

fn main() {
    let runs: usize = std::env::var("BENCH_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3);
    let dir = tempfile::tempdir().unwrap();
    let pwfile = dir.path().join("pw");
    std::fs::write(&pwfile, env("LAB_SVC_PW")).unwrap();
    let mut settings = vec![("1 DC", vec![env("LAB_LDAPS_URL")])];
    if let Ok(dc2) = std::env::var("LAB_DC2_LDAPS_URL") {
        settings.push(("2 DCs", vec![env("LAB_LDAPS_URL"), dc2]));
    }

    let mut base_rates = Vec::new();
    let mut entries = 0;
    ldapsearch(&pwfile); // warm-up
    for _ in 0..runs {
        let (n, s) = ldapsearch(&pwfile);
        entries = n;
        base_rates.push(n as f64 / s);
    }
    let base = median(base_rates);
    println!("fleet scan of {entries} computers, median of {runs} runs after one warm-up");
    println!(
        "{:<34} {:>12} {:>12} {:>10}",
        "", "objects/s", "peak RSS", "ratio"
    );
    println!(
        "{:<34} {:>12.0} {:>12} {:>9.2}x",
        "ldapsearch -E pr=1000/noprompt", base, "-", 1.0
    );
    for (label, urls) in settings {
        let data = dir.path().join(label.replace(' ', "-"));
        let conf = dir.path().join(format!("{}.toml", label.replace(' ', "-")));
        let (svc, pw) = (env("LAB_SVC_UPN"), env("LAB_SVC_PW"));
        let toml = common::config_toml(
            &data,
            &urls,
            &env("LAB_BASEDN"),
            (&svc, &pw),
            &env("LAB_CA"),
            "",
        );
        std::fs::write(&conf, toml).unwrap();
        cli_scan(&conf); // warm-up; later runs take their progress estimate from this report
        let (mut rates, mut peak) = (Vec::new(), 0);
        for _ in 0..runs {
            let (n, s, kb) = cli_scan(&conf);
            assert!(n >= entries, "scanned {n} of {entries}");
            rates.push(n as f64 / s);
            peak = peak.max(kb);
        }
        let rate = median(rates);
        println!(
            "{:<34} {:>12.0} {:>9.1} MiB {:>9.2}x",
            format!("trustdesk fleet scan ({label})"),
            rate,
            peak as f64 / 1024.0,
            rate / base
        );
    }
}

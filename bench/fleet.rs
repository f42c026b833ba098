//! Fleet scan throughput and peak memory: `trustdesk fleet scan` (the release CLI, SQLite report)
//! against `ldapsearch -E pr=1000/noprompt` with the same attributes on the same DC, in the same
//! run.
//!
//!   lab/lab.sh up --dc2 --computers 20000 && lab/lab.sh run -- cargo bench --offline --bench fleet
//!
//! With the second forest and its bulk computers (`up --forest2 --forest2-computers N`), also
//! one scan of both forests as two `[[domains]]` (issue #19): each forest's objects/s against
//! `ldapsearch` on its own DC, and the peak RSS of that scan against a scan of one forest.
//!
//! Environment: BENCH_RUNS (measured runs per setting after one warm-up; default 3, at least 5
//! for the two forests).

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

/// A forest of the lab, by the prefix of its `lab.env` variables (`LAB_`, `LAB_F2_`).
struct Forest {
    url: String,
    ca: String,
    upn: String,
    base: String,
    netbios: String,
    dns: String,
}

impl Forest {
    fn of(prefix: &str) -> Self {
        let v = |k: &str| env(&format!("{prefix}{k}"));
        Forest {
            url: v("LDAPS_URL"),
            ca: v("CA"),
            upn: v("SVC_UPN"),
            base: v("BASEDN"),
            netbios: v("DOMAIN"),
            dns: v("DNSDOMAIN"),
        }
    }

    /// Its `[[domains]]` entry, its one DC in `urls`.
    fn domain_toml(&self) -> String {
        format!(
            "[[domains]]\nname = {:?}\ndns_name = {:?}\nurls = [{:?}]\nbase_dn = {:?}\n\
             bind_dn = {:?}\nbind_password = {:?}\nca_file = {:?}\ndiscover_dcs = false\n\n",
            self.netbios,
            self.dns,
            self.url,
            self.base,
            self.upn,
            env("LAB_SVC_PW"),
            self.ca
        )
    }
}

/// The baseline: one paged search of the first forest, every entry read; (entries, seconds).
fn ldapsearch(pwfile: &std::path::Path) -> (u64, f64) {
    ldapsearch_in(&Forest::of("LAB_"), pwfile)
}

/// [`ldapsearch`] in `forest`, on its DC.
fn ldapsearch_in(forest: &Forest, pwfile: &std::path::Path) -> (u64, f64) {
    let filter = trustdesk::directory::filter::all_computers_filter();
    let start = Instant::now();
    let mut child = Command::new("ldapsearch")
        .env("LDAPTLS_CACERT", &forest.ca)
        .args(["-LLL", "-x", "-o", "ldif-wrap=no", "-E", "pr=1000/noprompt"])
        .args(["-H", &forest.url, "-D", &forest.upn])
        .arg("-y")
        .arg(pwfile)
        .args(["-b", &forest.base, &filter])
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
    let (scanned, secs, peak, _) = cli_scan_domains(conf);
    (scanned, secs, peak)
}

/// [`cli_scan`], with each domain's part: (DNS name, computers, seconds).
fn cli_scan_domains(conf: &std::path::Path) -> (u64, f64, u64, Vec<(String, u64, f64)>) {
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
    // "domain D: N computers in S s on DC"
    let domains = err
        .lines()
        .filter_map(|l| {
            let (domain, rest) = l.strip_prefix("domain ")?.split_once(": ")?;
            let mut words = rest.split(' ');
            let n = words.next()?.parse().ok()?;
            let s = words.nth(2)?.parse().ok()?;
            Some((domain.to_string(), n, s))
        })
        .collect();
    (scanned, secs, peak, domains)
}

/// Both forests in one scan, when the second has bulk computers: each forest's objects/s
/// against `ldapsearch` on its DC (medians of `runs`), and the peak RSS of the two-domain
/// scan against a scan of the first forest alone.
fn two_forests(dir: &std::path::Path, pwfile: &std::path::Path, runs: usize) {
    let bulk: u64 = std::env::var("LAB_F2_BULK_COMPUTERS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    if bulk == 0 {
        println!("\n(two forests: skipped; the lab has no second forest with bulk computers)");
        return;
    }
    let forests = [Forest::of("LAB_"), Forest::of("LAB_F2_")];
    let head = "listen = \"127.0.0.1:0\"\n[log]\nfilter = \"warn\"\n[oidc]\nissuer = \
                \"http://127.0.0.1:9\"\nclient_id = \"bench\"\nclient_secret = \"unused\"\n";
    let conf = |name: &str, domains: &[&Forest]| {
        let data = dir.join(name);
        let toml = format!("data_dir = {:?}\n{head}", data.display().to_string())
            + &domains.iter().map(|f| f.domain_toml()).collect::<String>();
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, toml).unwrap();
        path
    };
    let one = conf("one-forest", &[&forests[0]]);
    let both = conf("two-forests", &[&forests[0], &forests[1]]);
    cli_scan(&one);
    cli_scan_domains(&both); // warm-ups
    let mut base = [Vec::new(), Vec::new()];
    let mut rates = [Vec::new(), Vec::new()];
    // Each run's scan against the ldapsearch just before it: the DCs' own speed drifts by
    // ±20% from one read to the next here (their CPU time for the same 10,000 entries: 2.2 to
    // 3.1 s), so each run is compared with its neighbour, and the ratio is the median of those.
    let mut ratios = [Vec::new(), Vec::new()];
    let mut counts = [0u64; 2];
    let (mut peak_one, mut peak_both) = (0u64, 0u64);
    for _ in 0..runs {
        for (i, f) in forests.iter().enumerate() {
            let (n, s) = ldapsearch_in(f, pwfile);
            base[i].push(n as f64 / s);
        }
        let (_, _, kb, parts) = cli_scan_domains(&both);
        peak_both = peak_both.max(kb);
        for (i, f) in forests.iter().enumerate() {
            let (_, n, s) = parts
                .iter()
                .find(|(d, _, _)| *d == f.dns)
                .unwrap_or_else(|| panic!("no line for {} in {parts:?}", f.dns));
            counts[i] = *n;
            rates[i].push(*n as f64 / s);
            ratios[i].push(*n as f64 / s / base[i][base[i].len() - 1]);
        }
        let (_, _, kb) = cli_scan(&one);
        peak_one = peak_one.max(kb);
    }
    println!(
        "\ntwo forests in one scan ([[domains]]), median of {runs} runs after one warm-up; \
         ratio: the median of each run's scan against that run's ldapsearch"
    );
    println!(
        "{:<40} {:>10} {:>11} {:>7}  per run",
        "", "objects/s", "ldapsearch", "ratio"
    );
    for (i, f) in forests.iter().enumerate() {
        let (r, b) = (median(rates[i].clone()), median(base[i].clone()));
        let each: Vec<String> = ratios[i].iter().map(|x| format!("{x:.2}")).collect();
        println!(
            "{:<40} {:>10.0} {:>11.0} {:>6.2}x  {}",
            format!("{} ({} computers)", f.dns, counts[i]),
            r,
            b,
            median(ratios[i].clone()),
            each.join(" ")
        );
    }
    println!(
        "peak RSS: one forest {:.1} MiB, both forests {:.1} MiB ({:.2}x)",
        peak_one as f64 / 1024.0,
        peak_both as f64 / 1024.0,
        peak_both as f64 / peak_one as f64
    );
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
    two_forests(dir.path(), &pwfile, runs.max(5)); // paired ratios want a few
}

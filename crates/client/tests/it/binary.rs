//! The `trustdesk-client` binary end to end: fake HTTPS portal, fake `net` and `testparm`
//! on PATH (recording argv and stdin), a real signed token, a config file.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{SystemTime, UNIX_EPOCH};

use trustdesk_token::{Claims, ComputerRef, SigningKey};

use crate::fake_portal::{CodeAnswer, FakePortal, RedeemAnswer};

const BIN: &str = env!("CARGO_BIN_EXE_trustdesk-client");
const DUMPINFO_OK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/samba/dumpinfo_no_pending.txt"
);
const DUMPINFO_PENDING: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/testdata/samba/dumpinfo_pending.txt"
);
const CA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/testdata/tls/ca.pem");

fn key() -> SigningKey {
    SigningKey::from_seed(&[42u8; 32])
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

fn token(sam: &str, portal: &str) -> String {
    let claims = Claims {
        v: trustdesk_token::VERSION,
        kid: String::new(),
        jti: trustdesk_token::new_jti().unwrap(),
        computer: ComputerRef {
            guid: uuid::Uuid::new_v4(),
            sam: sam.into(),
            dns: Some("labws01.lab.example.test".into()),
        },
        domain: "lab.example.test".into(),
        portal: portal.into(),
        issued_by: "Test Helpdesk".into(),
        iat: now() - 10,
        exp: now() + 600,
    };
    trustdesk_token::sign(&claims, &key()).unwrap()
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|r| r.split_whitespace().nth(1).map(|u| u == "0"))
        })
        .unwrap_or(false)
}

/// A scratch workstation: fake tools, member.conf, private/secrets.tdb, client.toml.
struct Workstation {
    dir: PathBuf,
}

impl Workstation {
    fn new(name: &str, portal_url: &str) -> Workstation {
        let dir = std::env::temp_dir().join(format!("td-client-it-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("bin")).unwrap();
        std::fs::create_dir_all(dir.join("private")).unwrap();
        std::fs::write(dir.join("private/secrets.tdb"), b"").unwrap();
        std::fs::write(dir.join("member.conf"), "[global]\n").unwrap();
        let d = dir.display();
        write_script(
            &dir.join("bin/testparm"),
            &format!(
                "#!/bin/sh\nfor a in \"$@\"; do case \"$a\" in\n\
                 --parameter-name=netbios\\ name) echo LABWS01;;\n\
                 --parameter-name=realm) echo LAB.EXAMPLE.TEST;;\n\
                 --parameter-name=private\\ dir) echo '{d}/private';;\n\
                 esac; done\n"
            ),
        );
        write_script(
            &dir.join("bin/net"),
            &format!(
                "#!/bin/sh\necho \"$*\" >> '{d}/net.log'\n\
                 case \"$1 $2\" in\n\
                 'primarytrust dumpinfo') if [ -e '{d}/pending' ]; then cat '{DUMPINFO_PENDING}'; \
                   else cat '{DUMPINFO_OK}'; fi;;\n\
                 'changesecretpw -f') IFS= read -r pw; printf '%s' \"$pw\" > '{d}/stored'; \
                   echo 'Enter machine password: ';\n\
                   if [ -e '{d}/fail_store' ]; then echo 'Pending machine account password change found - aborting.' >&2; exit 1; fi;\n\
                   echo 'Modified trust account password in secrets database';;\n\
                 'rpc testjoin') echo \"Join to 'LAB' is OK\";;\n\
                 'rpc changetrustpw') echo 'trust_pw_change(LAB): Verified new password remotely using netlogon_creds_cli' >&2;;\n\
                 *) echo \"unexpected: $*\" >&2; exit 2;;\n\
                 esac\n"
            ),
        );
        std::fs::write(
            dir.join("client.toml"),
            format!(
                "portal_url = \"{portal_url}\"\npublic_keys = [\"{}\"]\nca_file = \"{CA}\"\n\
                 backend = \"samba\"\nsamba_conf = \"member.conf\"\n",
                key().verifying_key().to_pin()
            ),
        )
        .unwrap();
        Workstation { dir }
    }

    fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        let path = format!(
            "{}:{}",
            self.dir.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = Command::new(BIN)
            .arg("--config")
            .arg(self.dir.join("client.toml"))
            .args(args)
            .env("PATH", path)
            .env_remove("TRUSTDESK_TOKEN")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        {
            let mut pipe = child.stdin.take().unwrap();
            if let Some(text) = stdin {
                pipe.write_all(text.as_bytes()).unwrap();
            }
        }
        child.wait_with_output().unwrap()
    }

    fn net_log(&self) -> String {
        std::fs::read_to_string(self.dir.join("net.log")).unwrap_or_default()
    }

    fn stored(&self) -> Option<String> {
        std::fs::read_to_string(self.dir.join("stored")).ok()
    }
}

impl Drop for Workstation {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn write_script(path: &Path, text: &str) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, text).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn ok_portal() -> FakePortal {
    FakePortal::start(RedeemAnswer::Ok {
        dc: "dc1.lab.example.test".into(),
        computer: "LABWS01$".into(),
    })
}

#[test]
fn version_flag() {
    let out = Command::new(BIN).arg("--version").output().unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).starts_with("trustdesk-client "));
}

#[test]
#[ignore = "needs root (the Samba preflight checks the effective uid)"]
fn repair_end_to_end_with_token_on_stdin() {
    assert!(
        is_root(),
        "needs root (the Samba preflight checks the effective uid): run as root, as lab/test.sh does"
    );
    let portal = ok_portal();
    let ws = Workstation::new("happy", &portal.url());
    let out = ws.run(
        &["redeem"],
        Some(&format!("{}\n", token("LABWS01$", &portal.url()))),
    );
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    for n in 1..=8 {
        assert!(err.contains(&format!("[{n}/8] ")), "{err}");
    }

    let seen = portal.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        ["/healthz", "/api/v1/redeem", "/api/v1/redeem/outcome"]
    );
    let sent = seen[1].body["password"].as_str().unwrap().to_owned();
    assert_eq!(sent.len(), 120);
    assert!(sent.bytes().all(|b| (32..=122).contains(&b)));
    assert_eq!(ws.stored().as_deref(), Some(sent.as_str()));
    assert!(!err.contains(&sent), "password printed");
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&sent));
    assert_eq!(seen[2].body["outcome"], "completed");
    assert_eq!(seen[2].body["step"], "rotate");

    let conf = ws.dir.join("member.conf");
    let c = conf.display();
    assert_eq!(
        ws.net_log(),
        format!(
            "primarytrust dumpinfo -s {c}\n\
             changesecretpw -f -s {c}\n\
             rpc testjoin -S dc1.lab.example.test -s {c}\n\
             rpc changetrustpw -S dc1.lab.example.test -s {c}\n\
             primarytrust dumpinfo -s {c}\n\
             rpc changetrustpw -S dc1.lab.example.test -s {c}\n\
             primarytrust dumpinfo -s {c}\n\
             rpc testjoin -S dc1.lab.example.test -s {c}\n"
        )
    );
    assert!(!ws.net_log().contains(&sent));
}

#[test]
#[ignore = "needs root (the Samba preflight checks the effective uid)"]
fn dry_run_with_token_argument_changes_nothing() {
    assert!(
        is_root(),
        "needs root (the Samba preflight checks the effective uid): run as root, as lab/test.sh does"
    );
    let portal = ok_portal();
    let ws = Workstation::new("dry", &portal.url());
    let t = token("LABWS01$", &portal.url());
    let out = ws.run(&["redeem", "--dry-run", &t], None);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let paths: Vec<String> = portal.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/healthz"]);
    assert!(ws.stored().is_none());
    assert!(!ws.net_log().contains("changesecretpw"));
}

#[test]
#[ignore = "needs root (the Samba preflight checks the effective uid)"]
fn pending_change_stops_before_the_redeem() {
    assert!(
        is_root(),
        "needs root (the Samba preflight checks the effective uid): run as root, as lab/test.sh does"
    );
    let portal = ok_portal();
    let ws = Workstation::new("pending", &portal.url());
    std::fs::write(ws.dir.join("pending"), b"").unwrap();
    let out = ws.run(&["redeem"], Some(&token("LABWS01$", &portal.url())));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("NT_STATUS_NOT_COMMITTED"), "{err}");
    assert!(err.contains("net rpc changetrustpw -S"), "{err}");
    assert!(portal.seen().is_empty());
    assert!(ws.stored().is_none());
}

#[test]
#[ignore = "needs root (the Samba preflight checks the effective uid)"]
fn local_write_failure_is_reported() {
    assert!(
        is_root(),
        "needs root (the Samba preflight checks the effective uid): run as root, as lab/test.sh does"
    );
    let portal = ok_portal();
    let ws = Workstation::new("store", &portal.url());
    std::fs::write(ws.dir.join("fail_store"), b"").unwrap();
    let out = ws.run(&["redeem"], Some(&token("LABWS01$", &portal.url())));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(7), "{err}");
    assert!(err.contains("could not store it"), "{err}");
    let seen = portal.seen();
    let report = &seen.last().unwrap().body;
    assert_eq!(report["outcome"], "failed");
    assert_eq!(report["step"], "store_secret");
    let sent = seen[1].body["password"].as_str().unwrap().to_owned();
    assert!(!report["detail"].as_str().unwrap().contains(&sent));
    assert!(!err.contains(&sent));
}

#[test]
#[ignore = "needs root (the Samba preflight checks the effective uid)"]
fn portal_refusal_exit_code() {
    assert!(
        is_root(),
        "needs root (the Samba preflight checks the effective uid): run as root, as lab/test.sh does"
    );
    let portal = FakePortal::start(RedeemAnswer::Error {
        status: 409,
        code: "already_used".into(),
    });
    let ws = Workstation::new("refused", &portal.url());
    let out = ws.run(&["redeem"], Some(&token("LABWS01$", &portal.url())));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("already_used"), "{err}");
    assert!(ws.stored().is_none());
}

#[test]
fn token_for_another_computer_exit_code() {
    let portal = ok_portal();
    let ws = Workstation::new("other", &portal.url());
    let out = ws.run(&["redeem"], Some(&token("PAR-WS001$", &portal.url())));
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    assert!(portal.seen().is_empty());
}

const CODE: &str = "K7QF-M2XD-9PWA";

fn assert_code_hidden(out: &Output) {
    for text in [
        stderr(out),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    ] {
        for whole in [CODE, "K7QFM2XD9PWA", "K7QF", "M2XD"] {
            assert!(!text.contains(whole), "{whole} printed:\n{text}");
        }
    }
}

#[test]
#[ignore = "needs root (the Samba preflight checks the effective uid)"]
fn repair_end_to_end_with_a_code() {
    assert!(
        is_root(),
        "needs root (the Samba preflight checks the effective uid): run as root, as lab/test.sh does"
    );
    let portal = ok_portal();
    let t = token("LABWS01$", &portal.url());
    portal.answer_code(CodeAnswer::Token(t.clone()));
    let ws = Workstation::new("code", &portal.url());
    let out = ws.run(&["redeem"], Some("k7qf-m2xd-9pwa\n"));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(0), "{err}");
    assert!(
        err.contains("[1/9] Fetching the token for code ****-****-9PWA ... ok"),
        "{err}"
    );
    for n in 2..=9 {
        assert!(err.contains(&format!("[{n}/9] ")), "{err}");
    }
    let seen = portal.seen();
    let paths: Vec<&str> = seen.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/api/v1/redeem/code",
            "/healthz",
            "/api/v1/redeem",
            "/api/v1/redeem/outcome"
        ]
    );
    assert_eq!(
        seen[0].body,
        serde_json::json!({"code": "K7QFM2XD9PWA", "computer": "LABWS01", "domain": "lab.example.test"})
    );
    // The fetched token is redeemed and reported as it came.
    assert_eq!(seen[2].body["token"], t.as_str());
    assert_eq!(seen[3].body["token"], t.as_str());
    assert_eq!(seen[3].body["outcome"], "completed");
    assert!(ws.stored().is_some());
    assert!(!err.contains(&t), "token printed");
    assert_code_hidden(&out);
}

#[test]
#[ignore = "needs root (the code is sent only after the Samba preflight)"]
fn a_fetched_token_for_another_computer_exit_code() {
    assert!(
        is_root(),
        "needs root (the code is sent only after the Samba preflight): run as root, as lab/test.sh does"
    );
    let portal = ok_portal();
    portal.answer_code(CodeAnswer::Token(token("PAR-WS001$", &portal.url())));
    let ws = Workstation::new("code-other", &portal.url());
    let out = ws.run(&["redeem", CODE], None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(3), "{err}");
    assert!(err.contains("PAR-WS001$"), "{err}");
    let paths: Vec<String> = portal.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/api/v1/redeem/code"]);
    assert!(ws.stored().is_none());
    assert_code_hidden(&out);
}

#[test]
#[ignore = "needs root (the code is sent only after the Samba preflight)"]
fn an_unknown_code_exit_code() {
    assert!(
        is_root(),
        "needs root (the code is sent only after the Samba preflight): run as root, as lab/test.sh does"
    );
    let portal = ok_portal();
    let ws = Workstation::new("code-unknown", &portal.url());
    let out = ws.run(&["redeem"], Some(&format!("{CODE}\n")));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(5), "{err}");
    assert!(err.contains("unknown_code"), "{err}");
    assert!(err.contains("Nothing was changed"), "{err}");
    let paths: Vec<String> = portal.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/api/v1/redeem/code"]);
    // Only the read-only preflight ran (before the code was sent).
    assert!(!ws.net_log().contains("changesecretpw"), "{}", ws.net_log());
    assert!(
        ws.net_log().contains("primarytrust dumpinfo"),
        "{}",
        ws.net_log()
    );
    assert_code_hidden(&out);

    // A pending change stops the run before the code is sent.
    std::fs::write(ws.dir.join("pending"), b"").unwrap();
    let out = ws.run(&["redeem", CODE], None);
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(4), "{err}");
    assert!(err.contains("the code was not sent"), "{err}");
    assert_eq!(portal.seen().len(), 1);
    assert_code_hidden(&out);

    // A dry run with a code is refused before anything is sent.
    let out = ws.run(&["redeem", "--dry-run", CODE], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert_eq!(portal.seen().len(), 1);
    assert_code_hidden(&out);
}

#[test]
fn config_errors_exit_2() {
    let ws = Workstation::new("cfg", "http://127.0.0.1:1");
    let out = ws.run(&["redeem", "td1.a.b"], None);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("https://"), "{}", stderr(&out));

    let ws = Workstation::new("cfg2", "https://127.0.0.1:1");
    let out = ws.run(&["redeem"], Some(""));
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("no token"), "{}", stderr(&out));

    let out = Command::new(BIN)
        .args(["redeem", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

//! Samba domain member backend: shells out to Samba's `net` and `testparm`.
//!
//! - identity: `testparm -s --parameter-name="netbios name"` and `realm` (lower-cased).
//! - preflight: effective uid 0; `<private dir>/secrets.tdb` opens for writing;
//!   `net primarytrust dumpinfo` shows `next_change : NULL` (a pending change shows
//!   `next_change : *` followed by `local_status`/`remote_status`; with one pending,
//!   `net changesecretpw` refuses, which would strand a repair half-done).
//! - store: `net changesecretpw -f` with the password on stdin followed by `\n`; exit 0 and
//!   "Modified trust account password in secrets database" are both required (it prints an
//!   "Enter machine password:" prompt even when reading stdin).
//! - verify: `net rpc testjoin -S <dc>` (NETLOGON + schannel): exit 0 and "is OK".
//! - rotate: `net rpc changetrustpw -S <dc>`: exit 0, "Verified new password remotely" (or
//!   "Finished password change"), and no pending change left in `dumpinfo`.
//!
//! The password travels only on the child's stdin: never in argv or the environment.
//! Every command runs with `-s <conf>` when a configuration file is set, through
//! `crate::process` (`LC_ALL=C`, no inherited stdin, a timeout). Output quoted in errors is
//! sanitised and truncated. This file holds the commands and what their output means.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use zeroize::Zeroizing;

use super::{Backend, BackendError, LocalIdentity};
use crate::password::MachinePassword;
use crate::process::{CmdOutput, run_command};

/// Default time limit for one `net` command.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Longest quote of command output in an error message.
const MAX_QUOTE: usize = 600;

/// A Samba member, configured by `conf` (Samba's default file when `None`).
#[derive(Debug, Clone)]
pub struct SambaBackend {
    conf: Option<PathBuf>,
    net: PathBuf,
    testparm: PathBuf,
    timeout: Duration,
}

/// A pending (half-done) machine password change, as `dumpinfo` shows it.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PendingChange {
    /// `local_status` of the change.
    pub local_status: Option<String>,
    /// `remote_status` of the change.
    pub remote_status: Option<String>,
    /// `change_server` of the change.
    pub change_server: Option<String>,
}

impl SambaBackend {
    /// A backend using `net` and `testparm` from `PATH`.
    #[must_use]
    pub fn new(conf: Option<PathBuf>) -> Self {
        Self {
            conf,
            net: PathBuf::from("net"),
            testparm: PathBuf::from("testparm"),
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// Overrides the programs (tests, unusual installs).
    #[must_use]
    pub fn with_programs(mut self, net: PathBuf, testparm: PathBuf) -> Self {
        self.net = net;
        self.testparm = testparm;
        self
    }

    /// Overrides the per-command time limit.
    #[must_use]
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    fn net(&self, args: &[&str], stdin: Option<&[u8]>) -> Result<CmdOutput, BackendError> {
        let mut argv: Vec<OsString> = args.iter().map(OsString::from).collect();
        if let Some(conf) = &self.conf {
            argv.push("-s".into());
            argv.push(conf.as_os_str().to_owned());
        }
        run_command(&self.net, &argv, stdin, self.timeout)
    }

    fn conf_hint(&self) -> String {
        self.conf
            .as_ref()
            .map(|c| format!(" -s {}", c.display()))
            .unwrap_or_default()
    }

    /// One global parameter, as Samba resolves it (defaults included).
    fn parameter(&self, name: &str) -> Result<String, BackendError> {
        let mut argv: Vec<OsString> = vec!["-s".into(), format!("--parameter-name={name}").into()];
        if let Some(conf) = &self.conf {
            argv.push(conf.as_os_str().to_owned());
        }
        let out = run_command(&self.testparm, &argv, None, self.timeout)?;
        if !out.success() {
            return Err(BackendError::Failed(format!(
                "testparm could not read parameter {name:?} ({}): {}",
                out.status_text(),
                sanitize(&out.combined(), None)
            )));
        }
        Ok(out.stdout.trim().to_owned())
    }

    fn secrets_tdb(&self) -> Result<PathBuf, BackendError> {
        let dir = self.parameter("private dir")?;
        if dir.is_empty() {
            return Err(BackendError::Failed(
                "testparm returned an empty \"private dir\"".into(),
            ));
        }
        Ok(Path::new(&dir).join("secrets.tdb"))
    }

    fn pending_change(&self) -> Result<Option<PendingChange>, BackendError> {
        let out = self.net(&["primarytrust", "dumpinfo"], None)?;
        if !out.success() {
            return Err(BackendError::Failed(format!(
                "`net primarytrust dumpinfo` failed ({}): {}; is this machine joined to the domain?",
                out.status_text(),
                sanitize(&out.combined(), None)
            )));
        }
        parse_dumpinfo(&out.stdout).map_err(BackendError::Failed)
    }
}

impl Backend for SambaBackend {
    fn name(&self) -> &'static str {
        "samba"
    }

    fn identity(&self) -> Result<LocalIdentity, BackendError> {
        let netbios = self.parameter("netbios name")?;
        let realm = self.parameter("realm")?;
        if netbios.is_empty() {
            return Err(BackendError::Failed("Samba has no \"netbios name\"".into()));
        }
        if realm.is_empty() {
            return Err(BackendError::Failed(
                "Samba has no \"realm\": this is not an Active Directory member (security = ads)"
                    .into(),
            ));
        }
        Ok(LocalIdentity {
            netbios,
            dns_domain: realm.to_ascii_lowercase(),
        })
    }

    fn preflight(&self) -> Result<(), BackendError> {
        if let Some(uid) = effective_uid()
            && uid != 0
        {
            return Err(BackendError::NotAdministrator(format!(
                "running as uid {uid}; run as root (sudo), Samba's secrets.tdb is root's"
            )));
        }
        let tdb = self.secrets_tdb()?;
        std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(&tdb)
            .map_err(|e| {
                BackendError::Failed(format!(
                    "the machine secret store {} cannot be opened for writing: {e}",
                    tdb.display()
                ))
            })?;
        if let Some(p) = self.pending_change()? {
            return Err(BackendError::PendingChange(pending_advice(&p)));
        }
        Ok(())
    }

    fn store_secret(&self, password: &MachinePassword) -> Result<(), BackendError> {
        let mut input = Zeroizing::new(Vec::with_capacity(password.expose().len() + 1));
        input.extend_from_slice(password.expose().as_bytes());
        input.push(b'\n');
        let out = self.net(&["changesecretpw", "-f"], Some(&input))?;
        let text = out.combined();
        check_changesecretpw(&out, &text).map_err(|e| {
            BackendError::Failed(format!("{e}: {}", sanitize(&text, Some(password.expose()))))
        })
    }

    fn verify_channel(&self, dc: &str) -> Result<(), BackendError> {
        let out = self.net(&["rpc", "testjoin", "-S", dc], None)?;
        if testjoin_ok(&out) {
            Ok(())
        } else {
            Err(BackendError::Failed(format!(
                "`net rpc testjoin -S {dc}` failed ({}): {}",
                out.status_text(),
                sanitize(&out.combined(), None)
            )))
        }
    }

    fn rotate(&self, dc: &str) -> Result<(), BackendError> {
        let out = self.net(&["rpc", "changetrustpw", "-S", dc], None)?;
        let text = out.combined();
        if !out.success() || !changetrustpw_verified(&text) {
            return Err(BackendError::Failed(format!(
                "`net rpc changetrustpw -S {dc}` failed ({}): {}",
                out.status_text(),
                sanitize(&text, None)
            )));
        }
        if let Some(p) = self.pending_change()? {
            return Err(BackendError::PendingChange(format!(
                "after `net rpc changetrustpw` a change is still pending: {}",
                describe_pending(&p)
            )));
        }
        Ok(())
    }

    fn verify_hint(&self, dc: &str) -> String {
        format!("net rpc testjoin{} -S {dc}", self.conf_hint())
    }

    fn rotate_hint(&self, dc: &str) -> String {
        format!("net rpc changetrustpw{} -S {dc}", self.conf_hint())
    }
}

/// Exit 0 and "Modified trust account password" are both required; a pending change gets
/// its own message.
fn check_changesecretpw(out: &CmdOutput, text: &str) -> Result<(), String> {
    if text.contains("Pending machine account password change found") {
        return Err(format!(
            "`net changesecretpw` refused because a machine password change is pending ({})",
            out.status_text()
        ));
    }
    if !out.success() {
        return Err(format!(
            "`net changesecretpw` failed ({})",
            out.status_text()
        ));
    }
    if !text.contains("Modified trust account password") {
        return Err(
            "`net changesecretpw` exited 0 but did not say the password was modified".into(),
        );
    }
    Ok(())
}

fn testjoin_ok(out: &CmdOutput) -> bool {
    let text = out.combined();
    out.success() && text.contains("is OK") && !text.contains("is not valid")
}

fn changetrustpw_verified(text: &str) -> bool {
    text.contains("Verified new password remotely") || text.contains("Finished password change")
}

/// Reads `next_change` out of `net primarytrust dumpinfo` output: `NULL` means nothing is
/// pending; `*` starts the pending change's block. Anything else is an error (fail safe).
pub fn parse_dumpinfo(text: &str) -> Result<Option<PendingChange>, String> {
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        let Some((key, value)) = line.split_once(':') else {
            continue;
        };
        if key.trim() != "next_change" {
            continue;
        }
        return match value.trim() {
            "NULL" => Ok(None),
            "*" => {
                let indent = line.len() - line.trim_start().len();
                let mut pending = PendingChange::default();
                for inner in lines.by_ref() {
                    let inner_indent = inner.len() - inner.trim_start().len();
                    if !inner.trim().is_empty() && inner_indent <= indent {
                        break;
                    }
                    if let Some((k, v)) = inner.split_once(':') {
                        let v = v.trim().trim_matches('\'').to_owned();
                        match k.trim() {
                            "local_status" if pending.local_status.is_none() => {
                                pending.local_status = Some(v);
                            }
                            "remote_status" if pending.remote_status.is_none() => {
                                pending.remote_status = Some(v);
                            }
                            "change_server" if pending.change_server.is_none() => {
                                pending.change_server = Some(v);
                            }
                            _ => {}
                        }
                    }
                }
                Ok(Some(pending))
            }
            other => Err(format!(
                "unexpected `next_change : {}` in `net primarytrust dumpinfo` output",
                sanitize(other, None)
            )),
        };
    }
    Err("`net primarytrust dumpinfo` output has no next_change line".into())
}

fn describe_pending(p: &PendingChange) -> String {
    format!(
        "next_change: local_status {}, remote_status {}, against {}",
        p.local_status.as_deref().unwrap_or("?"),
        p.remote_status.as_deref().unwrap_or("?"),
        p.change_server.as_deref().unwrap_or("?"),
    )
}

/// What to do about a pending change (`docs/samba-lab.md` §5).
fn pending_advice(p: &PendingChange) -> String {
    format!(
        "`net primarytrust dumpinfo` shows a half-done machine password change ({}). \
         With it pending, `net changesecretpw` refuses, so a repair would set the new password \
         on the domain controller but not here. Clear it first: if the secure channel still works, finish it with \
         `net rpc changetrustpw -S <dc>` (dumpinfo then shows next_change: NULL); if the channel \
         is broken, rejoin the domain (or, relying on Samba internals, delete the record \
         SECRETS/MACHINE_DOMAIN_INFO/<DOMAIN> from secrets.tdb with tdbtool). Then run this \
         again with the same token while it is still valid.",
        describe_pending(p)
    )
}

/// The effective uid, from `/proc/self/status` (no libc, no unsafe). `None` where unknown.
fn effective_uid() -> Option<u32> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    parse_effective_uid(&status)
}

fn parse_effective_uid(status: &str) -> Option<u32> {
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|rest| rest.split_whitespace().nth(1))
        .and_then(|v| v.parse().ok())
}

/// Quotes command output in an error message.
#[must_use]
pub fn sanitize(text: &str, secret: Option<&str>) -> String {
    crate::text::sanitize(text, secret, MAX_QUOTE)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMPINFO_NO_PENDING: &str = include_str!("../../testdata/samba/dumpinfo_no_pending.txt");
    const DUMPINFO_PENDING: &str = include_str!("../../testdata/samba/dumpinfo_pending.txt");
    const CHANGETRUSTPW_OK: &str = include_str!("../../testdata/samba/changetrustpw_ok.stderr.txt");
    const CHANGETRUSTPW_RECOVERS: &str =
        include_str!("../../testdata/samba/changetrustpw_recovers_pending.stderr.txt");

    fn out(status: i32, stdout: &str, stderr: &str) -> CmdOutput {
        CmdOutput {
            status: Some(status),
            stdout: stdout.into(),
            stderr: stderr.into(),
        }
    }

    #[test]
    fn dumpinfo_without_pending_change() {
        assert_eq!(parse_dumpinfo(DUMPINFO_NO_PENDING).unwrap(), None);
    }

    #[test]
    fn dumpinfo_with_pending_change() {
        let p = parse_dumpinfo(DUMPINFO_PENDING).unwrap().unwrap();
        assert_eq!(p.local_status.as_deref(), Some("NT_STATUS_NOT_COMMITTED"));
        assert_eq!(
            p.remote_status.as_deref(),
            Some("NT_STATUS_NO_LOGON_SERVERS")
        );
        assert_eq!(p.change_server.as_deref(), Some("127.0.7.2"));
        let advice = pending_advice(&p);
        assert!(advice.contains("net rpc changetrustpw -S"));
        assert!(advice.contains("NT_STATUS_NOT_COMMITTED"));
        assert!(advice.contains("rejoin"));
    }

    #[test]
    fn dumpinfo_garbage_is_an_error() {
        assert!(parse_dumpinfo("").is_err());
        assert!(parse_dumpinfo("Unable to fetch the information for domain[LAB]").is_err());
        assert!(parse_dumpinfo("    next_change : something odd").is_err());
    }

    #[test]
    fn changesecretpw_outputs() {
        // Real output: the prompt is printed although the password comes from stdin.
        let ok = out(
            0,
            "Enter machine password: \nModified trust account password in secrets database\n",
            "",
        );
        assert!(check_changesecretpw(&ok, &ok.combined()).is_ok());

        let pending = out(
            1,
            "Enter machine password: \n",
            "Pending machine account password change found - aborting.",
        );
        let e = check_changesecretpw(&pending, &pending.combined()).unwrap_err();
        assert!(e.contains("pending"), "{e}");

        let silent = out(0, "Enter machine password: \n", "");
        assert!(check_changesecretpw(&silent, &silent.combined()).is_err());
        let failed = out(
            255,
            "Enter machine password: \nModified trust account password in secrets database\n",
            "",
        );
        assert!(check_changesecretpw(&failed, &failed.combined()).is_err());
    }

    #[test]
    fn testjoin_outputs() {
        assert!(testjoin_ok(&out(0, "Join to 'LAB' is OK\n", "")));
        assert!(!testjoin_ok(&out(
            255,
            "",
            "connect_to_domain_password_server: unable to open the domain client session to \
             machine dc1.lab.example.test. Flags[0x00000000] Error was : NT_STATUS_ACCESS_DENIED.\n\
             Join to domain 'LAB' is not valid: NT_STATUS_ACCESS_DENIED\n"
        )));
        assert!(!testjoin_ok(&out(
            255,
            "",
            "Join to domain 'LAB' is not valid: NT_STATUS_UNSUCCESSFUL\n"
        )));
        assert!(!testjoin_ok(&out(0, "", "")));
    }

    #[test]
    fn changetrustpw_outputs() {
        assert!(changetrustpw_verified(CHANGETRUSTPW_OK));
        assert!(changetrustpw_verified(CHANGETRUSTPW_RECOVERS));
        assert!(!changetrustpw_verified(
            "Unable to find a suitable server for domain LAB\n"
        ));
    }

    #[test]
    fn uid_from_proc_status() {
        let status = "Name:\tnet\nUmask:\t0022\nState:\tR (running)\nUid:\t1000\t0\t0\t0\nGid:\t0\t0\t0\t0\n";
        assert_eq!(parse_effective_uid(status), Some(0));
        assert_eq!(parse_effective_uid("Uid:\t0\t1000\t0\t0\n"), Some(1000));
        assert_eq!(parse_effective_uid("nothing"), None);
    }

    /// A fake `net` that records its argv and stdin, to prove the password never reaches
    /// argv and that `-s CONF` is appended.
    #[cfg(unix)]
    #[test]
    fn store_secret_uses_stdin_only() {
        let dir = std::env::temp_dir().join(format!("td-fake-net-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let net = dir.join("net");
        let log = dir.join("log");
        std::fs::write(
            &net,
            format!(
                "#!/bin/sh\necho \"ARGS $*\" >> '{log}'\necho \"ENV $(env | grep -c 'P@ss')\" >> '{log}'\n\
                 IFS= read -r pw; echo \"STDIN $pw\" >> '{log}'\n\
                 echo 'Enter machine password: '\necho 'Modified trust account password in secrets database'\n",
                log = log.display()
            ),
        )
        .unwrap();
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&net, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        let backend = SambaBackend::new(Some(PathBuf::from("/tmp/member.conf")))
            .with_programs(net.clone(), PathBuf::from("testparm"));
        let pw = MachinePassword::from_string("P@ss word {with} spaces~".into());
        backend.store_secret(&pw).unwrap();
        let logged = std::fs::read_to_string(&log).unwrap();
        assert!(
            logged.contains("ARGS changesecretpw -f -s /tmp/member.conf\n"),
            "{logged}"
        );
        assert!(logged.contains("ENV 0\n"), "{logged}");
        assert!(
            logged.contains("STDIN P@ss word {with} spaces~\n"),
            "{logged}"
        );
        assert_eq!(logged.matches("P@ss").count(), 1, "{logged}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

//! Command code behind the CLI: loads the configuration, reads the token (or short repair
//! code: the flow tells them apart), picks the backend, builds the portal client and runs the
//! flow on a small single-threaded runtime.

use std::io::{BufRead, IsTerminal, Write};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

use crate::backend::Backend;
use crate::backend::samba::SambaBackend;
use crate::cli::{Cli, Command, RedeemArgs};
use crate::config::{self, BackendKind, Overrides, Settings};
use crate::exit::ExitCode;
use crate::http::PortalClient;
use crate::redeem::{self, Request};

/// Runs the parsed command line; the return value is the process exit code.
#[must_use]
pub fn main(cli: Cli) -> ExitCode {
    // Before any TLS: the process-wide rustls provider is aws-lc-rs.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    match cli.command {
        Command::Redeem(args) => redeem_command(cli.config.as_deref(), args),
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::Usage
}

fn redeem_command(config_path: Option<&std::path::Path>, args: RedeemArgs) -> ExitCode {
    let overrides = Overrides {
        portal_url: args.portal_url,
        public_keys: args.public_keys,
        ca_file: args.ca_file,
        backend: args.backend,
        samba_conf: args.samba_conf,
    };
    let settings = match config::resolve(config_path, overrides) {
        Ok(s) => s,
        Err(e) => return usage_error(&e.to_string()),
    };
    let token = match read_token(args.token) {
        Ok(t) => t,
        Err(e) => return usage_error(&e),
    };
    let backend = match make_backend(&settings) {
        Ok(b) => b,
        Err(e) => return usage_error(&e),
    };
    let extra_ca = match &settings.ca_file {
        Some(path) => match std::fs::read(path) {
            Ok(pem) => Some(pem),
            Err(e) => {
                return usage_error(&format!("cannot read ca_file {}: {e}", path.display()));
            }
        },
        None => None,
    };
    let portal = match PortalClient::new(settings.portal.clone(), extra_ca.as_deref()) {
        Ok(p) => p,
        Err(e) => return usage_error(&e.to_string()),
    };
    let now = match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(_) => return usage_error("the system clock is before 1970"),
    };
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => return usage_error(&format!("cannot start the async runtime: {e}")),
    };

    let request = Request {
        token: token.trim(),
        dry_run: args.dry_run,
        keys: &settings.keys,
        portal_url: &settings.portal,
        now,
    };
    let mut stderr = std::io::stderr();
    let _ = writeln!(
        stderr,
        "trustdesk-client {}: portal {}, {} backend{}",
        env!("CARGO_PKG_VERSION"),
        settings.portal,
        backend.name(),
        settings
            .source
            .as_ref()
            .map(|p| format!(", config {}", p.display()))
            .unwrap_or_default()
    );
    let code = runtime.block_on(redeem::run(
        &request,
        &portal,
        backend.as_ref(),
        &mut stderr,
    ));
    let meaning = if args.dry_run && code == ExitCode::Repaired {
        "dry run passed, nothing changed"
    } else {
        code.describe()
    };
    let _ = writeln!(stderr, "exit code {}: {meaning}", code.code());
    code
}

/// The token (or code) from the argument or `TRUSTDESK_TOKEN` (clap fills both into `arg`),
/// else one line from stdin (with a hint on a terminal; no prompt when piped).
fn read_token(arg: Option<String>) -> Result<Zeroizing<String>, String> {
    let token = match arg {
        Some(t) => Zeroizing::new(t),
        None => {
            let stdin = std::io::stdin();
            if stdin.is_terminal() {
                eprint!("Paste the repair token (or type the repair code) and press Enter: ");
                let _ = std::io::stderr().flush();
            }
            let mut line = Zeroizing::new(String::new());
            stdin
                .lock()
                .read_line(&mut line)
                .map_err(|e| format!("cannot read the token from standard input: {e}"))?;
            line
        }
    };
    if token.trim().is_empty() {
        return Err(
            "no token: give the token or its repair code as an argument, in TRUSTDESK_TOKEN, \
             or on standard input"
                .into(),
        );
    }
    Ok(token)
}

fn make_backend(settings: &Settings) -> Result<Box<dyn Backend>, String> {
    match settings.backend {
        BackendKind::Samba => Ok(Box::new(SambaBackend::new(settings.samba_conf.clone()))),
        BackendKind::Windows => windows_backend(),
    }
}

#[cfg(windows)]
fn windows_backend() -> Result<Box<dyn Backend>, String> {
    Ok(Box::new(crate::backend::windows::WindowsBackend::new()))
}

#[cfg(not(windows))]
fn windows_backend() -> Result<Box<dyn Backend>, String> {
    Err("the windows backend is only available in the Windows build of trustdesk-client".into())
}

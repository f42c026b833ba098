//! Command-line structure (clap derive). The command code lives in `command.rs` and
//! `redeem.rs`; nothing here does I/O.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

use crate::config::BackendKind;
use crate::exit::ExitCode;

/// trustdesk-client: repairs this computer's Active Directory secure channel with a one-time
/// repair token minted in the trustdesk portal.
#[derive(Debug, Parser)]
#[command(name = "trustdesk-client", version, after_help = ExitCode::table())]
pub struct Cli {
    /// Configuration file [default: trustdesk-client.toml next to this program, then
    /// /etc/trustdesk/client.toml, or %ProgramData%\trustdesk\client.toml on Windows]
    #[arg(long, global = true, value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Redeem a repair token (or its short repair code): verify it, re-key the machine
    /// account on the domain controller and here, verify the secure channel, rotate twice,
    /// report.
    #[command(after_help = ExitCode::table())]
    Redeem(RedeemArgs),
}

/// `trustdesk-client redeem`
#[derive(Debug, clap::Args)]
pub struct RedeemArgs {
    /// The repair token, or its short repair code (K7QF-M2XD-9PWA), which the portal
    /// exchanges for the token [default: $TRUSTDESK_TOKEN, else one line from standard
    /// input]. Prefer the environment or stdin: arguments are visible to other local users.
    #[arg(value_name = "TOKEN", env = "TRUSTDESK_TOKEN", hide_env_values = true)]
    pub token: Option<String>,

    /// Verify the token and run the preflight checks only; change nothing, keep the token
    /// unused.
    #[arg(long)]
    pub dry_run: bool,

    /// Portal base URL (https:// only); overrides portal_url.
    #[arg(long = "portal", value_name = "URL")]
    pub portal_url: Option<String>,

    /// Pinned token-signing key "<kid>:<base64url>" (repeatable); replaces public_keys.
    #[arg(long = "public-key", value_name = "PIN")]
    pub public_keys: Vec<String>,

    /// Extra root CA (PEM) for the portal's TLS certificate; overrides ca_file.
    #[arg(long, value_name = "PATH")]
    pub ca_file: Option<PathBuf>,

    /// Local backend; overrides backend [default: windows on Windows, else samba].
    #[arg(long, value_enum)]
    pub backend: Option<BackendKind>,

    /// Samba configuration file of this member; overrides samba_conf [default: Samba's].
    #[arg(long, value_name = "PATH")]
    pub samba_conf: Option<PathBuf>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn lead_e2e_invocation_parses() {
        let cli = Cli::try_parse_from([
            "trustdesk-client",
            "--config",
            "/tmp/c.toml",
            "redeem",
            "--backend",
            "samba",
            "--samba-conf",
            "/tmp/member.conf",
            "td1.a.b",
        ])
        .unwrap();
        assert_eq!(
            cli.config.as_deref(),
            Some(std::path::Path::new("/tmp/c.toml"))
        );
        let Command::Redeem(args) = cli.command;
        assert_eq!(args.token.as_deref(), Some("td1.a.b"));
        assert_eq!(args.backend, Some(BackendKind::Samba));
        assert!(!args.dry_run);
    }

    #[test]
    fn flags_parse() {
        let cli = Cli::try_parse_from([
            "trustdesk-client",
            "redeem",
            "--dry-run",
            "--portal",
            "https://p.example.test",
            "--public-key",
            "a:b",
            "--public-key",
            "c:d",
            "--ca-file",
            "/ca.pem",
            "--config",
            "/c.toml",
        ])
        .unwrap();
        let Command::Redeem(args) = cli.command;
        assert!(args.dry_run);
        assert_eq!(args.public_keys, vec!["a:b", "c:d"]);
        assert_eq!(args.portal_url.as_deref(), Some("https://p.example.test"));
        assert_eq!(cli.config.as_deref(), Some(std::path::Path::new("/c.toml")));
        assert!(Cli::try_parse_from(["trustdesk-client", "redeem", "--backend", "macos"]).is_err());
    }

    #[test]
    fn a_short_code_parses_as_the_token_argument() {
        let cli = Cli::try_parse_from(["trustdesk-client", "redeem", "K7QF-M2XD-9PWA"]).unwrap();
        let Command::Redeem(args) = cli.command;
        assert_eq!(args.token.as_deref(), Some("K7QF-M2XD-9PWA"));
        assert!(!args.dry_run);
        // Typed with spaces, as one quoted argument.
        let cli = Cli::try_parse_from(["trustdesk-client", "redeem", "k7qf m2xd 9pwa"]).unwrap();
        let Command::Redeem(args) = cli.command;
        assert_eq!(args.token.as_deref(), Some("k7qf m2xd 9pwa"));
    }

    #[test]
    fn help_lists_exit_codes() {
        let help = Cli::command().render_long_help().to_string();
        assert!(help.contains("Exit codes:"), "{help}");
        assert!(help.contains("10  repair done"), "{help}");
    }
}

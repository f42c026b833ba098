//! The `trustdesk` command line: the clap structs only; `main.rs` runs them.

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "trustdesk",
    version,
    about = "Diagnose and repair broken AD computer secure channels"
)]
pub struct Cli {
    /// TOML configuration file (environment: TRUSTDESK_CONFIG).
    #[arg(long, short, env = "TRUSTDESK_CONFIG", global = true)]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Migrate the database and serve the portal.
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Validate the configuration; unless --offline, also reach every DC over TLS and review
    /// the sign-in provider's discovery document and keys.
    CheckConfig {
        #[arg(long)]
        offline: bool,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The key that signs the audit chain head (kept outside the database).
    AuditKey {
        #[command(subcommand)]
        command: AuditKeyCommand,
    },
    /// The keys that sign repair tokens.
    TokenKey {
        #[command(subcommand)]
        command: TokenKeyCommand,
    },
    /// Fleet health: scan every computer account and report the at-risk ones.
    Fleet {
        #[command(subcommand)]
        command: FleetCommand,
    },
    /// API keys for ticketing automation (each bound to one role).
    ApiKey {
        #[command(subcommand)]
        command: ApiKeyCommand,
    },
    /// Staff sessions: who is signed in, and ending a person's sessions at once.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Print the OpenAPI document of `/api/v1` (JSON) on stdout. Needs no configuration.
    Openapi,
}

#[derive(Subcommand)]
pub enum AuditKeyCommand {
    /// Print the audit public key (base64url): store it away from the database, and give it
    /// to `audit verify --key`.
    Public,
}

#[derive(Subcommand)]
pub enum TokenKeyCommand {
    /// Make a new current key in `<data_dir>/token-keys`; the old one keeps verifying until
    /// its tokens have expired. Restart every portal instance to sign with the new key.
    Rotate,
}

#[derive(Subcommand)]
pub enum SessionsCommand {
    /// List live sign-ins (never the session ids).
    List {
        /// Only this person's (the provider's `sub`).
        #[arg(long)]
        user: Option<String>,
    },
    /// End every session of a person now (audited).
    Revoke {
        /// The provider's `sub` of the person.
        #[arg(long)]
        user: String,
    },
}

#[derive(Subcommand)]
pub enum ApiKeyCommand {
    /// Create a key and print it once.
    Create {
        #[arg(long)]
        name: String,
        /// A role defined in the configuration.
        #[arg(long)]
        role: String,
        /// The key stops working this many days from now (default: never).
        #[arg(long, value_parser = clap::value_parser!(u32).range(1..=3650))]
        expires_days: Option<u32>,
    },
    /// List keys (names, roles, created, expires, last used, state; never the keys).
    List,
    /// Revoke a key by name (audited).
    Revoke { name: String },
}

#[derive(Subcommand)]
pub enum FleetCommand {
    /// Scan now (progress on a terminal), store the report, and print its at-risk computers.
    Scan {
        #[arg(long, value_enum, default_value = "json")]
        format: FleetFormat,
        /// Write the report here instead of standard output.
        #[arg(long, short)]
        output: Option<PathBuf>,
    },
}

#[derive(Clone, Copy, clap::ValueEnum)]
pub enum FleetFormat {
    Json,
    Csv,
}

#[derive(Subcommand)]
pub enum AuditCommand {
    /// Check every link of the hash chain and print the chain head.
    Verify {
        /// A chain head noted earlier, as SEQ:HASH: also prove it is still in the chain.
        #[arg(long)]
        head: Option<String>,
        /// The audit public key (base64, or a file holding it), from outside the database:
        /// also check every signed head. Repeat it for keys used before a key change.
        /// (A base64url key may begin with '-': it is still taken as the value.)
        #[arg(long, allow_hyphen_values = true)]
        key: Vec<String>,
    },
}

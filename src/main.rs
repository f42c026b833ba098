//! The `trustdesk` command: `serve`, `migrate`, `check-config`, `audit verify`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use trustdesk::config::Config;

#[derive(Parser)]
#[command(
    name = "trustdesk",
    version,
    about = "Diagnose and repair broken AD computer secure channels"
)]
struct Cli {
    /// TOML configuration file (environment: TRUSTDESK_CONFIG).
    #[arg(long, short, env = "TRUSTDESK_CONFIG", global = true)]
    config: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Migrate the database and serve the portal.
    Serve,
    /// Apply the database migrations and exit.
    Migrate,
    /// Validate the configuration; unless --offline, also reach every DC over TLS.
    CheckConfig {
        #[arg(long)]
        offline: bool,
    },
    /// The audit log.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every link of the hash chain and print the chain head.
    Verify,
}

fn main() -> ExitCode {
    // One rustls provider everywhere (aws-lc-rs), installed before anything builds a TLS config.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(dispatch(cli)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => fail(&msg),
    }
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("trustdesk: error: {msg}");
    ExitCode::from(2)
}

async fn dispatch(cli: Cli) -> Result<(), String> {
    let cfg = Config::load(cli.config.as_deref()).map_err(|e| e.to_string())?;
    trustdesk::telemetry::init(&cfg.log);
    match cli.command {
        Command::Serve => trustdesk::run(cfg).await.map_err(|e| e.to_string()),
        Command::Migrate => {
            cfg.validate().map_err(|e| e.to_string())?;
            let store = trustdesk::db::Store::connect(&trustdesk::database_url(&cfg))
                .await
                .map_err(|e| e.to_string())?;
            store.migrate().await.map_err(|e| e.to_string())?;
            println!("migrations applied ({})", store.backend());
            Ok(())
        }
        Command::CheckConfig { offline } => check_config(cfg, offline).await,
        Command::Audit {
            command: AuditCommand::Verify,
        } => {
            let store = trustdesk::db::Store::connect(&trustdesk::database_url(&cfg))
                .await
                .map_err(|e| e.to_string())?;
            let head = trustdesk::audit::verify(&store)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "audit chain OK: {} rows; head seq {} hash {}",
                head.rows, head.seq, head.hash
            );
            Ok(())
        }
    }
}

async fn check_config(cfg: Config, offline: bool) -> Result<(), String> {
    cfg.validate().map_err(|e| e.to_string())?;
    if !offline {
        let dir = trustdesk::directory::Directory::new(&cfg.ldap).map_err(|e| e.to_string())?;
        let mut failed = Vec::new();
        for (url, result) in dir.probe_all().await {
            match result {
                Ok(()) => println!("ok: {url} (TLS verified, service account bound)"),
                Err(e) => failed.push(format!("ldap.urls: {e}")),
            }
        }
        if !failed.is_empty() {
            return Err(failed.join("; "));
        }
    }
    println!("configuration OK");
    Ok(())
}

//! The `trustdesk` command: `serve`, `migrate`, `check-config`, `audit verify`, `fleet scan`,
//! `api-key`, `sessions`.

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
}

#[derive(Subcommand)]
enum SessionsCommand {
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
enum ApiKeyCommand {
    /// Create a key and print it once.
    Create {
        #[arg(long)]
        name: String,
        /// A role defined in the configuration.
        #[arg(long)]
        role: String,
    },
    /// List keys (names, roles, state; never the keys).
    List,
    /// Revoke a key by name.
    Revoke { name: String },
}

#[derive(Subcommand)]
enum FleetCommand {
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
enum FleetFormat {
    Json,
    Csv,
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Check every link of the hash chain and print the chain head.
    Verify {
        /// A chain head noted earlier, as SEQ:HASH: also prove it is still in the chain.
        #[arg(long)]
        head: Option<String>,
    },
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
            let store = open_store(&cfg).await?;
            println!("migrations applied ({})", store.backend());
            Ok(())
        }
        Command::ApiKey { command } => api_key(cfg, command).await,
        Command::Fleet {
            command: FleetCommand::Scan { format, output },
        } => fleet_scan(cfg, format, output).await,
        Command::CheckConfig { offline } => check_config(cfg, offline).await,
        Command::Sessions { command } => sessions(&cfg, command).await,
        Command::Audit {
            command: AuditCommand::Verify { head },
        } => {
            let recorded = match head.as_deref() {
                Some(h) => {
                    let (seq, hash) = h.split_once(':').ok_or("--head: expected SEQ:HASH")?;
                    let seq = seq
                        .parse::<i64>()
                        .map_err(|_| "--head: SEQ must be a number")?;
                    Some((seq, hash.to_string()))
                }
                None => None,
            };
            let store = open_store(&cfg).await?;
            let expected = recorded.as_ref().map(|(s, h)| (*s, h.as_str()));
            let head = trustdesk::audit::verify_with_head(&store, expected)
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

async fn open_store(cfg: &Config) -> Result<trustdesk::db::Store, String> {
    let store = trustdesk::db::Store::connect(&trustdesk::database_url(cfg))
        .await
        .map_err(|e| e.to_string())?;
    store.migrate().await.map_err(|e| e.to_string())?;
    Ok(store)
}

async fn api_key(cfg: Config, command: ApiKeyCommand) -> Result<(), String> {
    let store = open_store(&cfg).await?;
    match command {
        ApiKeyCommand::Create { name, role } => {
            if !cfg.roles.contains_key(&role) {
                return Err(format!("--role: no role {role:?} in the configuration"));
            }
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                return Err("--name: 1-64 characters of letters, digits, '-', '_' or '.'".into());
            }
            let key = trustdesk::auth::api_keys::create(&store, &name, &role)
                .await
                .map_err(|e| e.to_string())?;
            eprintln!("API key {name:?} (role {role}) created. It is shown once; store it now:");
            println!("{key}");
        }
        ApiKeyCommand::List => {
            for k in store.api_keys().await.map_err(|e| e.to_string())? {
                let state = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!("{}\t{}\t{}\t{}", k.name, k.role, k.created_at, state);
            }
        }
        ApiKeyCommand::Revoke { name } => {
            let now = time::OffsetDateTime::now_utc();
            if !store
                .revoke_api_key(&name, now)
                .await
                .map_err(|e| e.to_string())?
            {
                return Err(format!("no active API key named {name:?}"));
            }
            println!("API key {name:?} revoked");
        }
    }
    Ok(())
}

async fn fleet_scan(
    cfg: Config,
    format: FleetFormat,
    output: Option<PathBuf>,
) -> Result<(), String> {
    use trustdesk::fleet;
    cfg.validate().map_err(|e| e.to_string())?;
    let store = open_store(&cfg).await?;
    let directory = trustdesk::directory::Directory::new(&cfg.ldap).map_err(|e| e.to_string())?;
    let ctx = fleet::ScanContext {
        directory: std::sync::Arc::new(directory),
        store: store.clone(),
        policy: std::sync::Arc::new(trustdesk::policy::Policy::from_config(&cfg)),
        settings: trustdesk::lookup::settings(&cfg),
        scopes: fleet::scopes(&cfg),
        page_size: cfg.fleet.page_size,
    };
    // The bar draws on stderr only when it is a terminal (cron and pipes get none).
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} computers, {per_sec}, {eta} left",
        )
        .map_err(|e| e.to_string())?
        .progress_chars("=> "),
    );
    let on_progress = |p: &fleet::Progress| {
        if let Some(total) = p.estimate {
            bar.set_length(total.max(p.scanned));
        }
        bar.set_position(p.scanned);
        bar.set_message(p.dc.clone().unwrap_or_default());
    };
    let jobs = fleet::FleetJobs::default();
    let grant = trustdesk::policy::Grant::for_service();
    let (id, result) = jobs
        .run(&grant, &ctx, "cli", &on_progress)
        .await
        .map_err(|e| e.to_string())?;
    bar.finish_and_clear();
    let event = trustdesk::audit::event(
        "fleet_scan",
        if result.is_ok() { "complete" } else { "failed" },
    )
    .target_name(&format!("fleet report {id}"))
    .reason("trustdesk fleet scan (CLI)");
    trustdesk::audit::record(&store, &event)
        .await
        .map_err(|e| e.to_string())?;
    let outcome = result.map_err(|e| format!("fleet scan (report {id}) failed: {e}"))?;
    let view = fleet::report::load(&store, &fleet::report::Viewer::Service, Some(id))
        .await
        .map_err(|e| e.to_string())?
        .ok_or("the report was not stored")?;
    let text = match format {
        FleetFormat::Json => fleet::export::json(&view.scan, &view.counts, &view.rows) + "\n",
        FleetFormat::Csv => fleet::export::csv(&view.rows),
    };
    match output {
        Some(path) => {
            std::fs::write(&path, text).map_err(|e| format!("--output {}: {e}", path.display()))?
        }
        None => print!("{text}"),
    }
    eprintln!(
        "fleet report {id}: {} computers scanned on {}, {} at risk",
        outcome.scanned, outcome.dc, outcome.at_risk
    );
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    Ok(())
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
        for f in trustdesk::auth::oidc::check::check_provider(&cfg.oidc).await {
            use trustdesk::auth::oidc::check::Level;
            match f.level {
                Level::Ok => println!("ok: {}", f.line),
                Level::Warning => println!("warning: {}", f.line),
                Level::Error => failed.push(f.line),
            }
        }
        if !failed.is_empty() {
            return Err(failed.join("; "));
        }
    }
    println!("configuration OK");
    Ok(())
}

async fn sessions(cfg: &Config, command: SessionsCommand) -> Result<(), String> {
    use trustdesk::db::LoginsOf;
    let store = open_store(cfg).await?;
    let backend = trustdesk::auth::sessions::SessionBackend::new(&store)
        .await
        .map_err(|e| e.to_string())?;
    let now = time::OffsetDateTime::now_utc();
    match command {
        SessionsCommand::List { user } => {
            let of = user.as_deref().map_or(LoginsOf::All, LoginsOf::Subject);
            let rows = backend
                .live_logins(&store, of, now)
                .await
                .map_err(|e| e.to_string())?;
            println!("sub\tname\tsigned in\tends at the latest");
            for r in &rows {
                println!(
                    "{}\t{}\t{}\t{}",
                    r.sub,
                    r.name.as_deref().unwrap_or("-"),
                    r.signed_in_at,
                    r.expires_at
                );
            }
            println!("{} session(s)", rows.len());
            Ok(())
        }
        SessionsCommand::Revoke { user } => {
            let ended = backend
                .end_logins(&store, LoginsOf::Subject(&user), now)
                .await
                .map_err(|e| e.to_string())?;
            let who = trustdesk::audit::Actor {
                sub: user.clone(),
                name: ended.first().and_then(|l| l.name.clone()),
                email: None,
                roles: Vec::new(),
            };
            trustdesk::audit::record(
                &store,
                &trustdesk::audit::event("sign_out", "success")
                    .actor(&who)
                    .reason(format!(
                        "sessions revoke (command line): {} session(s) ended",
                        ended.len()
                    )),
            )
            .await
            .map_err(|e| e.to_string())?;
            println!("ended {} session(s) of {user}", ended.len());
            Ok(())
        }
    }
}

//! The `trustdesk` command: `serve`, `migrate`, `check-config`, `audit verify`, `audit-key`,
//! `token-key`, `fleet scan`, `api-key`, `sessions`, `openapi`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use trustdesk::config::Config;

mod cli;

use cli::*;

fn main() -> ExitCode {
    // One rustls provider everywhere (aws-lc-rs), installed before anything builds a TLS config.
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => return fail(&format!("cannot start the runtime: {e}")),
    };
    let result = runtime.block_on(async {
        let result = dispatch(cli).await;
        close_stores().await;
        result
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// The databases this command opened. A statement's result can reach its caller before sqlx's
/// SQLite connection thread has finished with it, so a command that exited at once could
/// lose its last write (its audit event): [`close_stores`] closes them all before the exit.
static OPENED: std::sync::Mutex<Vec<trustdesk::db::Store>> = std::sync::Mutex::new(Vec::new());

/// Close every pool [`open_store`] opened, waiting for their connections to finish.
async fn close_stores() {
    let stores = match OPENED.lock() {
        Ok(mut opened) => std::mem::take(&mut *opened),
        Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
    };
    for store in stores {
        match store {
            trustdesk::db::Store::Sqlite(db) => db.pool.close().await,
            trustdesk::db::Store::Postgres(pool) => pool.close().await,
        }
    }
}

/// `trustdesk openapi`: the document `/api/v1/openapi.json` serves, on stdout.
fn print_openapi() -> anyhow::Result<()> {
    println!("{}", trustdesk::web::openapi_json()?);
    Ok(())
}

fn fail(msg: &str) -> ExitCode {
    eprintln!("trustdesk: error: {msg}");
    ExitCode::from(2)
}

async fn dispatch(cli: Cli) -> anyhow::Result<()> {
    // The OpenAPI document is the code's: it needs no configuration and no database.
    if let Command::Openapi = cli.command {
        return print_openapi();
    }
    let cfg = Config::load(cli.config.as_deref())?;
    trustdesk::telemetry::init(&cfg.log);
    match cli.command {
        Command::Serve => Ok(trustdesk::run(cfg).await?),
        Command::Migrate => {
            trustdesk::checks::validate(&cfg)?;
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
        Command::Openapi => print_openapi(),
        Command::AuditKey {
            command: AuditKeyCommand::Public,
        } => {
            use trustdesk::audit::key::{AuditKey, key_path};
            let path = key_path(&cfg);
            let key = AuditKey::load(&path)
                .map_err(|e| anyhow::anyhow!("{e} (the portal creates it on its first start)"))?;
            eprintln!(
                "audit public key {} (from {}):",
                key.public().key_id(),
                path.display()
            );
            println!("{}", key.public().to_b64());
            Ok(())
        }
        Command::TokenKey {
            command: TokenKeyCommand::Rotate,
        } => token_key_rotate(&cfg).await,
        Command::Audit {
            command: AuditCommand::Verify { head, key },
        } => {
            let keys = key
                .iter()
                .map(|k| trustdesk::audit::key::AuditPublicKey::from_arg(k))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| anyhow::anyhow!("--key: {e}"))?;
            let recorded = match head.as_deref() {
                Some(h) => {
                    let (seq, hash) = h
                        .split_once(':')
                        .ok_or_else(|| anyhow::anyhow!("--head: expected SEQ:HASH"))?;
                    let seq = seq
                        .parse::<i64>()
                        .map_err(|_| anyhow::anyhow!("--head: SEQ must be a number"))?;
                    Some((seq, hash.to_string()))
                }
                None => None,
            };
            let store = open_store(&cfg).await?;
            let expected = recorded.as_ref().map(|(s, h)| (*s, h.as_str()));
            let head = trustdesk::audit::verify_with_head(&store, expected).await?;
            println!(
                "audit chain OK: {} rows; head seq {} hash {}",
                head.rows, head.seq, head.hash
            );
            if !keys.is_empty() {
                let signed =
                    trustdesk::audit::checkpoint::verify_signed(&store, &keys, head.rows).await?;
                let newest = signed.newest.as_ref().map_or(0, |h| h.seq);
                println!(
                    "signed heads OK: {} checked under the key; the newest at seq {newest}; \
                     {} rows after it not signed yet",
                    signed.heads,
                    head.seq - newest
                );
                let every = trustdesk::audit::checkpoint::SignEvery::from_config(&cfg.audit);
                if let Some(w) =
                    trustdesk::audit::checkpoint::unsigned_tail(head.seq, newest, every)
                {
                    eprintln!("trustdesk: warning: {w}");
                }
            }
            Ok(())
        }
    }
}

async fn open_store(cfg: &Config) -> anyhow::Result<trustdesk::db::Store> {
    let store = trustdesk::db::Store::connect(&trustdesk::database_url(cfg)).await?;
    store.migrate().await?;
    if let Ok(mut opened) = OPENED.lock() {
        opened.push(store.clone());
    }
    Ok(store)
}

async fn api_key(cfg: Config, command: ApiKeyCommand) -> anyhow::Result<()> {
    use trustdesk::auth::api_keys;
    let store = open_store(&cfg).await?;
    let by = trustdesk::audit::command_line_actor();
    match command {
        ApiKeyCommand::Create {
            name,
            role,
            expires_days,
        } => {
            if !cfg.roles.contains_key(&role) {
                anyhow::bail!("--role: no role {role:?} in the configuration");
            }
            let valid = !name.is_empty()
                && name.len() <= 64
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
            if !valid {
                anyhow::bail!("--name: 1-64 characters of letters, digits, '-', '_' or '.'");
            }
            let key = api_keys::create_audited(&store, &name, &role, expires_days, &by).await?;
            eprintln!("API key {name:?} (role {role}) created. It is shown once; store it now:");
            println!("{key}");
        }
        ApiKeyCommand::List => {
            let now = trustdesk::clock::now();
            let when = |t: Option<time::OffsetDateTime>, none: &str| {
                t.map_or(none.to_string(), |t| t.to_string())
            };
            println!("name\trole\tcreated\texpires\tlast used\tstate");
            for k in store.api_keys().await? {
                println!(
                    "{}\t{}\t{}\t{}\t{}\t{}",
                    k.name,
                    k.role,
                    k.created_at,
                    when(k.expires_at, "never"),
                    when(k.last_used_at, "never"),
                    api_keys::KeyState::of(&k, now).as_str()
                );
            }
        }
        ApiKeyCommand::Revoke { name } => {
            if !api_keys::revoke_audited(&store, &name, &by).await? {
                anyhow::bail!("no active API key named {name:?}");
            }
            println!("API key {name:?} revoked");
        }
    }
    Ok(())
}

async fn token_key_rotate(cfg: &Config) -> anyhow::Result<()> {
    let store = open_store(cfg).await?;
    let by = trustdesk::audit::command_line_actor();
    let kid = trustdesk::repair::keys::rotate_audited(cfg, &store, &by).await?;
    println!("new token signing key {kid}; restart every portal instance to sign with it");
    Ok(())
}

async fn fleet_scan(
    cfg: Config,
    format: FleetFormat,
    output: Option<PathBuf>,
) -> anyhow::Result<()> {
    use trustdesk::fleet;
    trustdesk::checks::validate(&cfg)?;
    let store = open_store(&cfg).await?;
    let domains = trustdesk::directory::Domains::new(&cfg.domains)?;
    let lookups = trustdesk::lookup::Lookups::new(
        &cfg,
        std::sync::Arc::new(domains),
        store.clone(),
        std::sync::Arc::new(trustdesk::policy::Policy::from_config(&cfg)),
    );
    let ctx = fleet::ScanContext::new(&cfg, &lookups);
    // The bar draws on stderr only when it is a terminal (cron and pipes get none).
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template(
            "{spinner} {msg} [{bar:30}] {pos}/{len} computers, {per_sec}, {eta} left",
        )?
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
    let (id, result) = jobs.run(&grant, &ctx, "cli", &on_progress).await?;
    bar.finish_and_clear();
    let event = trustdesk::audit::event(
        trustdesk::audit::Action::FleetScan,
        trustdesk::audit::Outcome::of(result.is_ok()),
        trustdesk::clock::now(),
    )
    .target_name(&format!("fleet report {id}"))
    .reason("trustdesk fleet scan (CLI)");
    trustdesk::audit::record(&store, &event).await?;
    let outcome = result.map_err(|e| anyhow::anyhow!("fleet scan (report {id}) failed: {e}"))?;
    let view = fleet::report::load(&store, &fleet::report::Viewer::Service, Some(id))
        .await?
        .ok_or_else(|| anyhow::anyhow!("the report was not stored"))?;
    let text = match format {
        FleetFormat::Json => fleet::export::json(&view.scan, &view.counts, &view.rows) + "\n",
        FleetFormat::Csv => fleet::export::csv(&view.rows),
    };
    match output {
        Some(path) => std::fs::write(&path, text)
            .map_err(|e| anyhow::anyhow!("--output {}: {e}", path.display()))?,
        None => print!("{text}"),
    }
    eprintln!(
        "fleet report {id}: {} computers scanned on {}, {} at risk",
        outcome.scanned, outcome.dc, outcome.at_risk
    );
    for d in &outcome.domains {
        eprintln!(
            "domain {}: {} computers in {:.2} s on {}",
            d.domain,
            d.scanned,
            d.elapsed.as_secs_f64(),
            d.dc
        );
    }
    for note in &outcome.notes {
        eprintln!("note: {note}");
    }
    Ok(())
}

async fn check_config(cfg: Config, offline: bool) -> anyhow::Result<()> {
    trustdesk::checks::validate(&cfg)?;
    for w in trustdesk::checks::warnings(&cfg) {
        println!("warning: {w}");
    }
    if let Some(note) = cfg.single_ldap_note() {
        println!("note: {note}");
    }
    if !offline {
        let domains = trustdesk::directory::Domains::new(&cfg.domains)?;
        let mut failed = Vec::new();
        for (i, dir) in domains.iter().enumerate() {
            for (url, result) in dir.probe_all().await {
                match result {
                    Ok(()) => println!(
                        "ok: {url} ({}: TLS verified, service account bound)",
                        dir.dns_name()
                    ),
                    Err(e) => failed.push(format!("{}: {e}", cfg.domain_key(i, "urls"))),
                }
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
            anyhow::bail!("{}", failed.join("; "));
        }
    }
    println!("configuration OK");
    Ok(())
}

async fn sessions(cfg: &Config, command: SessionsCommand) -> anyhow::Result<()> {
    use trustdesk::db::LoginsOf;
    let store = open_store(cfg).await?;
    let backend = trustdesk::auth::sessions::SessionBackend::new(&store).await?;
    let now = trustdesk::clock::now();
    match command {
        SessionsCommand::List { user } => {
            let of = user.as_deref().map_or(LoginsOf::All, LoginsOf::Subject);
            let rows = backend.live_logins(&store, of, now).await?;
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
                .await?;
            let who = trustdesk::audit::Actor {
                sub: user.clone(),
                name: ended.first().and_then(|l| l.name.clone()),
                email: None,
                roles: Vec::new(),
            };
            trustdesk::audit::record(
                &store,
                &trustdesk::audit::event(
                    trustdesk::audit::Action::SignOut,
                    trustdesk::audit::Outcome::Success,
                    trustdesk::clock::now(),
                )
                .actor(&who)
                .reason(format!(
                    "sessions revoke (command line): {} session(s) ended",
                    ended.len()
                )),
            )
            .await?;
            println!("ended {} session(s) of {user}", ended.len());
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::{AuditCommand, Cli, Command};

    /// A base64url public key may begin with '-' (one in 64 does): it is `--key`'s value, not
    /// an unknown flag.
    #[test]
    fn a_key_beginning_with_a_dash_is_a_value() {
        let cli = Cli::try_parse_from([
            "trustdesk",
            "audit",
            "verify",
            "--key",
            "-rAbC",
            "--key",
            "x",
        ])
        .unwrap();
        let Command::Audit {
            command: AuditCommand::Verify { key, .. },
        } = cli.command
        else {
            panic!("audit verify")
        };
        assert_eq!(key, ["-rAbC", "x"]);
    }
}

//! trustdesk: diagnose and repair broken Active Directory computer secure channels.
//!
//! See `ARCHITECTURE.md` for the codemap and the invariants.

pub mod ad;
pub mod approvals;
pub mod audit;
pub mod auth;
pub mod checks;
pub mod clock;
pub mod config;
pub mod csv;
pub mod db;
pub mod diagnostics;
pub mod directory;
pub mod downloads;
pub mod errors;
pub mod fleet;
pub mod keyfile;
pub mod limits;
pub mod lookup;
pub mod pem;
pub mod policy;
pub mod repair;
pub mod telemetry;
pub mod web;
pub mod webhooks;

/// mimalloc, not glibc's malloc, for the portal and everything that links it (its binary,
/// benchmarks and tests): a lookup is about a thousand small allocations, and glibc's
/// malloc and free were a quarter of its instructions (BENCHMARKS.md, sessions 15 and 19).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::sync::{Arc, OnceLock};

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use secrecy::ExposeSecret;
use tokio::net::TcpListener;

use config::Config;
use db::Store;
use directory::Domains;
use web::AppState;

/// Why the portal could not start: one line, naming the part at fault.
#[derive(Debug, thiserror::Error)]
pub enum StartupError {
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    #[error(transparent)]
    Store(#[from] db::StoreError),
    #[error(transparent)]
    Directory(#[from] directory::DirectoryError),
    #[error(transparent)]
    Auth(#[from] auth::oidc::AuthError),
    #[error(transparent)]
    Keys(#[from] repair::keys::KeyError),
    #[error(transparent)]
    AuditKey(#[from] audit::key::AuditKeyError),
    #[error(transparent)]
    Downloads(#[from] downloads::DownloadsError),
    #[error("cannot listen on {addr}: {reason}")]
    Listen { addr: String, reason: String },
    #[error("server error: {0}")]
    Serve(#[from] std::io::Error),
    #[error("tls.cert_file / tls.key_file: {0}")]
    Tls(#[source] std::io::Error),
    #[error(transparent)]
    Webhooks(#[from] webhooks::WebhookError),
}

/// The process-wide Prometheus recorder (the `metrics` facade is global by design); built
/// once, so tests that start several apps in one process share it.
fn metrics_handle() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new().build_recorder();
            let handle = recorder.handle();
            // Fails only if another recorder is installed; the handle then renders ours, empty.
            let _ = metrics::set_global_recorder(recorder);
            handle
        })
        .clone()
}

/// The database URL in force: the configured one, else a SQLite file in the data directory.
pub fn database_url(cfg: &Config) -> String {
    cfg.database_url
        .as_ref()
        .map(|s| s.expose_secret().to_string())
        .unwrap_or_else(|| db::default_url(&cfg.data_dir))
}

/// Validate the configuration, open and migrate the database, and prepare the directory.
pub async fn build(cfg: Config) -> Result<AppState, StartupError> {
    checks::validate(&cfg)?;
    for warning in checks::warnings(&cfg) {
        tracing::warn!("{warning}");
    }
    let store = Store::connect(&database_url(&cfg)).await?;
    store.migrate().await?;
    let sessions = auth::sessions::SessionBackend::new(&store).await?;
    let domains = Arc::new(Domains::new(&cfg.domains)?);
    let oidc = auth::oidc::Oidc::new(&cfg.oidc, &cfg.public_url)?;
    let token_keys = repair::keys::TokenKeys::load(&cfg)?;
    let audit_key = audit::key::AuditKey::load_or_create(&audit::key::key_path(&cfg))?;
    let downloads = downloads::Downloads::load(&cfg, token_keys.verifying())?;
    let policy = Arc::new(policy::Policy::from_config(&cfg));
    let limits = Arc::new(limits::Limits::new(&cfg.limits, std::time::Instant::now()));
    let lookups = lookup::Lookups::new(&cfg, domains.clone(), store.clone(), policy.clone());
    let repairs = repair::Repairs {
        store: store.clone(),
        domains: domains.clone(),
        policy: policy.clone(),
        token_keys: Arc::new(token_keys),
        code_guard: Arc::new(repair::code_guard::CodeGuard::new(std::time::Instant::now())),
        tokens: cfg.tokens.clone(),
        public_url: cfg.public_url.trim_end_matches('/').to_string(),
        limits: limits.clone(),
    };
    let scan = fleet::ScanContext::new(&cfg, &lookups);
    Ok(AppState::new(web::AppParts {
        policy,
        lookups,
        repairs,
        scan,
        audit_key: Arc::new(audit_key),
        config: Arc::new(cfg),
        api_keys: Arc::new(auth::api_keys::ApiKeys::new(store.clone())),
        store,
        sessions,
        domains,
        oidc: Arc::new(oidc),
        metrics: metrics_handle(),
        fleet: fleet::FleetJobs::default(),
        downloads: downloads.map(Arc::new),
        shown_once: Arc::default(),
        resets_done: Arc::default(),
        limits,
    }))
}

/// Serve `state` on an already-bound listener until ctrl-c / SIGTERM: HTTPS when `[tls]` is
/// configured, else plain HTTP (behind a TLS-terminating proxy).
pub async fn serve(listener: TcpListener, state: AppState) -> Result<(), StartupError> {
    let tls = state
        .config
        .tls
        .as_ref()
        .map(|t| (t.cert_file.clone(), t.key_file.clone()));
    fleet::spawn_schedule(&state.fleet, &state.scan, state.config.fleet.schedule_hours);
    audit::checkpoint::spawn(
        state.store.clone(),
        state.audit_key.clone(),
        audit::checkpoint::SignEvery::from_config(&state.config.audit),
    );
    repair::watch::spawn(&state.repairs);
    web::limits::spawn_shared_sweep(state.store.clone());
    // Runs until serve returns (dropping it stops the dispatcher and the sender).
    let _webhooks = match webhooks::Webhooks::new(
        &state.config.webhooks,
        state.store.clone(),
        webhooks::Timing::default(),
    )? {
        Some(hooks) => Some(hooks.start().await.map_err(webhooks::WebhookError::from)?),
        None => None,
    };
    let app = web::app(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let Some((cert, key)) = tls else {
        return axum::serve(listener, app)
            .with_graceful_shutdown(shutdown_signal())
            .await
            .map_err(StartupError::Serve);
    };
    let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&cert, &key)
        .await
        .map_err(StartupError::Tls)?;
    let listener = listener.into_std().map_err(StartupError::Serve)?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        shutdown_signal().await;
        stopper.graceful_shutdown(Some(std::time::Duration::from_secs(10)));
    });
    axum_server::from_tcp_rustls(listener, config)
        .map_err(StartupError::Serve)?
        .handle(handle)
        .serve(app)
        .await
        .map_err(StartupError::Serve)
}

/// `trustdesk serve`: build, report the directory's state, bind, serve.
pub async fn run(cfg: Config) -> Result<(), StartupError> {
    let listen = cfg.listen;
    let state = build(cfg).await?;
    audit::record(
        &state.store,
        &audit::event(
            audit::Action::ConfigLoad,
            audit::Outcome::Success,
            crate::clock::now(),
        )
        .reason(format!("database {}", state.store.backend())),
    )
    .await?;
    tokio::spawn(
        state
            .sessions
            .clone()
            .sweep(state.store.clone(), std::time::Duration::from_secs(600)),
    );
    for dir in state.domains.iter() {
        for (url, result) in dir.probe_all().await {
            let domain = dir.dns_name();
            match result {
                Ok(()) => {
                    tracing::info!(domain, dc.url = %url, "domain controller reachable over TLS")
                }
                Err(e) => {
                    tracing::error!(domain, dc.url = %url, error = %e, "domain controller unavailable")
                }
            }
        }
    }
    let listener = TcpListener::bind(listen)
        .await
        .map_err(|e| StartupError::Listen {
            addr: listen.to_string(),
            reason: e.to_string(),
        })?;
    tracing::info!(addr = %listen, "trustdesk listening");
    serve(listener, state).await
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = term => {} }
}

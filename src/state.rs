//! The application state shared by every request: cheap to clone, no globals.

use std::sync::Arc;

use crate::auth::oidc::Oidc;
use crate::auth::sessions::SessionBackend;
use crate::config::Config;
use crate::db::Store;
use crate::diagnostics::DiagnosisSettings;
use crate::directory::Directory;
use crate::policy::Policy;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub sessions: SessionBackend,
    pub directory: Arc<Directory>,
    pub oidc: Arc<Oidc>,
    pub policy: Arc<Policy>,
    pub diagnosis: DiagnosisSettings,
    pub token_keys: Arc<crate::repair::keys::TokenKeys>,
    /// Signs the audit chain head (never stored in the database).
    pub audit_key: Arc<crate::audit::key::AuditKey>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The fleet scan this process runs.
    pub fleet: crate::fleet::FleetJobs,
    /// The companion client served at `/downloads/`, when configured.
    pub downloads: Option<Arc<crate::downloads::Downloads>>,
    /// Minted tokens and reset results waiting for the page that shows them once.
    pub shown_once:
        Arc<crate::repair::shown_once::ShownOnce<crate::repair::shown_once::ShownToken>>,
    pub resets_done:
        Arc<crate::repair::shown_once::ShownOnce<crate::repair::shown_once::ShownReset>>,
    /// The limits on guessing short repair codes (this process's share).
    pub code_guard: Arc<crate::repair::code_guard::CodeGuard>,
    /// The per-client rate limits of the routes anyone can reach (this process's share).
    pub limits: Arc<crate::limits::Limits>,
}

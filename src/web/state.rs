//! The application state every handler sees: the web layer's own parts (sessions, the OIDC
//! client, pages held for one showing, per-client limits) and the capabilities' services,
//! built once by `lib::build`. Cheap to clone, no globals. Only `web/` sees it: capabilities
//! take their own narrow service ([`crate::lookup::Lookups`], [`crate::repair::Repairs`],
//! [`crate::fleet::ScanContext`]).

use std::sync::Arc;

use crate::auth::oidc::Oidc;
use crate::auth::sessions::SessionBackend;
use crate::config::Config;
use crate::db::Store;
use crate::directory::Domains;
use crate::policy::Policy;

/// The state, shared: one `Arc`, so the clone that every request makes of it (axum's `State`,
/// each middleware that takes it) is one reference count, not one per service in it.
#[derive(Clone)]
pub struct AppState(Arc<AppParts>);

impl AppState {
    pub fn new(parts: AppParts) -> Self {
        Self(Arc::new(parts))
    }
}

impl std::ops::Deref for AppState {
    type Target = AppParts;
    fn deref(&self) -> &AppParts {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct AppParts {
    pub config: Arc<Config>,
    pub store: Store,
    pub sessions: SessionBackend,
    /// API keys, checked against the keys' generation (`auth::api_keys::ApiKeys`).
    pub api_keys: Arc<crate::auth::api_keys::ApiKeys>,
    /// The managed domains, one directory each.
    pub domains: Arc<Domains>,
    pub oidc: Arc<Oidc>,
    pub policy: Arc<Policy>,
    /// Lookup and diagnosis.
    pub lookups: crate::lookup::Lookups,
    /// Resets, tokens, redeems.
    pub repairs: crate::repair::Repairs,
    /// What a fleet scan reads and writes, and the scan this process runs.
    pub scan: crate::fleet::ScanContext,
    pub fleet: crate::fleet::FleetJobs,
    /// Signs the audit chain head (never stored in the database).
    pub audit_key: Arc<crate::audit::key::AuditKey>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The companion client served at `/downloads/`, when configured.
    pub downloads: Option<Arc<crate::downloads::Downloads>>,
    /// Minted tokens and reset results waiting for the page that shows them once.
    pub shown_once:
        Arc<crate::repair::shown_once::ShownOnce<crate::repair::shown_once::ShownToken>>,
    pub resets_done:
        Arc<crate::repair::shown_once::ShownOnce<crate::repair::shown_once::ShownReset>>,
    /// The per-client rate limits of the routes anyone can reach (this process's share).
    pub limits: Arc<crate::limits::Limits>,
}

//! The application state shared by every request: cheap to clone, no globals.

use std::sync::Arc;

use crate::config::Config;
use crate::db::Store;
use crate::directory::Directory;

#[derive(Clone)]
pub struct AppState {
    pub config: Arc<Config>,
    pub store: Store,
    pub directory: Arc<Directory>,
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
}

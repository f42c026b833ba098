//! The LDAP client: one bound, reused connection per domain controller, DCs tried in the
//! configured order, LDAPS or StartTLS only, every operation under a timeout.
//!
//! ldap3's `Ldap` handle multiplexes concurrent operations over one connection, so a single
//! connection per DC serves every request; a failed connection is dropped and rebuilt on the
//! next use.
//!
//! Timeouts: ldap3's `with_timeout` arms only the *next* operation on a handle, so arming it
//! once at connect time bounds the bind and nothing after. Instead, the connect (TCP + TLS) runs
//! under `connect_timeout`, and each unit of work handed to [`Directory::with_first_dc`] or
//! [`Directory::on_each_dc`] runs under `op_timeout` as a whole. A DC that accepts connections
//! but stops answering is therefore given up on (its connection dropped) and the next DC tried,
//! instead of holding the request until the HTTP timeout.
//!
//! A DC that failed that way then rests for `retry_after_secs`: reads go straight to the next
//! DC instead of paying a timeout again on every request (a powered-off DC whose packets are
//! dropped costs the whole `connect_timeout` per try). It is tried again after the rest, or at
//! once when every other DC fails too.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ldap3::{Ldap, LdapConnAsync, LdapConnSettings, LdapError, StdStream};
use secrecy::{ExposeSecret, SecretString};
use tokio::sync::Mutex;
use url::Url;

use super::DirectoryError;
use crate::config::LdapConfig;

/// What the portal needs to reach the directory, derived once from [`LdapConfig`].
pub struct Directory {
    /// The domain's DNS name, lower case (`LdapConfig::domain_dns`): its key among the
    /// managed domains.
    dns_name: String,
    /// The NetBIOS name configured for it (`name`), if any; else it is read (`domain_names`).
    netbios: Option<String>,
    /// The preferred DCs, in order: searches and writes go to these (`ldap.urls`, then the
    /// DCs that DNS names with `dns_srv`: `locator.rs`).
    pub(super) dcs: super::locator::Preferred,
    base_dn: String,
    bind_dn: String,
    bind_password: SecretString,
    tls: Arc<rustls::ClientConfig>,
    starttls: bool,
    connect_timeout: Duration,
    op_timeout: Duration,
    pub(super) retry_after: Duration,
    pub(super) discover_dcs: bool,
    pub(super) exclude_dcs: Vec<String>,
    pub(super) discovery_refresh: Duration,
    /// The DCs found in the directory beyond the configured ones (see `discovery.rs`).
    pub(super) discovery: Mutex<Option<super::discovery::Discovered>>,
    pub(super) deleted_objects: super::tombstones::DeletedObjectsDn,
    pub(super) domain_names: Mutex<Option<super::discovery::DomainNames>>,
    /// DC invocation ids (see `computers.rs`), with the time they were read.
    pub(super) invocation_cache: Mutex<Option<(std::time::Instant, InvocationIds)>>,
    /// `ldap.protected_groups` as configured (DNs or SIDs), and resolved (`membership.rs`).
    pub(super) protected_group_names: Vec<String>,
    pub(super) protected_group_sids: Mutex<Option<Vec<super::membership::ProtectedGroup>>>,
    /// DNS names the unindexed fallback search did not find, and when (`computers.rs`).
    pub(super) fallback_misses: Mutex<HashMap<String, Instant>>,
    /// Privileges a lookup read, by objectGUID, with when (`membership.rs`).
    pub(super) privilege_cache: Mutex<HashMap<uuid::Uuid, PrivilegeSeen>>,
}

/// What a lookup read of an object's privileges: when, its groups, its delegation to DCs.
pub(super) type PrivilegeSeen = (Instant, crate::ad::tier0::GroupCheck, Vec<String>);

type InvocationIds = std::collections::HashMap<uuid::Uuid, String>;

pub(super) struct DcConnection {
    pub(super) url: String,
    state: Mutex<DcState>,
    /// The DC's own name (rootDSE `dnsHostName`), once read.
    pub(super) host_name: Mutex<Option<String>>,
}

impl DcConnection {
    pub(super) fn new(url: String) -> Self {
        Self {
            url,
            state: Mutex::new(DcState::default()),
            host_name: Mutex::new(None),
        }
    }
}

#[derive(Default)]
struct DcState {
    ldap: Option<Ldap>,
    /// Set when the DC last failed at the connection level: until then it is not tried
    /// unless every other DC fails.
    resting_until: Option<Instant>,
}

/// One try of a unit of work on one DC.
enum Attempt<T> {
    /// The DC answered: the value, or the directory's own error.
    Answered(Result<(String, T), DirectoryError>),
    /// The DC could not be reached or stopped answering.
    Failed(String),
    /// Not tried: the DC is resting after a recent failure.
    Resting,
}

/// The rootDSE attributes `/readyz` and `check-config` report.
#[derive(Debug, Clone, serde::Serialize)]
pub struct RootDse {
    pub dc_url: String,
    pub dns_host_name: Option<String>,
    pub default_naming_context: Option<String>,
    pub server_name: Option<String>,
}

impl Directory {
    pub fn new(cfg: &LdapConfig) -> Result<Self, DirectoryError> {
        let tls = super::tls::client_config(cfg.ca_file.as_deref())
            .map_err(|e| DirectoryError::Config(e.to_string()))?;
        let bind_password = cfg
            .bind_password
            .clone()
            .ok_or_else(|| DirectoryError::Config("ldap.bind_password is missing".into()))?;
        Ok(Self {
            dns_name: cfg.domain_dns(),
            netbios: cfg.name.as_ref().map(|n| n.to_ascii_uppercase()),
            dcs: super::locator::Preferred::new(cfg),
            base_dn: cfg.base_dn.clone(),
            bind_dn: cfg.bind_dn.clone(),
            bind_password,
            tls,
            starttls: cfg.starttls,
            connect_timeout: Duration::from_secs(cfg.connect_timeout_secs),
            op_timeout: Duration::from_secs(cfg.op_timeout_secs),
            retry_after: Duration::from_secs(cfg.retry_after_secs),
            discover_dcs: cfg.discover_dcs,
            exclude_dcs: cfg.exclude_dcs.clone(),
            discovery_refresh: Duration::from_secs(cfg.discovery_refresh_secs),
            discovery: Mutex::new(None),
            deleted_objects: Mutex::new(None),
            domain_names: Mutex::new(None),
            invocation_cache: Mutex::new(None),
            protected_group_names: cfg.protected_groups.clone(),
            protected_group_sids: Mutex::new(None),
            fallback_misses: Mutex::new(HashMap::new()),
            privilege_cache: Mutex::new(HashMap::new()),
        })
    }

    /// The domain's DNS name, lower case: its key among the managed domains.
    pub fn dns_name(&self) -> &str {
        &self.dns_name
    }

    /// The domain's NetBIOS name as configured, upper case (none for a single `[ldap]`).
    pub fn configured_netbios(&self) -> Option<&str> {
        self.netbios.as_deref()
    }

    pub fn base_dn(&self) -> &str {
        &self.base_dn
    }

    /// Open, secure and bind a fresh connection to one DC.
    async fn connect(&self, url: &str) -> Result<Ldap, DirectoryError> {
        let parsed = Url::parse(url).map_err(|e| DirectoryError::Config(format!("{url}: {e}")))?;
        let starttls = match parsed.scheme() {
            "ldaps" => false,
            "ldap" if self.starttls => true,
            // Never bind, let alone set a password, over an unencrypted connection.
            _ => return Err(DirectoryError::Insecure { url: url.into() }),
        };
        let settings = LdapConnSettings::new()
            .set_conn_timeout(self.connect_timeout)
            .set_starttls(starttls)
            .set_config(self.tls.clone());
        let open = async {
            let tcp = match self.addresses(&parsed).await {
                Some(addrs) => super::locator::open_tcp_to(&addrs.map_err(LdapError::from)?).await,
                None => super::locator::open_tcp(&parsed).await,
            }
            .map_err(LdapError::from)?;
            LdapConnAsync::with_settings(settings.set_std_stream(StdStream::Tcp(tcp)), url).await
        };
        let (conn, mut ldap) = tokio::time::timeout(self.connect_timeout, open)
            .await
            .map_err(|_| DirectoryError::Timeout { url: url.into() })?
            .map_err(|e| classify(url, e))?;
        ldap3::drive!(conn);
        ldap.with_timeout(self.op_timeout);
        let bind = ldap
            .simple_bind(&self.bind_dn, self.bind_password.expose_secret())
            .await
            .map_err(|e| classify(url, e))?;
        bind.success().map_err(|e| match e {
            LdapError::LdapResult { result } if result.rc == 49 => {
                DirectoryError::BindRefused { url: url.into() }
            }
            other => classify(url, other),
        })?;
        Ok(ldap)
    }

    /// A fresh connection of its own to the DC at `url` (a configured or discovered DC).
    pub async fn connect_url(&self, url: &str) -> Result<Ldap, DirectoryError> {
        self.connect(url).await
    }

    /// How many preferred DCs there are, as last located.
    pub fn dc_count(&self) -> usize {
        self.dcs.now().len()
    }

    /// The cached connection to `dc`, connecting first when there is none. A resting DC is
    /// not connected to unless `even_if_resting`.
    async fn handle(
        &self,
        dc: &DcConnection,
        even_if_resting: bool,
    ) -> Result<Ldap, DirectoryError> {
        let mut state = dc.state.lock().await;
        if let Some(ldap) = state.ldap.as_mut()
            && !ldap.is_closed()
        {
            return Ok(ldap.clone());
        }
        if let Some(until) = state.resting_until
            && !even_if_resting
            && until > Instant::now()
        {
            return Err(DirectoryError::Resting {
                url: dc.url.clone(),
                secs: until.saturating_duration_since(Instant::now()).as_secs() + 1,
            });
        }
        match self.connect(&dc.url).await {
            Ok(ldap) => {
                *state = DcState {
                    ldap: Some(ldap.clone()),
                    resting_until: None,
                };
                Ok(ldap)
            }
            Err(e) => {
                state.resting_until = self.rest_until();
                count_failure(&dc.url, "connect");
                Err(e)
            }
        }
    }

    /// Drop `dc`'s connection after a connection-level failure and let the DC rest.
    async fn fail(&self, dc: &DcConnection) {
        count_failure(&dc.url, "operation");
        *dc.state.lock().await = DcState {
            ldap: None,
            resting_until: self.rest_until(),
        };
    }

    /// When a DC that fails now may be tried first again (`None`: past any `Instant`, which
    /// config validation prevents; the DC then does not rest rather than panic).
    fn rest_until(&self) -> Option<Instant> {
        Instant::now().checked_add(self.retry_after)
    }

    /// Run `op` on the first DC that answers, in configured order, resting DCs last.
    /// Connection-level failures move on to the next DC; an LDAP result error is the
    /// directory's answer and returned.
    pub async fn with_first_dc<T, F, Fut>(&self, op: F) -> Result<(String, T), DirectoryError>
    where
        F: Fn(Ldap) -> Fut,
        Fut: std::future::Future<Output = Result<T, LdapError>>,
    {
        let dcs = self.preferred().await?;
        let (mut failures, mut resting) = (Vec::new(), Vec::new());
        for dc in dcs.iter() {
            match self.attempt(dc, false, &op).await {
                Attempt::Answered(answer) => return answer,
                Attempt::Failed(e) => failures.push(e),
                Attempt::Resting => resting.push(dc),
            }
        }
        // Every DC that was tried failed: try the resting ones after all.
        for dc in resting {
            match self.attempt(dc, true, &op).await {
                Attempt::Answered(answer) => return answer,
                Attempt::Failed(e) => failures.push(e),
                Attempt::Resting => {}
            }
        }
        Err(DirectoryError::NoDc(failures.join("; ")))
    }

    async fn attempt<T, F, Fut>(
        &self,
        dc: &DcConnection,
        even_if_resting: bool,
        op: &F,
    ) -> Attempt<T>
    where
        F: Fn(Ldap) -> Fut,
        Fut: std::future::Future<Output = Result<T, LdapError>>,
    {
        let ldap = match self.handle(dc, even_if_resting).await {
            Ok(ldap) => ldap,
            Err(DirectoryError::Resting { .. }) => return Attempt::Resting,
            Err(e) => {
                tracing::warn!(dc.url = %dc.url, error = %e, "domain controller unavailable");
                return Attempt::Failed(e.to_string());
            }
        };
        match self.bounded(dc, op(ldap)).await {
            Ok(answer) => Attempt::Answered(answer.map(|value| (dc.url.clone(), value))),
            Err(e) => {
                tracing::warn!(dc.url = %dc.url, error = %e, "domain controller failed mid-operation");
                Attempt::Failed(e.to_string())
            }
        }
    }

    /// Run `op` on every DC of the domain at once (the configured ones and the discovered
    /// ones), each on its own connection, for the attributes that differ per DC
    /// (`lastLogon`, `badPasswordTime`, replication metadata). Also says how complete that set
    /// is.
    pub async fn on_each_dc<T, F, Fut>(
        &self,
        op: F,
    ) -> (
        Vec<(String, Result<T, DirectoryError>)>,
        crate::ad::DcCoverage,
    )
    where
        F: Fn(Ldap) -> Fut,
        Fut: std::future::Future<Output = Result<T, LdapError>>,
    {
        let (dcs, coverage) = self.per_dc_set().await;
        (self.on_dcs(&dcs, op).await, coverage)
    }

    /// Run `op` on each of `dcs` at once.
    pub(super) async fn on_dcs<T, F, Fut>(
        &self,
        dcs: &[Arc<DcConnection>],
        op: F,
    ) -> Vec<(String, Result<T, DirectoryError>)>
    where
        F: Fn(Ldap) -> Fut,
        Fut: std::future::Future<Output = Result<T, LdapError>>,
    {
        let runs = dcs.iter().map(|dc| {
            let op = &op;
            async move {
                let result = match self.handle(dc, false).await {
                    Ok(ldap) => self.bounded(dc, op(ldap)).await.and_then(|answer| answer),
                    Err(e) => Err(e),
                };
                (dc.url.clone(), result)
            }
        });
        futures_util::future::join_all(runs).await
    }

    /// Run one unit of work on `dc` under `op_timeout`. The outer error is connection-level (a
    /// timeout, a broken connection): the DC's connection is dropped, since a DC that stopped
    /// answering may have wedged it, and the caller may try another DC. The inner error is
    /// the directory's own answer (an LDAP result code).
    async fn bounded<T>(
        &self,
        dc: &DcConnection,
        work: impl std::future::Future<Output = Result<T, LdapError>>,
    ) -> Result<Result<T, DirectoryError>, DirectoryError> {
        let failure = match tokio::time::timeout(self.op_timeout, work).await {
            Ok(Ok(value)) => return Ok(Ok(value)),
            Ok(Err(e)) if !is_connection_error(&e) => return Ok(Err(classify(&dc.url, e))),
            Ok(Err(e)) => classify(&dc.url, e),
            Err(_) => DirectoryError::Timeout {
                url: dc.url.clone(),
            },
        };
        self.fail(dc).await;
        Err(failure)
    }

    /// Read the rootDSE of the first DC that answers (the readiness probe).
    pub async fn root_dse(&self) -> Result<RootDse, DirectoryError> {
        let (dc_url, entry) = self
            .with_first_dc(|mut ldap| async move {
                super::search::base_entry(
                    &mut ldap,
                    "",
                    vec!["dnsHostName", "defaultNamingContext", "serverName"],
                )
                .await
            })
            .await?;
        let entry = entry.ok_or_else(|| DirectoryError::Protocol("empty rootDSE".into()))?;
        let first = |name: &str| entry.attrs.get(name).and_then(|v| v.first().cloned());
        Ok(RootDse {
            dns_host_name: first("dnsHostName"),
            default_naming_context: first("defaultNamingContext"),
            server_name: first("serverName"),
            dc_url,
        })
    }

    /// Probe every configured DC independently (for `check-config` and the admin view).
    pub async fn probe_all(&self) -> Vec<(String, Result<(), DirectoryError>)> {
        let dcs = match self.preferred().await {
            Ok(dcs) => dcs,
            Err(e) => return vec![("(no DC)".into(), Err(e))],
        };
        let mut out = Vec::with_capacity(dcs.len());
        for dc in dcs.iter() {
            let result = self.handle(dc, true).await.map(|_| ());
            out.push((dc.url.clone(), result));
        }
        out
    }
}

/// `trustdesk_ldap_dc_failures_total{dc, stage}`: connection-level failures per DC, `stage`
/// `connect` (TCP, TLS or bind) or `operation` (timed out or broke mid-operation), for
/// alerting on a failing DC before the helpdesk notices.
fn count_failure(url: &str, stage: &'static str) {
    metrics::counter!("trustdesk_ldap_dc_failures_total", "dc" => url.to_string(), "stage" => stage)
        .increment(1);
}

pub(super) fn is_connection_error(e: &LdapError) -> bool {
    !matches!(e, LdapError::LdapResult { .. })
}

/// Turn an ldap3 error into one line that says what went wrong where, without a value from
/// the request (a filter may carry user input; a bind carries a secret).
pub(super) fn classify(url: &str, e: LdapError) -> DirectoryError {
    let text = crate::errors::error_chain(&e);
    let lower = text.to_ascii_lowercase();
    if lower.contains("certificate") || lower.contains("unknownissuer") || lower.contains("tls") {
        DirectoryError::Tls {
            url: url.into(),
            reason: text,
        }
    } else if matches!(e, LdapError::Timeout { .. })
        || lower.contains("timed out")
        || lower.contains("elapsed")
    {
        DirectoryError::Timeout { url: url.into() }
    } else if let LdapError::LdapResult { result } = &e {
        DirectoryError::Ldap {
            url: url.into(),
            code: result.rc,
            reason: if result.text.is_empty() {
                format!("LDAP result code {}", result.rc)
            } else {
                result.text.clone()
            },
        }
    } else {
        DirectoryError::Unreachable {
            url: url.into(),
            reason: text,
        }
    }
}

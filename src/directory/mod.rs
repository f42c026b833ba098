//! The directory: everything that talks LDAP to Active Directory (ldap3 over rustls). What it
//! reads becomes the pure types of [`crate::ad`].
//!
//! - `client`: connections (LDAPS/StartTLS only), DC failover, timeouts, reuse, `on_each_dc`.
//! - `discovery`: every DC of the domain (writable and read-only), beyond `ldap.urls`.
//! - `locator`: the preferred DCs: `urls`, then those DNS names (SRV records), with `dns_srv`.
//! - `domains`: the managed domains (`[[domains]]`), one `Directory` each; a typed name
//!   looked for in every domain it may be in.
//! - `search`: the one place a plain search's results become entries (continuation
//!   references dropped).
//! - `filter`: name validation and escaped filters.
//! - `computers`: listing searches, the account, the per-DC views, DC invocation ids.
//! - `tombstones`: deleted objects of the same name.
//! - `scan`: the fleet scan's paged reads and replication cursors.
//! - `membership`: nested groups (`tokenGroups`) and delegation targets, for `ad::tier0`.
//! - `password`: `unicodePwd` writes; finding an object by `objectGUID`.
//! - `tls`: the CA configuration.
//!
//! The AD vocabulary it reads into (accounts, per-DC views, metadata, tier 0) is
//! [`crate::ad`]'s.
//!
//! Nothing here imports axum; errors are [`DirectoryError`], one line each, never echoing a
//! request value or a secret.

pub mod client;
pub mod computers;
pub mod discovery;
pub mod domains;
pub mod filter;
pub mod locator;
pub mod membership;
pub mod password;
pub mod scan;
pub mod search;
pub mod tls;
pub mod tombstones;

pub use client::{Directory, RootDse};
pub use domains::{Domains, Found, InDomain};

#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    #[error("directory configuration: {0}")]
    Config(String),
    #[error("{url}: refusing an unencrypted LDAP connection (use ldaps:// or StartTLS)")]
    Insecure { url: String },
    #[error(
        "{url}: TLS failed (is ldap.ca_file the CA that signed this DC's certificate?): {reason}"
    )]
    Tls { url: String, reason: String },
    #[error(
        "{url}: the service account bind was refused (check ldap.bind_dn and ldap.bind_password)"
    )]
    BindRefused { url: String },
    #[error("{url}: timed out")]
    Timeout { url: String },
    #[error("{url}: not tried: it failed moments ago (tried again in {secs} s)")]
    Resting { url: String, secs: u64 },
    #[error("{url}: unreachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("{url}: LDAP error {code}: {reason}")]
    Ldap {
        url: String,
        code: u32,
        reason: String,
    },
    #[error("more than one computer matches {0}")]
    Ambiguous(String),
    #[error("unexpected directory answer: {0}")]
    Protocol(String),
    #[error("no domain controller answered: {0}")]
    NoDc(String),
    /// The object's DN (`DC=` parts) names no managed domain (`[[domains]]`).
    #[error("{0} is in no domain this portal manages")]
    Unmanaged(String),
}

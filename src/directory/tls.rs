//! TLS for the directory: the rustls client configuration that every DC connection uses.
//!
//! The CA comes from `ldap.ca_file` when set (recommended: the enterprise CA that signs the
//! DC certificates), else from the system trust store. Verification is never switched off.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;

/// Reading the CA file is plain PEM parsing, shared with the config's checks: see [`crate::pem`].
pub use crate::pem::load_ca;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error(transparent)]
    Ca(#[from] crate::pem::CaError),
    #[error("no trusted CA certificates found in the system store")]
    NoSystemRoots,
}

fn system_roots() -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    let found = rustls_native_certs::load_native_certs();
    for cert in found.certs {
        // A malformed system certificate is skipped, as every TLS client does.
        let _ = roots.add(cert);
    }
    if roots.is_empty() {
        return Err(TlsError::NoSystemRoots);
    }
    Ok(roots)
}

/// The client configuration for every LDAPS/StartTLS connection.
pub fn client_config(ca_file: Option<&Path>) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let roots = match ca_file {
        Some(path) => load_ca(path)?,
        None => system_roots()?,
    };
    Ok(Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

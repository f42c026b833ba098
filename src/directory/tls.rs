//! TLS for the directory: the rustls client configuration that every DC connection uses.
//!
//! The CA comes from `ldap.ca_file` when set (recommended: the enterprise CA that signs the
//! DC certificates), else from the system trust store. Verification is never switched off.

use std::path::Path;
use std::sync::Arc;

use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read CA file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("CA file {path} holds no usable PEM certificate{reason}")]
    NoCertificate { path: String, reason: String },
    #[error("no trusted CA certificates found in the system store")]
    NoSystemRoots,
}

/// Read every certificate of a PEM file; at least one must parse as a trust anchor.
pub fn load_ca(path: &Path) -> Result<RootCertStore, TlsError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| TlsError::Read {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    let mut roots = RootCertStore::empty();
    let mut last_error = String::new();
    for cert in CertificateDer::pem_slice_iter(&bytes) {
        match cert {
            Ok(cert) => {
                if let Err(e) = roots.add(cert) {
                    last_error = format!(" ({e})");
                }
            }
            Err(e) => last_error = format!(" ({e})"),
        }
    }
    if roots.is_empty() {
        return Err(TlsError::NoCertificate {
            path: shown,
            reason: last_error,
        });
    }
    Ok(roots)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_ca_file_is_named() {
        let err = load_ca(Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(err.to_string().contains("/nonexistent/ca.pem"), "{err}");
    }

    #[test]
    fn garbage_ca_file_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ca.pem");
        std::fs::write(&path, "not a certificate").unwrap();
        let err = load_ca(&path).unwrap_err();
        assert!(
            err.to_string().contains("no usable PEM certificate"),
            "{err}"
        );
    }
}

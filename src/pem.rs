//! PEM files the configuration names, read and checked: a CA bundle (`ldap.ca_file`,
//! `downloads.ca_file`) and the RSA key of `private_key_jwt` (`oidc.private_key_file`).
//!
//! File reading and parsing only, so this is a leaf: `config` checks these files at
//! validation through it, without depending on `directory` or `auth`, which use them.

use std::path::Path;

use openidconnect::core::CoreRsaPrivateSigningKey;
use rustls::RootCertStore;
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// Why a CA file is not usable.
#[derive(Debug, thiserror::Error)]
pub enum CaError {
    #[error("cannot read CA file {path}: {reason}")]
    Read { path: String, reason: String },
    #[error("CA file {path} holds no usable PEM certificate{reason}")]
    NoCertificate { path: String, reason: String },
}

/// Read every certificate of a PEM file; at least one must parse as a trust anchor.
pub fn load_ca(path: &Path) -> Result<RootCertStore, CaError> {
    let shown = path.display().to_string();
    let bytes = std::fs::read(path).map_err(|e| CaError::Read {
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
        return Err(CaError::NoCertificate {
            path: shown,
            reason: last_error,
        });
    }
    Ok(roots)
}

/// The key file, checked: a PEM RSA private key in PKCS#1 form (`BEGIN RSA PRIVATE KEY`;
/// `openssl rsa -traditional` converts a PKCS#8 one).
pub fn load_rsa_key(path: &Path) -> Result<String, String> {
    let pem = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    CoreRsaPrivateSigningKey::from_pem(&pem, None)
        .map_err(|e| format!("{}: not a PEM RSA private key ({e})", path.display()))?;
    Ok(pem)
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

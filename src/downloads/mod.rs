//! The companion client, shipped by the portal (`/downloads/`).
//!
//! At the start the portal reads the binaries `[downloads]` names, checks that each is the
//! client of this portal's version ([`binary`]), hashes it once and keeps it in memory: what
//! is served is byte for byte what was hashed. It generates a `client.toml` with this portal's
//! URL and every key that verifies its tokens, and serves the CA that issued its HTTPS
//! certificate. [`commands`] writes what the technician pastes on the broken machine.
//!
//! Who may fetch what: the files are public, the page is not. A workstation whose trust is
//! broken has no staff session, and nothing in these files is secret: the binaries are the
//! same for everyone, the URL and a CA certificate are public by nature, and the keys are
//! public keys (`/api/v1/token-key` publishes them already). What makes a download
//! trustworthy is the SHA-256 the token page shows the signed-in technician, which the pasted
//! commands check before running anything. The page itself is for staff who may mint tokens
//! (`mint_token`): the client is no use without a token, and they are the ones who hand one
//! out.

pub mod binary;
mod client_toml;
pub mod commands;

use std::path::Path;
use std::sync::Arc;

use sha2::{Digest, Sha256};
use trustdesk_token::VerifyingKey;

pub use binary::{BinaryError, Platform};

use crate::config::{Config, ConfigError, DownloadsConfig};

/// This portal's version: the binaries it serves must be of the same.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What the portal serves under `/downloads/`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    WindowsExe,
    LinuxBinary,
    ClientToml,
    PortalCa,
}

impl Kind {
    /// The binary of a platform.
    pub fn client_for(platform: Platform) -> Self {
        match platform {
            Platform::Windows => Self::WindowsExe,
            Platform::Linux => Self::LinuxBinary,
        }
    }

    /// The name in the URL (`/downloads/<name>`) and in `Content-Disposition`: the binaries
    /// carry the version, so a URL always names the same bytes.
    pub fn file_name(self) -> String {
        match self {
            Self::WindowsExe => format!("trustdesk-client-{VERSION}.exe"),
            Self::LinuxBinary => format!("trustdesk-client-{VERSION}-linux-x86_64"),
            Self::ClientToml => "client.toml".into(),
            Self::PortalCa => client_toml::CA_FILE_NAME.into(),
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            Self::WindowsExe => "application/vnd.microsoft.portable-executable",
            Self::LinuxBinary => "application/octet-stream",
            Self::ClientToml => "application/toml; charset=utf-8",
            Self::PortalCa => "application/x-pem-file",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            Self::WindowsExe => "trustdesk-client for Windows (x86-64)",
            Self::LinuxBinary => "trustdesk-client for Linux (x86-64, Samba members)",
            Self::ClientToml => "Client configuration: this portal's URL and token keys",
            Self::PortalCa => "The CA certificate of this portal's HTTPS",
        }
    }
}

/// One served file, hashed once.
#[derive(Debug)]
pub struct Artifact {
    pub kind: Kind,
    pub file_name: String,
    pub bytes: Arc<[u8]>,
    /// Lower-case hex, as `sha256sum` prints it (`Get-FileHash` compares case-blind).
    pub sha256: String,
}

impl Artifact {
    fn new(kind: Kind, bytes: Vec<u8>) -> Self {
        Self {
            kind,
            file_name: kind.file_name(),
            sha256: sha256_hex(&bytes),
            bytes: bytes.into(),
        }
    }

    /// The path it is served at.
    pub fn path(&self) -> String {
        format!("/downloads/{}", self.file_name)
    }
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    format!("{:x}", Sha256::digest(bytes))
}

/// Why the downloads could not be prepared; each names its config key. Config validation
/// finds the same problems first, so at the start this is rare.
#[derive(Debug, thiserror::Error)]
pub enum DownloadsError {
    #[error("{key}: {source}")]
    Binary {
        key: &'static str,
        #[source]
        source: BinaryError,
    },
    #[error("downloads.ca_file: {0}")]
    Ca(String),
    #[error("public_url: {0}")]
    PublicUrl(String),
    #[error("cannot write client.toml: {0}")]
    ClientToml(#[from] toml::ser::Error),
}

/// Everything `/downloads/` serves, in the page's order: binaries, `client.toml`, the CA.
#[derive(Debug)]
pub struct Downloads {
    base: String,
    files: Vec<Artifact>,
}

impl Downloads {
    /// Read, check and hash the configured files; `None` when downloads are not configured
    /// (or turned off). `keys` are every key that may verify a token now: all are pinned.
    pub fn load(cfg: &Config, keys: &[VerifyingKey]) -> Result<Option<Self>, DownloadsError> {
        let Some(d) = &cfg.downloads else {
            return Ok(None);
        };
        let binaries = binaries(d);
        if binaries.is_empty() {
            return Ok(None);
        }
        let base = portal_base(&cfg.public_url).map_err(DownloadsError::PublicUrl)?;
        let mut files = Vec::new();
        for (key, platform, path) in binaries {
            let bytes = binary::read(path, platform)
                .map_err(|source| DownloadsError::Binary { key, source })?;
            files.push(Artifact::new(Kind::client_for(platform), bytes));
        }
        let ca = d.ca_file.as_deref().map(read_ca).transpose();
        let ca = ca.map_err(DownloadsError::Ca)?;
        let mut pins: Vec<String> = keys.iter().map(VerifyingKey::to_pin).collect();
        pins.sort();
        let toml = client_toml::render(&base, &pins, ca.is_some())?;
        files.push(Artifact::new(Kind::ClientToml, toml.into_bytes()));
        if let Some(ca) = ca {
            files.push(Artifact::new(Kind::PortalCa, ca));
        }
        for f in &files {
            tracing::info!(
                download.file = %f.file_name,
                download.sha256 = %f.sha256,
                download.size_bytes = f.bytes.len(),
                "serving the companion client download"
            );
        }
        Ok(Some(Self { base, files }))
    }

    /// The portal's base URL the commands and `client.toml` name (no trailing slash).
    pub fn base(&self) -> &str {
        &self.base
    }

    pub fn files(&self) -> &[Artifact] {
        &self.files
    }

    /// The file served as `/downloads/<name>`.
    pub fn file(&self, name: &str) -> Option<&Artifact> {
        self.files.iter().find(|a| a.file_name == name)
    }

    pub fn get(&self, kind: Kind) -> Option<&Artifact> {
        self.files.iter().find(|a| a.kind == kind)
    }
}

/// The binaries to serve, with their config keys: none when the table is turned off.
pub fn binaries(d: &DownloadsConfig) -> Vec<(&'static str, Platform, &Path)> {
    if !d.enabled {
        return Vec::new();
    }
    let mut out = Vec::new();
    if let Some(p) = &d.windows_exe {
        out.push(("downloads.windows_exe", Platform::Windows, p.as_path()));
    }
    if let Some(p) = &d.linux_binary {
        out.push(("downloads.linux_binary", Platform::Linux, p.as_path()));
    }
    out
}

/// check-config's (and the start's) look at `[downloads]`' files, after the table's shape
/// passed `Config::validate`: the portal's URL, each binary the client for its platform at
/// this portal's version, the CA file certificates and no key. Each error names its key.
pub fn check_config(d: &DownloadsConfig, public_url: &str) -> Result<(), ConfigError> {
    if !d.enabled {
        return Ok(());
    }
    portal_base(public_url).map_err(|e| ConfigError::invalid("public_url", e))?;
    for (key, platform, path) in binaries(d) {
        binary::read(path, platform).map_err(|e| ConfigError::invalid(key, e.to_string()))?;
    }
    if let Some(ca) = &d.ca_file {
        read_ca(ca).map_err(|e| ConfigError::invalid("downloads.ca_file", e))?;
    }
    Ok(())
}

/// The portal URL the client will use: `public_url` without its trailing slash (as the
/// token's `portal` claim has it), which must be a plain `https://` URL. The client talks
/// to an https portal only, and the workstation downloads over it.
pub fn portal_base(public_url: &str) -> Result<String, String> {
    let url = url::Url::parse(public_url).map_err(|e| e.to_string())?;
    if url.scheme() != "https" {
        return Err(
            "the client downloads need an https:// public_url, the only kind the client talks \
             to (or set downloads.enabled = false)"
                .into(),
        );
    }
    if public_url
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
        || !url.username().is_empty()
        || url.password().is_some()
        || url.query().is_some()
        || url.fragment().is_some()
    {
        return Err(
            "with [downloads], public_url must be a plain https:// URL: no spaces, user, query or fragment"
                .into(),
        );
    }
    Ok(public_url.trim_end_matches('/').to_string())
}

/// The CA file to serve: at least one certificate, and no private key (the file is public).
pub fn read_ca(path: &Path) -> Result<Vec<u8>, String> {
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.windows(11).any(|w| w == b"PRIVATE KEY") {
        return Err(format!(
            "{} holds a private key, and this file is served to anyone: give the CA certificate only",
            path.display()
        ));
    }
    crate::pem::load_ca(path).map_err(|e| e.to_string())?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names_carry_the_version_and_the_hash_is_sha256() {
        assert_eq!(
            Kind::WindowsExe.file_name(),
            format!("trustdesk-client-{VERSION}.exe")
        );
        assert_eq!(
            Kind::LinuxBinary.file_name(),
            format!("trustdesk-client-{VERSION}-linux-x86_64")
        );
        // FIPS 180-2's "abc".
        assert_eq!(
            sha256_hex(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        let a = Artifact::new(Kind::ClientToml, b"abc".to_vec());
        assert_eq!(a.path(), "/downloads/client.toml");
        assert_eq!(a.sha256, sha256_hex(b"abc"));
    }

    #[test]
    fn the_base_is_a_plain_https_url() {
        assert_eq!(
            portal_base("https://td.example.test/").unwrap(),
            "https://td.example.test"
        );
        assert_eq!(
            portal_base("https://td.example.test:8443/it's").unwrap(),
            "https://td.example.test:8443/it's"
        );
        for bad in [
            "http://td.example.test",
            "https://td.example.test/a b",
            "https://td.example.test/\n",
            "https://u:p@td.example.test",
            "https://td.example.test/?q",
            "https://td.example.test/#f",
            "td.example.test",
        ] {
            assert!(portal_base(bad).is_err(), "{bad:?}");
        }
    }
}

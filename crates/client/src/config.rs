//! Client configuration: a TOML file installed by IT, overridden by command-line flags.
//!
//! The file is looked up, first match wins: `--config PATH` (must exist); then
//! `trustdesk-client.toml` next to the binary; then `/etc/trustdesk/client.toml` (Unix) or
//! `%ProgramData%\trustdesk\client.toml` (Windows). No file at all is fine when the flags
//! supply the portal URL and the public keys. Unknown keys are errors. Relative paths in the
//! file are relative to the file's directory.
//!
//! ```toml
//! portal_url  = "https://trustdesk.corp.example"        # https:// only
//! public_keys = ["k1:BASE64URL-ED25519-PUBLIC-KEY"]     # one or more "<kid>:<base64url>" pins
//! ca_file     = "portal-ca.pem"                         # optional extra root CA (PEM)
//! backend     = "samba"                                 # "samba" | "windows"; default: this OS
//! samba_conf  = "/etc/samba/smb.conf"                   # optional; default: Samba's own
//! ```

use std::fmt;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use trustdesk_token::VerifyingKey;

/// File name looked up next to the binary.
pub const FILE_NAME_NEXT_TO_BINARY: &str = "trustdesk-client.toml";

/// Which local secret store to repair.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum BackendKind {
    /// A Samba domain member (`net`, secrets.tdb).
    Samba,
    /// Windows: LSA secret `$MACHINE.ACC` and Netlogon.
    Windows,
}

impl BackendKind {
    /// The backend of the running OS.
    #[must_use]
    pub fn native() -> Self {
        if cfg!(windows) {
            BackendKind::Windows
        } else {
            BackendKind::Samba
        }
    }
}

impl fmt::Display for BackendKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BackendKind::Samba => "samba",
            BackendKind::Windows => "windows",
        })
    }
}

/// The configuration file as written (every key optional, unknown keys refused).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Base URL of the portal (https only).
    pub portal_url: Option<String>,
    /// Pinned token-signing keys, `"<kid>:<base64url>"`.
    pub public_keys: Option<Vec<String>>,
    /// Extra root CA (PEM) for the portal's TLS certificate.
    pub ca_file: Option<PathBuf>,
    /// Backend to use.
    pub backend: Option<BackendKind>,
    /// Samba configuration file of the member.
    pub samba_conf: Option<PathBuf>,
}

impl ConfigFile {
    /// Parses TOML text.
    pub fn parse(text: &str) -> Result<Self, ConfigError> {
        toml::from_str(text).map_err(|e| ConfigError::Parse(e.message().to_owned()))
    }

    /// Reads and parses a file; relative paths inside become relative to its directory.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| ConfigError::Read(path.to_path_buf(), e.to_string()))?;
        let mut file =
            Self::parse(&text).map_err(|e| ConfigError::File(path.to_path_buf(), e.to_string()))?;
        let base = path.parent().unwrap_or_else(|| Path::new("."));
        file.ca_file = file.ca_file.map(|p| base.join(p));
        file.samba_conf = file.samba_conf.map(|p| base.join(p));
        Ok(file)
    }
}

/// Values given on the command line; each wins over the file.
#[derive(Debug, Default, Clone)]
pub struct Overrides {
    /// `--portal`
    pub portal_url: Option<String>,
    /// `--public-key` (repeatable; replaces the file's list when given)
    pub public_keys: Vec<String>,
    /// `--ca-file`
    pub ca_file: Option<PathBuf>,
    /// `--backend`
    pub backend: Option<BackendKind>,
    /// `--samba-conf`
    pub samba_conf: Option<PathBuf>,
}

/// The effective, validated settings.
#[derive(Debug)]
pub struct Settings {
    /// Normalised portal URL.
    pub portal: PortalUrl,
    /// Pinned verifying keys (at least one).
    pub keys: Vec<VerifyingKey>,
    /// Extra root CA file.
    pub ca_file: Option<PathBuf>,
    /// Backend to use.
    pub backend: BackendKind,
    /// Samba configuration file, if not Samba's default.
    pub samba_conf: Option<PathBuf>,
    /// The file the settings came from, if any.
    pub source: Option<PathBuf>,
}

/// A configuration problem (exit code 2).
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read.
    #[error("cannot read the configuration file {path}: {err}", path = .0.display(), err = .1)]
    Read(PathBuf, String),
    /// TOML syntax error or unknown key.
    #[error("invalid configuration: {0}")]
    Parse(String),
    /// Error inside a named file.
    #[error("configuration file {path}: {err}", path = .0.display(), err = .1)]
    File(PathBuf, String),
    /// A value is not acceptable.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// The portal's base URL, normalised: `https://host[:port][/path]`, lower-case host, default
/// port dropped, no trailing slash, no user info, query or fragment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PortalUrl(String);

impl PortalUrl {
    /// Parses and normalises; refuses anything but `https://`.
    pub fn parse(raw: &str) -> Result<Self, ConfigError> {
        let url = reqwest::Url::parse(raw.trim())
            .map_err(|e| ConfigError::Invalid(format!("portal URL {raw:?}: {e}")))?;
        if url.scheme() != "https" {
            return Err(ConfigError::Invalid(format!(
                "portal URL {raw:?} must start with https:// (plain HTTP is never allowed)"
            )));
        }
        if url.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::Invalid(format!(
                "portal URL {raw:?} has no host"
            )));
        }
        if !url.username().is_empty() || url.password().is_some() {
            return Err(ConfigError::Invalid(format!(
                "portal URL {raw:?} must not contain user info"
            )));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(ConfigError::Invalid(format!(
                "portal URL {raw:?} must not have a query or fragment"
            )));
        }
        Ok(Self(url.as_str().trim_end_matches('/').to_owned()))
    }

    /// The normalised URL.
    #[must_use]
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// `base + path` (path starts with `/`).
    #[must_use]
    pub fn endpoint(&self, path: &str) -> String {
        format!("{}{path}", self.0)
    }

    /// Whether a URL (e.g. a token's `portal` claim) names this portal after normalisation.
    #[must_use]
    pub fn matches(&self, other: &str) -> bool {
        PortalUrl::parse(other).is_ok_and(|o| o == *self)
    }
}

impl fmt::Display for PortalUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The default locations, in lookup order.
#[must_use]
pub fn default_locations() -> Vec<PathBuf> {
    let mut out = Vec::new();
    if let Some(dir) = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(Path::to_path_buf))
    {
        out.push(dir.join(FILE_NAME_NEXT_TO_BINARY));
    }
    if cfg!(windows) {
        let program_data = std::env::var_os("ProgramData")
            .map_or_else(|| PathBuf::from(r"C:\ProgramData"), PathBuf::from);
        out.push(program_data.join("trustdesk").join("client.toml"));
    } else {
        out.push(PathBuf::from("/etc/trustdesk/client.toml"));
    }
    out
}

/// Finds and loads the file (explicit path, else the first default that exists) and applies
/// the overrides.
pub fn resolve(explicit: Option<&Path>, overrides: Overrides) -> Result<Settings, ConfigError> {
    let (file, source) = match explicit {
        Some(path) => (ConfigFile::load(path)?, Some(path.to_path_buf())),
        None => match default_locations().into_iter().find(|p| p.is_file()) {
            Some(path) => (ConfigFile::load(&path)?, Some(path)),
            None => (ConfigFile::default(), None),
        },
    };
    merge(file, overrides, source)
}

/// Applies the overrides to a parsed file and validates the result.
pub fn merge(
    file: ConfigFile,
    overrides: Overrides,
    source: Option<PathBuf>,
) -> Result<Settings, ConfigError> {
    let where_ = || match &source {
        Some(p) => format!(" (in {} or on the command line)", p.display()),
        None => " (no configuration file found: give it on the command line)".to_owned(),
    };
    let portal_raw = overrides
        .portal_url
        .or(file.portal_url)
        .ok_or_else(|| ConfigError::Invalid(format!("portal_url is not set{}", where_())))?;
    let portal = PortalUrl::parse(&portal_raw)?;

    let pins = if overrides.public_keys.is_empty() {
        file.public_keys.unwrap_or_default()
    } else {
        overrides.public_keys
    };
    if pins.is_empty() {
        return Err(ConfigError::Invalid(format!(
            "public_keys is empty{}",
            where_()
        )));
    }
    let keys = pins
        .iter()
        .map(|pin| parse_pin(pin))
        .collect::<Result<Vec<_>, _>>()?;

    Ok(Settings {
        portal,
        keys,
        ca_file: overrides.ca_file.or(file.ca_file),
        backend: overrides
            .backend
            .or(file.backend)
            .unwrap_or_else(BackendKind::native),
        samba_conf: overrides.samba_conf.or(file.samba_conf),
        source,
    })
}

fn parse_pin(pin: &str) -> Result<VerifyingKey, ConfigError> {
    VerifyingKey::from_pin(pin.trim())
        .map_err(|e| ConfigError::Invalid(format!("public key pin {pin:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn test_pin() -> String {
        crate::testutil::pin()
    }

    fn settings(text: &str) -> Result<Settings, ConfigError> {
        merge(ConfigFile::parse(text)?, Overrides::default(), None)
    }

    #[test]
    fn full_file_parses() {
        let text = format!(
            "portal_url = \"https://Portal.Example.test/\"\npublic_keys = [\"{}\"]\n\
             ca_file = \"/tmp/ca.pem\"\nbackend = \"samba\"\nsamba_conf = \"/tmp/member.conf\"\n",
            test_pin()
        );
        let s = settings(&text).unwrap();
        assert_eq!(s.portal.as_str(), "https://portal.example.test");
        assert_eq!(s.keys.len(), 1);
        assert_eq!(s.backend, BackendKind::Samba);
        assert_eq!(s.samba_conf.as_deref(), Some(Path::new("/tmp/member.conf")));
        assert_eq!(s.ca_file.as_deref(), Some(Path::new("/tmp/ca.pem")));
    }

    #[test]
    fn unknown_key_refused() {
        let text = format!(
            "portal_url = \"https://p.example.test\"\npublic_keys = [\"{}\"]\nportal = \"x\"\n",
            test_pin()
        );
        let err = settings(&text).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
    }

    #[test]
    fn http_refused() {
        let text = format!(
            "portal_url = \"http://127.0.0.1:8080\"\npublic_keys = [\"{}\"]\n",
            test_pin()
        );
        let err = settings(&text).unwrap_err().to_string();
        assert!(err.contains("https://"), "{err}");
        assert!(PortalUrl::parse("HTTP://portal.example.test").is_err());
        assert!(PortalUrl::parse("ftp://portal.example.test").is_err());
        assert!(PortalUrl::parse("portal.example.test").is_err());
    }

    #[test]
    fn portal_url_shapes() {
        assert!(PortalUrl::parse("https://u:p@portal.example.test").is_err());
        assert!(PortalUrl::parse("https://portal.example.test/?a=b").is_err());
        assert!(PortalUrl::parse("https://portal.example.test/#x").is_err());
        let p = PortalUrl::parse("https://PORTAL.example.test:443/td/").unwrap();
        assert_eq!(p.as_str(), "https://portal.example.test/td");
        assert_eq!(
            p.endpoint("/healthz"),
            "https://portal.example.test/td/healthz"
        );
        assert!(p.matches("https://portal.example.test/td"));
        assert!(p.matches("https://portal.example.test:443/td/"));
        assert!(!p.matches("https://portal.example.test"));
        assert!(!p.matches("https://portal.example.test:8443/td"));
        assert!(!p.matches("http://portal.example.test/td"));
        assert!(!p.matches("not a url"));
        let p = PortalUrl::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!(p.as_str(), "https://127.0.0.1:8443");
    }

    #[test]
    fn missing_values_reported() {
        assert!(settings("").unwrap_err().to_string().contains("portal_url"));
        let err = settings("portal_url = \"https://p.example.test\"\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("public_keys"), "{err}");
        let err = settings("portal_url = \"https://p.example.test\"\npublic_keys = []\n")
            .unwrap_err()
            .to_string();
        assert!(err.contains("public_keys"), "{err}");
    }

    #[test]
    fn bad_pin_and_backend_refused() {
        assert!(
            settings("portal_url = \"https://p.example.test\"\npublic_keys = [\"nope\"]\n")
                .is_err()
        );
        let text = format!(
            "portal_url = \"https://p.example.test\"\npublic_keys = [\"{}\"]\nbackend = \"macos\"\n",
            test_pin()
        );
        assert!(settings(&text).is_err());
    }

    #[test]
    fn overrides_win() {
        let file = ConfigFile::parse(&format!(
            "portal_url = \"https://a.example.test\"\npublic_keys = [\"{}\"]\nbackend = \"windows\"\n",
            test_pin()
        ))
        .unwrap();
        let s = merge(
            file,
            Overrides {
                portal_url: Some("https://b.example.test".into()),
                backend: Some(BackendKind::Samba),
                samba_conf: Some("/x.conf".into()),
                ..Overrides::default()
            },
            None,
        )
        .unwrap();
        assert_eq!(s.portal.as_str(), "https://b.example.test");
        assert_eq!(s.backend, BackendKind::Samba);
        assert_eq!(s.samba_conf.as_deref(), Some(Path::new("/x.conf")));
    }

    #[test]
    fn relative_paths_follow_the_file() {
        let dir = std::env::temp_dir().join(format!("td-client-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("client.toml");
        std::fs::write(
            &path,
            format!(
                "portal_url = \"https://p.example.test\"\npublic_keys = [\"{}\"]\nca_file = \"ca.pem\"\n",
                test_pin()
            ),
        )
        .unwrap();
        let s = resolve(Some(&path), Overrides::default()).unwrap();
        assert_eq!(s.ca_file, Some(dir.join("ca.pem")));
        assert_eq!(s.source.as_deref(), Some(path.as_path()));
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(resolve(Some(&path), Overrides::default()).is_err());
    }
}

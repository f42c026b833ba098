//! `[downloads]`: the companion client the portal ships to workstations (`/downloads/`).
//!
//! The binaries must be of this portal's version. [`DownloadsConfig::validate`] checks the
//! table's shape; `crate::downloads::check_config` (run by `crate::checks::validate` right
//! after) reads the files and refuses one that is not the client, so `check-config` and the
//! start both say which key is at fault.

use std::path::PathBuf;

use serde::Deserialize;

use super::ConfigError;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DownloadsConfig {
    /// `false` turns the downloads off even where paths are set (the Docker image sets them
    /// in its environment).
    #[serde(default = "enabled")]
    pub enabled: bool,
    /// `trustdesk-client.exe` for x86-64 Windows, of this portal's version.
    #[serde(default)]
    pub windows_exe: Option<PathBuf>,
    /// `trustdesk-client` for x86-64 Linux (Samba members), of this portal's version.
    #[serde(default)]
    pub linux_binary: Option<PathBuf>,
    /// PEM: the CA that issued the portal's HTTPS certificate. Served as `portal-ca.pem` and
    /// named in the generated `client.toml`; leave it out when the workstations already
    /// trust that CA.
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
}

fn enabled() -> bool {
    true
}

impl DownloadsConfig {
    /// The table's shape: at least one binary named, unless turned off. The portal's URL and
    /// the files are checked by `crate::downloads::check_config`.
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled {
            return Ok(());
        }
        if self.windows_exe.is_none() && self.linux_binary.is_none() {
            return Err(ConfigError::invalid(
                "downloads.windows_exe",
                "name windows_exe, linux_binary or both (or set downloads.enabled = false)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;
    use crate::downloads::{self, Platform};

    const BASE: &str = r#"
public_url = "https://trustdesk.example.test"
[ldap]
urls = ["ldaps://dc1.example.test"]
base_dn = "DC=example,DC=test"
bind_dn = "svc@example.test"
bind_password = "pw"
[oidc]
issuer = "https://idp.example.test"
client_id = "trustdesk"
client_secret = "secret"
"#;

    /// A CA certificate (a throwaway P-256 one; its key was never kept).
    const CA: &str = "-----BEGIN CERTIFICATE-----
MIIBsjCCAVmgAwIBAgIUKzYr/C3Nqa+2rGiy5x3GmfiEPw8wCgYIKoZIzj0EAwIw
JjEkMCIGA1UEAwwbdHJ1c3RkZXNrIGRvd25sb2FkcyB0ZXN0IENBMCAXDTI2MTIw
NDIxMDUyNloYDzIxMjYxMTEwMjEwNTI2WjAmMSQwIgYDVQQDDBt0cnVzdGRlc2sg
ZG93bmxvYWRzIHRlc3QgQ0EwWTATBgcqhkjOPQIBBggqhkjOPQMBBwNCAAT/bPTg
NTwYBFOgK0gvQeYX7f8Zqeg1ozsbMEcZKyXr+HomCzxf36WUG2F/8TLOQO+JdGep
cuOAaSbxs3EhYdcqo2MwYTAdBgNVHQ4EFgQUipwHVlJu9FR5mZZh8TVZBihpB1gw
HwYDVR0jBBgwFoAUipwHVlJu9FR5mZZh8TVZBihpB1gwDwYDVR0TAQH/BAUwAwEB
/zAOBgNVHQ8BAf8EBAMCAgQwCgYIKoZIzj0EAwIDRwAwRAIgVpreRMg3NZ/ZtrZ7
dnKtcHc7AXjjL4Xr4NC8sspbZGgCIAoAZaIqQtB7aCaBYDo4drobhXLMY6mOjIfW
wUU66yyu
-----END CERTIFICATE-----
";

    /// Loads `base` plus `extra` (`{dir}` stands for a temporary directory holding `files`)
    /// and validates it; the error as `check-config` prints it.
    fn validate_with(base: &str, extra: &str, files: &[(&str, &[u8])]) -> Result<(), String> {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            std::fs::write(dir.path().join(name), bytes).unwrap();
        }
        let path = dir.path().join("trustdesk.toml");
        let extra = extra.replace("{dir}", &dir.path().display().to_string());
        std::fs::write(&path, format!("{base}{extra}")).unwrap();
        let cfg = Config::load(Some(&path)).map_err(|e| e.to_string())?;
        crate::checks::validate(&cfg).map_err(|e| e.to_string())
    }

    fn validate(extra: &str, files: &[(&str, &[u8])]) -> Result<(), String> {
        validate_with(BASE, extra, files)
    }

    fn exe(version: &str) -> Vec<u8> {
        downloads::binary::placeholder(Platform::Windows, version)
    }

    fn elf(version: &str) -> Vec<u8> {
        downloads::binary::placeholder(Platform::Linux, version)
    }

    const BOTH: &str = "[downloads]\nwindows_exe = \"{dir}/c.exe\"\nlinux_binary = \"{dir}/c\"\n";

    #[test]
    fn matching_binaries_pass() {
        let v = downloads::VERSION;
        validate(BOTH, &[("c.exe", &exe(v)), ("c", &elf(v))]).unwrap();
        // One platform is enough; no table at all is fine too.
        validate(
            "[downloads]\nlinux_binary = \"{dir}/c\"\n",
            &[("c", &elf(v))],
        )
        .unwrap();
        validate("", &[]).unwrap();
    }

    #[test]
    fn another_version_is_refused_naming_the_key_and_both_versions() {
        let v = downloads::VERSION;
        let err = validate(BOTH, &[("c.exe", &exe("0.0.1")), ("c", &elf(v))]).unwrap_err();
        assert!(err.starts_with("downloads.windows_exe: "), "{err}");
        assert!(err.contains("0.0.1") && err.contains(v), "{err}");
        let longer = format!("{v}1");
        let err = validate(BOTH, &[("c.exe", &exe(v)), ("c", &elf(&longer))]).unwrap_err();
        assert!(err.starts_with("downloads.linux_binary: "), "{err}");
    }

    #[test]
    fn swapped_missing_or_absent_files_are_refused() {
        let v = downloads::VERSION;
        let err = validate(BOTH, &[("c.exe", &elf(v)), ("c", &exe(v))]).unwrap_err();
        assert!(err.starts_with("downloads.windows_exe: "), "{err}");
        assert!(err.contains("not a Windows"), "{err}");
        let err = validate(BOTH, &[("c", &elf(v))]).unwrap_err();
        assert!(err.starts_with("downloads.windows_exe: "), "{err}");
        let err = validate("[downloads]\nca_file = \"{dir}/ca.pem\"\n", &[]).unwrap_err();
        assert!(
            err.contains("name windows_exe, linux_binary or both"),
            "{err}"
        );
    }

    #[test]
    fn turned_off_needs_no_files() {
        validate(&format!("{BOTH}enabled = false\n"), &[]).unwrap();
    }

    #[test]
    fn an_http_portal_is_refused() {
        let v = downloads::VERSION;
        let http = BASE.replace("https://trustdesk", "http://trustdesk");
        let err = validate_with(&http, BOTH, &[("c.exe", &exe(v)), ("c", &elf(v))]).unwrap_err();
        assert!(
            err.starts_with("public_url: ") && err.contains("https://"),
            "{err}"
        );
    }

    #[test]
    fn the_ca_file_holds_certificates_and_no_private_key() {
        let v = downloads::VERSION;
        let key = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIJ+DYvh6SEqVTm50DFtMDoQikTmiCqirVv9mWG9qfSnF\n-----END PRIVATE KEY-----\n";
        let ca = "[downloads]\nlinux_binary = \"{dir}/c\"\nca_file = \"{dir}/ca.pem\"\n";
        validate(ca, &[("c", &elf(v)), ("ca.pem", CA.as_bytes())]).unwrap();
        let both = format!("{CA}{key}");
        let err = validate(ca, &[("c", &elf(v)), ("ca.pem", both.as_bytes())]).unwrap_err();
        assert!(
            err.starts_with("downloads.ca_file: ") && err.contains("private key"),
            "{err}"
        );
        let err = validate(ca, &[("c", &elf(v)), ("ca.pem", b"not pem")]).unwrap_err();
        assert!(err.starts_with("downloads.ca_file: "), "{err}");
    }
}

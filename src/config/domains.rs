//! `[[domains]]`: the managed domains, each with its own DCs, base DN, service account and CA
//! (as ADManager Plus, Adaxes and Active Roles register "managed domains"). The single `[ldap]`
//! table of earlier versions is read as one domain.

use url::Url;

use super::validate::require_secret;
use super::{Config, ConfigError, LdapConfig};

impl LdapConfig {
    /// The domain's DNS name, lower case: `dns_name`, else the `DC=` parts of `base_dn`
    /// (empty when it has none, which validation refuses).
    pub fn domain_dns(&self) -> String {
        self.dns_name
            .clone()
            .or_else(|| crate::ad::dn::dn_domain(&self.base_dn))
            .unwrap_or_default()
            .trim_end_matches('.')
            .to_ascii_lowercase()
    }
}

impl Config {
    /// A single `[ldap]` becomes the one entry of `domains`; both at once is an error.
    /// [`Config::load`] does it; a `Config` deserialized another way must call it.
    pub fn move_single_ldap(&mut self) -> Result<(), ConfigError> {
        match self.ldap.take() {
            Some(_) if !self.domains.is_empty() => Err(ConfigError::invalid(
                "ldap",
                "[ldap] and [[domains]] are both set: move [ldap] into a [[domains]] entry \
                 (with name and dns_name)",
            )),
            Some(single) => {
                self.domains.push(single);
                self.single_ldap = true;
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// How an error names `key` of domain `i`: `ldap.urls` for the single `[ldap]`, else
    /// `domains[1].urls`.
    pub fn domain_key(&self, i: usize, key: &str) -> String {
        if self.single_ldap {
            format!("ldap.{key}")
        } else {
            format!("domains[{i}].{key}")
        }
    }

    /// What `check-config` says of a single `[ldap]`: it is one domain, and how to write it as
    /// `[[domains]]` to add others.
    pub fn single_ldap_note(&self) -> Option<String> {
        let d = self.domains.first().filter(|_| self.single_ldap)?;
        Some(format!(
            "[ldap] is read as the one domain {dns}. To manage more domains, rename the table \
             [[domains]] and add name = \"<NetBIOS name>\" and dns_name = \"{dns}\"; each \
             further domain is another [[domains]] entry with its own urls, base_dn, bind_dn, \
             bind_password (TRUSTDESK_DOMAINS__<i>__BIND_PASSWORD_FILE) and ca_file.",
            dns = d.domain_dns()
        ))
    }

    pub(super) fn validate_domains(&self) -> Result<(), ConfigError> {
        if self.domains.is_empty() {
            return Err(ConfigError::invalid(
                "domains",
                "configure at least one domain: a [[domains]] entry with name, dns_name, urls, \
                 base_dn, bind_dn and bind_password",
            ));
        }
        for (i, d) in self.domains.iter().enumerate() {
            let key = |k: &str| self.domain_key(i, k);
            validate_ldap(d, &key)?;
            if !self.single_ldap {
                validate_names(d, &key)?;
            }
            if d.domain_dns().is_empty() {
                return Err(ConfigError::invalid(
                    key("base_dn"),
                    "names no domain: it has no DC= parts",
                ));
            }
        }
        for (i, d) in self.domains.iter().enumerate() {
            let twin = self.domains.iter().take(i).position(|o| {
                o.domain_dns() == d.domain_dns()
                    || o.name
                        .as_deref()
                        .zip(d.name.as_deref())
                        .is_some_and(|(a, b)| a.eq_ignore_ascii_case(b))
            });
            if let Some(j) = twin {
                return Err(ConfigError::invalid(
                    self.domain_key(i, "name"),
                    format!("the same domain as domains[{j}]: list each domain once"),
                ));
            }
        }
        Ok(())
    }
}

/// A `[[domains]]` entry's `name` (a NetBIOS domain name) and `dns_name` (the `DC=` parts of
/// its `base_dn`).
fn validate_names(d: &LdapConfig, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    let name = d.name.as_deref().unwrap_or_default();
    if name.is_empty()
        || name.len() > 15
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
    {
        return Err(ConfigError::invalid(
            key("name"),
            "the domain's NetBIOS name (as in CORP\\PC01): 1 to 15 letters, digits, - or _",
        ));
    }
    let Some(dns) = d.dns_name.as_deref().filter(|s| !s.trim().is_empty()) else {
        return Err(ConfigError::invalid(
            key("dns_name"),
            "the domain's DNS name (corp.example.com) is required",
        ));
    };
    let from_base = crate::ad::dn::dn_domain(&d.base_dn).unwrap_or_default();
    if !dns
        .trim_end_matches('.')
        .eq_ignore_ascii_case(from_base.as_str())
    {
        return Err(ConfigError::invalid(
            key("base_dn"),
            format!(
                "is not in the domain {dns}: its DC= parts name {from_base:?} (a base_dn is the \
                 domain's naming context or an OU inside it)"
            ),
        ));
    }
    Ok(())
}

/// A `dns_servers` entry: an address, with port 53 unless it names one.
pub fn dns_server(s: &str) -> Option<std::net::SocketAddr> {
    let bare = s
        .strip_prefix('[')
        .and_then(|v| v.strip_suffix(']'))
        .unwrap_or(s);
    s.parse::<std::net::SocketAddr>().ok().or_else(|| {
        bare.parse::<std::net::IpAddr>()
            .ok()
            .map(|ip| (ip, 53).into())
    })
}

/// One domain's connection settings: TLS-only DC URLs, the service account, the CA, limits.
fn validate_ldap(d: &LdapConfig, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
    if d.urls.is_empty() && !d.dns_srv {
        return Err(ConfigError::invalid(
            key("urls"),
            format!(
                "name at least one domain controller, or find them through DNS ({} = true)",
                key("dns_srv")
            ),
        ));
    }
    if !d.dns_servers.is_empty() && !d.dns_srv {
        return Err(ConfigError::invalid(
            key("dns_servers"),
            format!("only used with {} = true", key("dns_srv")),
        ));
    }
    if let Some(bad) = d.dns_servers.iter().find(|s| dns_server(s).is_none()) {
        return Err(ConfigError::invalid(
            key("dns_servers"),
            format!("{bad:?} is not an IP address, or an address and port (10.0.0.1:53)"),
        ));
    }
    for url in &d.urls {
        let parsed = Url::parse(url)
            .map_err(|e| ConfigError::invalid(key("urls"), format!("{url}: {e}")))?;
        match parsed.scheme() {
            "ldaps" => {}
            "ldap" if d.starttls => {}
            "ldap" => {
                return Err(ConfigError::invalid(
                    key("urls"),
                    format!(
                        "{url}: plain ldap:// needs StartTLS (set {} = true): trustdesk never \
                         binds unencrypted",
                        key("starttls")
                    ),
                ));
            }
            other => {
                return Err(ConfigError::invalid(
                    key("urls"),
                    format!(
                        "{url}: unsupported scheme {other:?} (use ldaps:// or ldap:// with StartTLS)"
                    ),
                ));
            }
        }
        if parsed.host_str().is_none_or(str::is_empty) {
            return Err(ConfigError::invalid(key("urls"), format!("{url}: no host")));
        }
    }
    if d.base_dn.trim().is_empty() {
        return Err(ConfigError::invalid(key("base_dn"), "must not be empty"));
    }
    if d.bind_dn.trim().is_empty() {
        return Err(ConfigError::invalid(key("bind_dn"), "must not be empty"));
    }
    require_secret(&key("bind_password"), d.bind_password.as_ref())?;
    if let Some(ca) = &d.ca_file {
        crate::pem::load_ca(ca).map_err(|e| ConfigError::invalid(key("ca_file"), e.to_string()))?;
    }
    if d.connect_timeout_secs == 0 || d.op_timeout_secs == 0 {
        return Err(ConfigError::invalid(
            key("connect_timeout_secs"),
            "timeouts must be at least 1 second",
        ));
    }
    if d.retry_after_secs > 86_400 {
        return Err(ConfigError::invalid(
            key("retry_after_secs"),
            "at most 86400 (a day)",
        ));
    }
    if !(60..=86_400).contains(&d.discovery_refresh_secs) {
        return Err(ConfigError::invalid(
            key("discovery_refresh_secs"),
            "between 60 and 86400 seconds",
        ));
    }
    if let Some(bad) = d
        .exclude_dcs
        .iter()
        .find(|h| h.trim().is_empty() || h.contains(['/', ':', ' ']))
    {
        return Err(ConfigError::invalid(
            key("exclude_dcs"),
            format!("{bad:?} is not a DNS host name (write dc3.corp.example, not a URL)"),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const OIDC: &str = r#"
[oidc]
issuer = "https://idp.example"
client_id = "portal"
client_secret = "s"
"#;

    fn domain(name: &str, dns: &str, base: &str) -> String {
        format!(
            r#"
[[domains]]
name = "{name}"
dns_name = "{dns}"
urls = ["ldaps://dc1.{dns}"]
base_dn = "{base}"
bind_dn = "svc@{dns}"
bind_password = "pw"
"#
        )
    }

    fn load(toml: &str, env: &[(&str, &str)]) -> Result<Config, ConfigError> {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trustdesk.toml");
        std::fs::write(&file, format!("{toml}{OIDC}")).unwrap();
        let env: Vec<(String, String)> = env
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let cfg = Config::load_with(Some(&file), |k| {
            env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone())
        })?;
        cfg.validate()?;
        Ok(cfg)
    }

    #[test]
    fn a_single_ldap_is_one_domain_named_by_its_base_dn_and_check_config_explains_the_move() {
        let cfg = load(
            r#"
[ldap]
urls = ["ldaps://dc1.corp.example.com"]
base_dn = "OU=Staff,DC=Corp,DC=Example,DC=com"
bind_dn = "svc@corp.example.com"
bind_password = "pw"
"#,
            &[],
        )
        .unwrap();
        assert!(cfg.single_ldap);
        assert_eq!(cfg.domains.len(), 1);
        assert_eq!(cfg.domains[0].domain_dns(), "corp.example.com");
        assert_eq!(cfg.domain_key(0, "urls"), "ldap.urls");
        let note = cfg.single_ldap_note().unwrap();
        assert!(note.contains("[[domains]]"), "{note}");
        assert!(note.contains("dns_name = \"corp.example.com\""), "{note}");
    }

    #[test]
    fn two_domains_load_each_with_its_own_secret_file() {
        let dir = tempfile::tempdir().unwrap();
        let secret = dir.path().join("f2.pw");
        std::fs::write(&secret, "from-file\n").unwrap();
        let toml = domain("LAB", "lab.example.test", "DC=lab,DC=example,DC=test")
            + &domain(
                "F2",
                "forest2.example.test",
                "DC=forest2,DC=example,DC=test",
            );
        let var = "TRUSTDESK_DOMAINS__1__BIND_PASSWORD_FILE";
        let cfg = load(&toml, &[(var, secret.to_str().unwrap())]).unwrap();
        assert!(!cfg.single_ldap);
        assert!(cfg.single_ldap_note().is_none());
        let names: Vec<String> = cfg.domains.iter().map(LdapConfig::domain_dns).collect();
        assert_eq!(names, ["lab.example.test", "forest2.example.test"]);
        use secrecy::ExposeSecret;
        let pw = |i: usize| {
            let d: &LdapConfig = &cfg.domains[i];
            d.bind_password
                .as_ref()
                .unwrap()
                .expose_secret()
                .to_string()
        };
        assert_eq!((pw(0), pw(1)), ("pw".to_string(), "from-file".to_string()));
    }

    #[test]
    fn a_domain_may_name_no_dc_when_dns_finds_them() {
        let lab = domain("LAB", "lab.example.test", "DC=lab,DC=example,DC=test")
            .replace("urls = [\"ldaps://dc1.lab.example.test\"]", "urls = []")
            + "dns_srv = true\ndns_servers = [\"127.0.0.2\", \"127.0.0.6:53\"]\n";
        let cfg = load(&lab, &[]).unwrap();
        let d: &LdapConfig = &cfg.domains[0];
        assert!(d.dns_srv && d.urls.is_empty());
        assert_eq!(d.dns_servers.len(), 2);
    }

    #[test]
    fn each_refusal_names_the_domain_and_the_key() {
        let lab = domain("LAB", "lab.example.test", "DC=lab,DC=example,DC=test");
        for (toml, key, why) in [
            (String::new(), "domains", "at least one domain"),
            (
                lab.clone() + "\n[ldap]\nurls = []\nbase_dn = \"x\"\nbind_dn = \"y\"\n",
                "ldap",
                "both set",
            ),
            (
                domain("", "lab.example.test", "DC=lab,DC=example,DC=test"),
                "domains[0].name",
                "NetBIOS",
            ),
            (
                domain(
                    "LAB.EXAMPLE",
                    "lab.example.test",
                    "DC=lab,DC=example,DC=test",
                ),
                "domains[0].name",
                "NetBIOS",
            ),
            (
                lab.clone() + &domain("F2", "forest2.example.test", "DC=other,DC=example,DC=test"),
                "domains[1].base_dn",
                "not in the domain forest2.example.test",
            ),
            (
                lab.clone() + &domain("lab", "lab2.example.test", "DC=lab2,DC=example,DC=test"),
                "domains[1].name",
                "the same domain as domains[0]",
            ),
            (
                lab.clone() + &domain("F2", "LAB.example.test", "DC=lab,DC=example,DC=test"),
                "domains[1].name",
                "the same domain as domains[0]",
            ),
            (
                lab.replace("ldaps://", "ldap://"),
                "domains[0].urls",
                "needs StartTLS (set domains[0].starttls",
            ),
            (
                lab.replace("urls = [\"ldaps://dc1.lab.example.test\"]", "urls = []"),
                "domains[0].urls",
                "or find them through DNS (domains[0].dns_srv = true)",
            ),
            (
                lab.clone() + "dns_servers = [\"127.0.0.2\"]\n",
                "domains[0].dns_servers",
                "only used with domains[0].dns_srv = true",
            ),
            (
                lab.clone() + "dns_srv = true\ndns_servers = [\"dns.lab.example.test\"]\n",
                "domains[0].dns_servers",
                "is not an IP address",
            ),
            (
                lab.replace("bind_password = \"pw\"", ""),
                "domains[0].bind_password",
                "TRUSTDESK_DOMAINS__0__BIND_PASSWORD",
            ),
        ] {
            let e = load(&toml, &[]).map(|_| ()).unwrap_err().to_string();
            assert!(e.starts_with(&format!("{key}: ")), "{key}: {e}");
            assert!(e.contains(why), "{why}: {e}");
            assert!(!e.contains("\"pw\""), "{e}");
        }
    }

    #[test]
    fn dns_servers_are_addresses_with_port_53_by_default() {
        assert_eq!(dns_server("10.0.0.1"), Some("10.0.0.1:53".parse().unwrap()));
        assert_eq!(
            dns_server("127.0.0.2:5353"),
            Some("127.0.0.2:5353".parse().unwrap())
        );
        assert_eq!(dns_server("[::1]:53"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(dns_server("[::1]"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(dns_server("::1"), Some("[::1]:53".parse().unwrap()));
        assert_eq!(dns_server("dns.corp.example"), None);
    }
}

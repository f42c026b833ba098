//! `[[webhooks]]`: where trustdesk POSTs signed JSON events (`crate::webhooks` sends them).
//!
//! ```toml
//! [[webhooks]]
//! url = "https://hooks.example.com/trustdesk"
//! events = ["repair.completed", "repair.failed"]
//! secret = "…"   # or TRUSTDESK_WEBHOOKS__0__SECRET_FILE=/run/secrets/hook0
//! ```
//!
//! Checked offline: an `https://` URL (or `http://` to a loopback address, for a receiver on
//! this host), no user name or password in it, at least one known event, a secret of at least
//! 32 bytes, and no URL twice (a delivery names its hook by URL).

use std::net::IpAddr;

use secrecy::{ExposeSecret, SecretString};
use serde::Deserialize;
use url::{Host, Url};

use super::ConfigError;

/// The shortest secret taken: 32 bytes, the HMAC-SHA256 output size.
pub const MIN_SECRET_BYTES: usize = 32;

/// One receiver.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WebhookConfig {
    /// Where the events are POSTed.
    pub url: String,
    /// Which events it receives.
    pub events: Vec<EventType>,
    /// The HMAC key of `Trustdesk-Signature` (also from
    /// `TRUSTDESK_WEBHOOKS__<index>__SECRET_FILE`).
    #[serde(default)]
    pub secret: Option<SecretString>,
}

macro_rules! event_types {
    ($($(#[$meta:meta])* $variant:ident => $text:literal,)*) => {
        /// An event a webhook can receive, as the configuration and the body's `type` spell it.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Deserialize, serde::Serialize)]
        pub enum EventType {
            $($(#[$meta])* #[serde(rename = $text)] $variant,)*
        }

        impl EventType {
            /// Every event type.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// Its name (`repair.completed`, …).
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }
        }
    };
}

event_types! {
    /// A reset or a token repair ended well.
    RepairCompleted => "repair.completed",
    /// A reset or a token repair failed.
    RepairFailed => "repair.failed",
    /// A change that needs approval was asked for.
    ApprovalRequested => "approval.requested",
    /// An approver approved or denied a request.
    ApprovalDecided => "approval.decided",
    /// A repair token was minted.
    TokenMinted => "token.minted",
    /// A fleet scan finished with a report.
    FleetReport => "fleet.report",
}

impl EventType {
    /// The event type named `text`, exactly.
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|e| e.as_str() == text)
    }
}

impl std::fmt::Display for EventType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Check every hook (each error names `webhooks[i].<key>`), and that no URL is listed twice.
pub(super) fn validate(hooks: &[WebhookConfig]) -> Result<(), ConfigError> {
    for (i, hook) in hooks.iter().enumerate() {
        hook.validate(i)?;
        if hooks.iter().take(i).any(|h| h.url == hook.url) {
            return Err(ConfigError::invalid(
                format!("webhooks[{i}].url"),
                "listed twice (a delivery names its hook by URL)",
            ));
        }
    }
    Ok(())
}

impl WebhookConfig {
    fn validate(&self, i: usize) -> Result<(), ConfigError> {
        let key = |k: &str| format!("webhooks[{i}].{k}");
        check_url(&self.url).map_err(|why| ConfigError::invalid(key("url"), why))?;
        if self.events.is_empty() {
            return Err(ConfigError::invalid(
                key("events"),
                format!(
                    "name at least one event (known: {})",
                    EventType::ALL
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            ));
        }
        let env = format!(
            "{}_FILE",
            super::load::env_name(&format!("webhooks.{i}.secret"))
        );
        match &self.secret {
            None => Err(ConfigError::invalid(
                key("secret"),
                format!("missing secret (set it in the file or in {env})"),
            )),
            Some(s) if s.expose_secret().len() < MIN_SECRET_BYTES => Err(ConfigError::invalid(
                key("secret"),
                format!(
                    "too short: at least {MIN_SECRET_BYTES} bytes (e.g. `openssl rand -hex 32`)"
                ),
            )),
            Some(_) => Ok(()),
        }
    }
}

/// Why `url` cannot receive webhooks, if it cannot.
fn check_url(url: &str) -> Result<(), String> {
    let parsed = Url::parse(url).map_err(|e| format!("not a URL: {e}"))?;
    if !parsed.username().is_empty() || parsed.password().is_some() {
        return Err("must carry no user name or password (the signature authenticates)".into());
    }
    if parsed.fragment().is_some() {
        return Err("must have no #fragment".into());
    }
    match (parsed.scheme(), parsed.host()) {
        ("https", Some(_)) => Ok(()),
        ("http", Some(host)) if is_loopback(&host) => Ok(()),
        ("http", _) => Err(
            "must be https:// (http:// only to a loopback address, 127.0.0.0/8 or [::1], for a receiver on this host)"
                .into(),
        ),
        _ => Err("must be an https:// URL".into()),
    }
}

/// A loopback address literal (a name is not taken: what it resolves to can change).
fn is_loopback(host: &Host<&str>) -> bool {
    match host {
        Host::Ipv4(a) => IpAddr::V4(*a).is_loopback(),
        Host::Ipv6(a) => IpAddr::V6(*a).is_loopback(),
        Host::Domain(_) => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn hook(url: &str, events: &[EventType], secret: Option<&str>) -> WebhookConfig {
        WebhookConfig {
            url: url.into(),
            events: events.to_vec(),
            secret: secret.map(|s| SecretString::from(s.to_string())),
        }
    }

    fn error(hooks: &[WebhookConfig]) -> String {
        validate(hooks).unwrap_err().to_string()
    }

    #[test]
    fn https_and_loopback_http_are_taken() {
        for url in [
            "https://hooks.example.com/trustdesk",
            "https://10.1.2.3:8443/in?src=td",
            "http://127.0.0.1:9000/hook",
            "http://127.8.9.10/hook",
            "http://[::1]:9000/hook",
        ] {
            assert!(
                validate(&[hook(url, &[EventType::RepairFailed], Some(SECRET))]).is_ok(),
                "{url}"
            );
        }
    }

    #[test]
    fn each_refusal_names_the_key_and_never_the_secret() {
        let ev = &[EventType::TokenMinted];
        let ok = hook("https://a.example/h", ev, Some(SECRET));
        for (hooks, key, why) in [
            (
                vec![hook("http://hooks.example.com/h", ev, Some(SECRET))],
                "webhooks[0].url",
                "must be https://",
            ),
            (
                vec![hook("http://localhost:9000/h", ev, Some(SECRET))],
                "webhooks[0].url",
                "loopback",
            ),
            (
                vec![hook("http://192.168.1.5/h", ev, Some(SECRET))],
                "webhooks[0].url",
                "loopback",
            ),
            (
                vec![hook("ftp://a.example/h", ev, Some(SECRET))],
                "webhooks[0].url",
                "https://",
            ),
            (
                vec![hook("https://u:pw@a.example/h", ev, Some(SECRET))],
                "webhooks[0].url",
                "no user name or password",
            ),
            (
                vec![hook("not a url", ev, Some(SECRET))],
                "webhooks[0].url",
                "not a URL",
            ),
            (
                vec![ok.clone(), hook("https://b.example/h", &[], Some(SECRET))],
                "webhooks[1].events",
                "at least one event (known: repair.completed",
            ),
            (
                vec![hook("https://a.example/h", ev, None)],
                "webhooks[0].secret",
                "TRUSTDESK_WEBHOOKS__0__SECRET_FILE",
            ),
            (
                vec![hook("https://a.example/h", ev, Some("short-secret"))],
                "webhooks[0].secret",
                "at least 32 bytes",
            ),
            (
                vec![ok.clone(), ok.clone()],
                "webhooks[1].url",
                "listed twice",
            ),
        ] {
            let e = error(&hooks);
            assert!(e.starts_with(&format!("{key}: ")), "{e}");
            assert!(e.contains(why), "{e}");
            assert!(!e.contains(SECRET) && !e.contains("short-secret"), "{e}");
        }
    }

    #[test]
    fn events_are_read_by_name_and_unknown_ones_refused() {
        let cfg: WebhookConfig = toml::from_str(
            "url = \"https://a.example/h\"\nevents = [\"repair.completed\", \"fleet.report\"]\nsecret = \"s\"",
        )
        .unwrap();
        assert_eq!(
            cfg.events,
            [EventType::RepairCompleted, EventType::FleetReport]
        );
        let e = toml::from_str::<WebhookConfig>(
            "url = \"https://a.example/h\"\nevents = [\"repair.done\"]",
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.contains("unknown variant") && e.contains("repair.done"),
            "{e}"
        );
        for e in EventType::ALL {
            assert_eq!(EventType::parse(e.as_str()), Some(*e));
        }
        assert!(
            !format!("{cfg:?}").contains("\"s\""),
            "the secret is redacted"
        );
    }

    #[test]
    fn a_secret_comes_from_the_file_its_variable_names() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("trustdesk.toml");
        std::fs::write(
            &file,
            "[ldap]\nurls = [\"ldaps://dc.example\"]\nbase_dn = \"DC=example\"\n\
             bind_dn = \"svc\"\n[oidc]\nissuer = \"https://id.example\"\nclient_id = \"td\"\n\
             [[webhooks]]\nurl = \"https://a.example/h\"\nevents = [\"token.minted\"]\n\
             [[webhooks]]\nurl = \"https://b.example/h\"\nevents = [\"repair.failed\"]\n",
        )
        .unwrap();
        let secret = dir.path().join("hook1");
        std::fs::write(&secret, format!("{SECRET}\n")).unwrap();
        let path = secret.display().to_string();
        let cfg = super::super::Config::load_with(Some(&file), |var| {
            (var == "TRUSTDESK_WEBHOOKS__1__SECRET_FILE").then(|| path.clone())
        })
        .unwrap();
        assert!(cfg.webhooks[0].secret.is_none());
        assert_eq!(
            cfg.webhooks[1].secret.as_ref().unwrap().expose_secret(),
            SECRET
        );
        let e = super::super::Config::load_with(Some(&file), |var| {
            (var == "TRUSTDESK_WEBHOOKS__0__SECRET_FILE").then(|| "/nonexistent/hook0".into())
        })
        .unwrap_err()
        .to_string();
        assert!(e.starts_with("TRUSTDESK_WEBHOOKS__0__SECRET_FILE: "), "{e}");
    }
}

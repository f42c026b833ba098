//! `ticket_url_template`: where a ticket reference on the pages links to (ServiceNow, Jira
//! Service Management, …), e.g. `https://sn.example.com/nav_to.do?uri=incident.do?sysparm_query=number={ticket}`
//! or `https://jira.example.com/browse/{ticket}`.
//!
//! The ticket field is free text ("Reason or ticket for the reset"), so only a value shaped
//! like a reference becomes a link: one word of ASCII letters, digits, `-`, `_` and `.`, with a
//! digit in it (`INC0012345`, `HD-4711`). Those characters need no escaping in a URL, so a
//! reference can only ever fill the `{ticket}` place: never change the host, the path or the
//! query around it. Anything else stays text.

use serde::Deserialize;
use url::Url;

/// The placeholder a reference fills.
const PLACE: &str = "{ticket}";
/// The longest value taken for a reference.
const MAX_REFERENCE: usize = 64;

/// An `https://` URL with `{ticket}` after its host, checked when the config is read.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TicketUrlTemplate(String);

/// Why a `ticket_url_template` was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{template:?} {why}")]
pub struct TicketTemplateError {
    template: String,
    why: &'static str,
}

impl TryFrom<String> for TicketUrlTemplate {
    type Error = TicketTemplateError;

    fn try_from(template: String) -> Result<Self, Self::Error> {
        let refuse = |why| {
            Err(TicketTemplateError {
                template: template.clone(),
                why,
            })
        };
        let Some(at) = template.find(PLACE) else {
            return refuse("must contain {ticket}, where the reference goes");
        };
        let Ok(url) = Url::parse(&template.replace(PLACE, "X")) else {
            return refuse("is not a URL");
        };
        if url.scheme() != "https" {
            return refuse("must be an https:// URL");
        }
        // Everything before the first place must already be a URL with the same host: the
        // reference never reaches the scheme, the credentials or the host.
        let before = template.get(..at).unwrap_or_default();
        let same_host = Url::parse(before).is_ok_and(|b| {
            b.host_str() == url.host_str() && before.len() > b.origin().ascii_serialization().len()
        });
        if !same_host {
            return refuse("must have {ticket} after the host, in the path or the query");
        }
        if !url.username().is_empty() || url.password().is_some() {
            return refuse("must carry no user name or password");
        }
        Ok(Self(template))
    }
}

impl TicketUrlTemplate {
    /// The link for `ticket`, when it is shaped like a reference (see the module).
    #[must_use]
    pub fn link(&self, ticket: &str) -> Option<String> {
        is_reference(ticket).then(|| self.0.replace(PLACE, ticket))
    }
}

/// One word of ASCII letters, digits, `-`, `_`, `.`, at most [`MAX_REFERENCE`] long, with a
/// digit in it.
fn is_reference(s: &str) -> bool {
    (1..=MAX_REFERENCE).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && s.bytes().any(|b| b.is_ascii_digit())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn template(s: &str) -> Result<TicketUrlTemplate, TicketTemplateError> {
        TicketUrlTemplate::try_from(s.to_string())
    }

    #[test]
    fn a_template_is_https_with_the_place_after_the_host() {
        for ok in [
            "https://jira.example.com/browse/{ticket}",
            "https://sn.example.com/nav_to.do?uri=incident.do?sysparm_query=number={ticket}",
            "https://tickets.example.com:8443/t/{ticket}/view",
        ] {
            assert!(template(ok).is_ok(), "{ok}");
        }
        for (bad, why) in [
            ("https://jira.example.com/browse/", "must contain"),
            ("http://jira.example.com/browse/{ticket}", "https"),
            ("javascript:alert({ticket})", "https"),
            ("https://{ticket}.example.com/", "after the host"),
            ("https://jira.example.com{ticket}", "after the host"),
            (
                "https://u:p@jira.example.com/browse/{ticket}",
                "no user name",
            ),
            ("not a url {ticket}", "not a URL"),
        ] {
            let e = template(bad).unwrap_err().to_string();
            assert!(e.contains(why), "{bad}: {e}");
        }
    }

    #[test]
    fn only_a_reference_becomes_a_link() {
        let t = template("https://jira.example.com/browse/{ticket}?from=td").unwrap();
        assert_eq!(
            t.link("HD-4711").as_deref(),
            Some("https://jira.example.com/browse/HD-4711?from=td")
        );
        assert_eq!(
            t.link("INC0012345").as_deref(),
            Some("https://jira.example.com/browse/INC0012345?from=td")
        );
        for text in [
            "",
            "urgent",
            "user called, INC-4711",
            "INC-4711?x=1",
            "../../admin1",
            "INC-4711#frag",
            "\"><script>1",
            &"A1".repeat(33),
        ] {
            assert_eq!(t.link(text), None, "{text:?}");
        }
    }
}

//! Computer names: validation, and the LDAP filters built from them. Every value that enters
//! a filter goes through [`ldap3::ldap_escape`] here, even after validation allowed only
//! harmless characters — two independent guards.

use ldap3::ldap_escape;

/// What the technician typed, classified and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComputerQuery {
    /// A NetBIOS name or `sAMAccountName` (the trailing `$` removed), upper-cased.
    Name(String),
    /// A fully qualified DNS host name, lower-cased.
    DnsName(String),
    /// `DOMAIN\NAME` (NetBIOS or DNS domain, as Windows writes an account): the computer
    /// `NAME` (upper-cased), which must be in that domain.
    Qualified { domain: String, name: String },
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("Type a computer name.")]
    Empty,
    #[error(
        "That is too long for a computer name ({0} characters; a NetBIOS name has at most 15, a DNS name at most 253)."
    )]
    TooLong(usize),
    #[error(
        "A computer name may contain only letters, digits, '-' and '_' (and '.' in a DNS name); {0:?} is not allowed."
    )]
    BadCharacter(char),
    #[error("That DNS name has an empty or over-long label.")]
    BadLabel,
}

/// The longest NetBIOS computer name; `sAMAccountName` adds a `$`.
pub const NETBIOS_MAX: usize = 15;
const DNS_MAX: usize = 253;

impl ComputerQuery {
    /// Validate and classify user input. Nothing that fails here ever reaches LDAP.
    pub fn parse(input: &str) -> Result<Self, NameError> {
        let s = input.trim();
        if let Some((domain, name)) = s.split_once('\\') {
            let Self::Name(name) = Self::parse(name)? else {
                return Err(NameError::BadCharacter('.'));
            };
            let domain = match Self::parse(domain)? {
                Self::Name(d) => d,
                Self::DnsName(d) => d,
                Self::Qualified { .. } => return Err(NameError::BadCharacter('\\')),
            };
            return Ok(Self::Qualified { domain, name });
        }
        let s = s.strip_suffix('$').unwrap_or(s);
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        let chars = s.chars().count();
        if let Some(bad) = s
            .chars()
            .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.')))
        {
            return Err(NameError::BadCharacter(bad));
        }
        if s.contains('.') {
            if chars > DNS_MAX {
                return Err(NameError::TooLong(chars));
            }
            if s.split('.').any(|l| l.is_empty() || l.len() > 63) || s.contains('_') {
                return Err(NameError::BadLabel);
            }
            Ok(Self::DnsName(s.to_ascii_lowercase()))
        } else {
            if chars > NETBIOS_MAX {
                return Err(NameError::TooLong(chars));
            }
            Ok(Self::Name(s.to_ascii_uppercase()))
        }
    }

    /// What to show and audit: the name as we understood it.
    pub fn display(&self) -> &str {
        match self {
            Self::Name(n) | Self::DnsName(n) | Self::Qualified { name: n, .. } => n,
        }
    }

    /// The domain the name was qualified with (`CORP` of `CORP\PC01`), if any.
    pub fn domain(&self) -> Option<&str> {
        match self {
            Self::Qualified { domain, .. } => Some(domain),
            _ => None,
        }
    }

    /// Exact match, as the filters to try in order: the first that finds anything answers.
    ///
    /// `dNSHostName` is not indexed (searchFlags 0 in AD's schema; Samba likewise), so a
    /// filter on it alone reads every computer: 120–270 ms at 20,000 computers in the lab,
    /// where an indexed name costs 0.25 ms. A DNS name is therefore first looked for
    /// through what is indexed, its NetBIOS name (the first label, cut at 15 characters)
    /// and its `HOST/` SPN, with `dNSHostName` checked on those few candidates. Only when
    /// that finds nothing (a renamed machine with neither) does the full search run, so an
    /// account is never called missing because of the shortcut.
    pub fn exact_filters(&self) -> Vec<String> {
        match self {
            Self::Name(n) | Self::Qualified { name: n, .. } => vec![computer_filter(&format!(
                "(sAMAccountName={}$)",
                ldap_escape(n.as_str())
            ))],
            Self::DnsName(d) => {
                let v = ldap_escape(d.as_str());
                let nb = ldap_escape(netbios_of(d));
                vec![
                    computer_filter(&format!(
                        "(|(sAMAccountName={nb}$)(servicePrincipalName=HOST/{v}))(dNSHostName={v})"
                    )),
                    computer_filter(&format!("(dNSHostName={v})")),
                ]
            }
        }
    }

    /// Names starting with this text. The `*` is ours; the user's text is escaped, so a `*`
    /// they typed could never widen the search. As in [`Self::exact_filters`], candidates
    /// come through indexed attributes (AD indexes initial substrings; Samba scans for any
    /// substring): the NetBIOS name or the `HOST/` SPN, and for a DNS name its first label.
    pub fn prefix_filter(&self) -> String {
        match self {
            Self::Name(n) | Self::Qualified { name: n, .. } => {
                let v = ldap_escape(n.as_str());
                computer_filter(&format!(
                    "(|(sAMAccountName={v}*)(servicePrincipalName=HOST/{v}*))"
                ))
            }
            Self::DnsName(d) => {
                let v = ldap_escape(d.as_str());
                let nb = ldap_escape(netbios_of(d));
                computer_filter(&format!(
                    "(|(sAMAccountName={nb}$)(servicePrincipalName=HOST/{v}*))(dNSHostName={v}*)"
                ))
            }
        }
    }
}

/// How a listing matches the typed text: from the start of the name (the default, served
/// by the index) or anywhere in it (a full scan of the scope on AD as on Samba).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, utoipa::ToSchema)]
#[schema(rename_all = "snake_case")]
pub enum MatchMode {
    #[default]
    Prefix,
    Contains,
}

impl MatchMode {
    /// `contains` from a form or query string; anything else is the default.
    pub fn parse(s: Option<&str>) -> Self {
        match s {
            Some(m) if m.eq_ignore_ascii_case("contains") => Self::Contains,
            _ => Self::Prefix,
        }
    }
}

impl ComputerQuery {
    /// The listing filter for `mode`: [`Self::prefix_filter`], or names containing the text
    /// anywhere (the `*`s are ours, the text escaped). A DNS name is looked for in
    /// `dNSHostName`, a NetBIOS name in `sAMAccountName`.
    pub fn listing_filter(&self, mode: MatchMode) -> String {
        match (mode, self) {
            (MatchMode::Prefix, _) => self.prefix_filter(),
            (MatchMode::Contains, Self::Name(n) | Self::Qualified { name: n, .. }) => {
                computer_filter(&format!("(sAMAccountName=*{}*)", ldap_escape(n.as_str())))
            }
            (MatchMode::Contains, Self::DnsName(d)) => {
                computer_filter(&format!("(dNSHostName=*{}*)", ldap_escape(d.as_str())))
            }
        }
    }
}

/// The NetBIOS name Windows derives from a DNS host name: its first label, at most 15
/// characters (case does not matter to the directory).
fn netbios_of(dns: &str) -> &str {
    let label = dns.split('.').next().unwrap_or(dns);
    label.get(..NETBIOS_MAX).unwrap_or(label)
}

/// Restrict a clause to computer objects. The selective clause comes first: Samba's ldb
/// works through an AND's terms in order, and a leading `objectCategory=computer` makes it
/// load that term's index, every computer, before the name narrows it (2.5 ms against
/// 0.25 ms per lookup at 20,000 computers, measured in the lab). AD's optimiser does not
/// depend on the order.
fn computer_filter(clause: &str) -> String {
    format!("(&{clause}(objectCategory=computer)(objectClass=computer))")
}

/// The filter for tombstones of a computer under Deleted Objects.
pub fn tombstone_filter(sam_account_name: &str) -> String {
    format!(
        "(&(isDeleted=TRUE)(objectClass=computer)(sAMAccountName={}))",
        ldap_escape(sam_account_name)
    )
}

/// Every computer object (the fleet scan).
pub fn all_computers_filter() -> String {
    computer_filter("")
}

/// Computers changed on a DC after the USN another DC has replicated up to (the objects
/// that can differ between the two; `usn` is a number, nothing to escape).
pub fn changed_since_filter(usn: u64) -> String {
    computer_filter(&format!("(uSNChanged>={})", usn.saturating_add(1)))
}

/// An `objectGUID` as a filter value: each byte escaped as `\xx`, in Windows byte order.
pub fn guid_value(g: &uuid::Uuid) -> String {
    use std::fmt::Write;
    let mut v = String::with_capacity(48);
    for b in g.to_bytes_le() {
        let _ = write!(v, "\\{b:02x}");
    }
    v
}

/// Any of these objects, by `objectGUID`.
pub fn guids_filter(guids: &[uuid::Uuid]) -> String {
    let mut f = String::with_capacity(16 + guids.len() * 62);
    f.push_str("(|");
    for g in guids {
        f.push_str("(objectGUID=");
        f.push_str(&guid_value(g));
        f.push(')');
    }
    f.push(')');
    f
}

#[cfg(test)]
mod tests {
    #[test]
    fn guid_filters_escape_every_byte_in_windows_order() {
        let g = uuid::Uuid::parse_str("01020304-0506-0708-090a-0b0c0d0e0f10").unwrap();
        assert_eq!(
            super::guids_filter(&[g]),
            "(|(objectGUID=\\04\\03\\02\\01\\06\\05\\08\\07\\09\\0a\\0b\\0c\\0d\\0e\\0f\\10))"
        );
        assert_eq!(super::guids_filter(&[]), "(|)");
        assert!(super::changed_since_filter(41).contains("(uSNChanged>=42)"));
        assert!(super::changed_since_filter(u64::MAX).contains(&u64::MAX.to_string()));
    }

    use super::*;

    #[test]
    fn classifies_and_normalises() {
        assert_eq!(
            ComputerQuery::parse(" par-ws001 ").unwrap(),
            ComputerQuery::Name("PAR-WS001".into())
        );
        assert_eq!(
            ComputerQuery::parse("PAR-WS001$").unwrap(),
            ComputerQuery::Name("PAR-WS001".into())
        );
        assert_eq!(
            ComputerQuery::parse("PAR-WS001.Lab.Example.Test").unwrap(),
            ComputerQuery::DnsName("par-ws001.lab.example.test".into())
        );
    }

    #[test]
    fn domain_qualified_names_name_the_same_computer() {
        let cases = [
            ("LAB\\par-ws001", Some("LAB"), "PAR-WS001"),
            (
                " lab.example.test\\PAR-WS001$ ",
                Some("lab.example.test"),
                "PAR-WS001",
            ),
            ("PAR-WS001", None, "PAR-WS001"),
            (
                "par-ws001.lab.example.test",
                None,
                "par-ws001.lab.example.test",
            ),
        ];
        for (input, domain, name) in cases {
            let q = ComputerQuery::parse(input).unwrap();
            assert_eq!((q.domain(), q.display()), (domain, name), "{input:?}");
        }
        let plain = ComputerQuery::parse("PAR-WS001").unwrap();
        let qualified = ComputerQuery::parse("LAB\\PAR-WS001").unwrap();
        assert_eq!(qualified.exact_filters(), plain.exact_filters());
        assert_eq!(qualified.prefix_filter(), plain.prefix_filter());
        for bad in [
            "\\PC01",
            "LAB\\",
            "LAB\\PC01\\X",
            "LAB\\pc01.lab.example.test",
            "L*B\\PC01",
        ] {
            assert!(
                ComputerQuery::parse(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
    }

    #[test]
    fn hostile_input_is_refused_before_ldap() {
        let long = "A".repeat(10_000);
        for bad in [
            "*", "PAR*", ")(", "a)(cn=*", "\\", "\\2a", "a\0b", "ПК-01", "a b", "x;y", &long, "",
            "$", "a..b", ".a",
        ] {
            assert!(
                ComputerQuery::parse(bad).is_err(),
                "{bad:?} must be refused"
            );
        }
        assert!(matches!(
            ComputerQuery::parse("ABCDEFGHIJKLMNOP"),
            Err(NameError::TooLong(16))
        ));
    }

    #[test]
    fn dns_names_are_found_through_indexed_attributes_first() {
        let q = ComputerQuery::parse("Workstation-Finance-01.corp.example").unwrap();
        assert_eq!(
            q.exact_filters(),
            [
                "(&(|(sAMAccountName=workstation-fin$)(servicePrincipalName=HOST/workstation-finance-01.corp.example))(dNSHostName=workstation-finance-01.corp.example)(objectCategory=computer)(objectClass=computer))",
                "(&(dNSHostName=workstation-finance-01.corp.example)(objectCategory=computer)(objectClass=computer))",
            ]
        );
        assert_eq!(
            ComputerQuery::parse("par-ws001.lab")
                .unwrap()
                .prefix_filter(),
            "(&(|(sAMAccountName=par-ws001$)(servicePrincipalName=HOST/par-ws001.lab*))(dNSHostName=par-ws001.lab*)(objectCategory=computer)(objectClass=computer))"
        );
        assert_eq!(netbios_of("a"), "a");
    }

    #[test]
    fn contains_filters_wrap_the_escaped_text_and_prefix_stays_the_default() {
        let q = ComputerQuery::parse("ws00").unwrap();
        assert_eq!(MatchMode::parse(None), MatchMode::Prefix);
        assert_eq!(MatchMode::parse(Some("prefix")), MatchMode::Prefix);
        assert_eq!(MatchMode::parse(Some("Contains")), MatchMode::Contains);
        assert_eq!(q.listing_filter(MatchMode::Prefix), q.prefix_filter());
        assert_eq!(
            q.listing_filter(MatchMode::Contains),
            "(&(sAMAccountName=*WS00*)(objectCategory=computer)(objectClass=computer))"
        );
        let d = ComputerQuery::parse("ws001.lab").unwrap();
        assert_eq!(
            d.listing_filter(MatchMode::Contains),
            "(&(dNSHostName=*ws001.lab*)(objectCategory=computer)(objectClass=computer))"
        );
        // Even a value validation would refuse is escaped, never a wildcard or a clause.
        let hostile = ComputerQuery::Name("A*)(CN=*".into());
        assert_eq!(
            hostile.listing_filter(MatchMode::Contains),
            "(&(sAMAccountName=*A\\2a\\29\\28CN=\\2a*)(objectCategory=computer)(objectClass=computer))"
        );
    }

    #[test]
    fn filters_escape_even_what_validation_would_stop() {
        // Built directly, bypassing `parse`: the escaping alone keeps the filter closed.
        let q = ComputerQuery::Name("*)(cn=*\\\0".into());
        assert_eq!(
            q.exact_filters(),
            [
                "(&(sAMAccountName=\\2a\\29\\28cn=\\2a\\5c\\00$)(objectCategory=computer)(objectClass=computer))"
            ]
        );
        assert_eq!(
            q.prefix_filter(),
            "(&(|(sAMAccountName=\\2a\\29\\28cn=\\2a\\5c\\00*)(servicePrincipalName=HOST/\\2a\\29\\28cn=\\2a\\5c\\00*))(objectCategory=computer)(objectClass=computer))"
        );
        let d = ComputerQuery::DnsName("a*)(.b".into());
        for f in d.exact_filters().iter().chain([&d.prefix_filter()]) {
            assert!(!f.contains("a*") && !f.contains(")(."), "{f}");
        }
        assert!(d.prefix_filter().contains("(dNSHostName=a\\2a\\29\\28.b*)"));
        assert_eq!(
            tombstone_filter("X)(y$"),
            "(&(isDeleted=TRUE)(objectClass=computer)(sAMAccountName=X\\29\\28y$))"
        );
    }
}

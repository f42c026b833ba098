//! Computer names: validation, and the LDAP filters built from them. Every value that enters
//! a filter goes through [`ldap3::ldap_escape`] here, even after validation allowed only
//! harmless characters — two independent guards.

use std::borrow::Cow;

use ldap3::ldap_escape;

/// What the technician typed, classified and validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ComputerQuery {
    /// A NetBIOS name or `sAMAccountName` (the trailing `$` removed), upper-cased.
    Name(String),
    /// A fully qualified DNS host name, lower-cased.
    DnsName(String),
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
            Self::Name(n) | Self::DnsName(n) => n,
        }
    }

    /// Exact match on `sAMAccountName` or `dNSHostName`.
    pub fn exact_filter(&self) -> String {
        match self {
            Self::Name(n) => {
                computer_filter(&format!("(sAMAccountName={}$)", ldap_escape(n.as_str())))
            }
            Self::DnsName(d) => {
                computer_filter(&format!("(dNSHostName={})", ldap_escape(d.as_str())))
            }
        }
    }

    /// Names starting with this text (`sAMAccountName` or `dNSHostName`). The `*` is ours;
    /// the user's text is escaped, so a `*` they typed could never widen the search.
    pub fn prefix_filter(&self) -> String {
        let v: Cow<'_, str> = ldap_escape(self.display());
        computer_filter(&format!("(|(sAMAccountName={v}*)(dNSHostName={v}*))"))
    }
}

/// Restrict a clause to computer objects.
fn computer_filter(clause: &str) -> String {
    format!("(&(objectCategory=computer)(objectClass=computer){clause})")
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
    fn filters_escape_even_what_validation_would_stop() {
        // Built directly, bypassing `parse`: the escaping alone keeps the filter closed.
        let q = ComputerQuery::Name("*)(cn=*\\\0".into());
        let f = q.exact_filter();
        assert_eq!(
            f,
            "(&(objectCategory=computer)(objectClass=computer)(sAMAccountName=\\2a\\29\\28cn=\\2a\\5c\\00$))"
        );
        let p = ComputerQuery::DnsName("a*".into()).prefix_filter();
        assert!(p.contains("dNSHostName=a\\2a*"), "{p}");
        assert_eq!(
            tombstone_filter("X)(y$"),
            "(&(isDeleted=TRUE)(objectClass=computer)(sAMAccountName=X\\29\\28y$))"
        );
    }
}

//! Distinguished names as AD writes them (RFC 4514): split into RDNs with escapes resolved,
//! the DNS domain of a DN, and the comparisons the policy and the config make — scopes and
//! protected OUs compared RDN by RDN, never as text (security review L-11: `OU=x\,OU=Paris`
//! is one RDN whose value holds a comma, not two).

use serde::{Deserialize, Serialize};

/// One relative distinguished name: attribute type as written, value unescaped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rdn {
    pub attr: String,
    pub value: String,
}

/// Splits a DN (RFC 4514 as AD writes it) into RDNs, innermost first, unescaping values.
///
/// Handles `\,`-style and `\2C`-style escapes (hex escapes may spell multi-byte UTF-8) and
/// RFC 2253 quoted values. A multi-valued RDN (`+`) stays one RDN whose value contains the `+`.
/// Never fails: malformed input gives best-effort RDNs (an RDN without `=` has an empty attr).
pub fn parse_dn(dn: &str) -> Vec<Rdn> {
    let mut out = Vec::new();
    let mut chars = dn.chars().peekable();
    loop {
        let mut attr = String::new();
        let mut value: Vec<u8> = Vec::new();
        let mut keep_len = 0usize;
        let mut in_value = false;
        let mut quoted = false;
        let mut ended_by_comma = false;
        while let Some(c) = chars.next() {
            if !in_value {
                match c {
                    '=' => in_value = true,
                    ',' => {
                        ended_by_comma = true;
                        break;
                    }
                    _ => attr.push(c),
                }
                continue;
            }
            match c {
                '\\' => {
                    let hex: String = chars.clone().take(2).collect();
                    match u8::from_str_radix(&hex, 16) {
                        Ok(byte)
                            if hex.len() == 2 && hex.chars().all(|h| h.is_ascii_hexdigit()) =>
                        {
                            chars.next();
                            chars.next();
                            value.push(byte);
                        }
                        _ => {
                            let next = chars.next().unwrap_or('\\');
                            let mut buf = [0u8; 4];
                            value.extend_from_slice(next.encode_utf8(&mut buf).as_bytes());
                        }
                    }
                    keep_len = value.len();
                }
                '"' => {
                    quoted = !quoted;
                    keep_len = value.len();
                }
                ',' if !quoted => {
                    ended_by_comma = true;
                    break;
                }
                ' ' if !quoted && value.is_empty() => {}
                _ => {
                    let mut buf = [0u8; 4];
                    value.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                    if c != ' ' || quoted {
                        keep_len = value.len();
                    }
                }
            }
        }
        value.truncate(keep_len);
        let attr = attr.trim().to_string();
        if !attr.is_empty() || !value.is_empty() {
            out.push(Rdn {
                attr,
                value: String::from_utf8_lossy(&value).into_owned(),
            });
        }
        if !ended_by_comma {
            break;
        }
    }
    out
}

/// The DNS domain a DN lives in, from its `DC=` components (`DC=corp,DC=example` → `corp.example`).
pub fn dn_domain(dn: &str) -> Option<String> {
    let parts: Vec<String> = parse_dn(dn)
        .into_iter()
        .filter(|r| r.attr.eq_ignore_ascii_case("DC"))
        .map(|r| r.value)
        .collect();
    (!parts.is_empty()).then(|| parts.join("."))
}

/// How a DN's values are compared. A scope grants, so it matches strictly: ASCII letters
/// case-insensitively (as AD compares names), everything else exactly, so a look-alike such as
/// KELVIN SIGN (U+212A) in an OU name does not fold into a scope's `k`. A protected OU refuses,
/// so it matches loosely: full Unicode lower case, which may refuse more, never less.
#[derive(Clone, Copy)]
pub enum Fold {
    Strict,
    Loose,
}

/// A DN as its RDNs, outermost last: (attribute, value) pairs with escapes resolved, compared
/// component by component, never as text (security review L-11: `OU=x\,OU=Paris` is one RDN
/// whose value holds a comma, not two).
pub fn rdns(dn: &str, fold: Fold) -> Vec<(String, String)> {
    parse_dn(dn)
        .into_iter()
        .map(|r| {
            // `parse_dn` already dropped the spaces RFC 4514 ignores; an escaped one is part of
            // the name, so a strict comparison keeps it (`OU=Paris\20` is not `OU=Paris`).
            let value = match fold {
                Fold::Strict => r.value.to_ascii_lowercase(),
                Fold::Loose => r.value.trim().to_lowercase(),
            };
            (r.attr.trim().to_ascii_lowercase(), value)
        })
        .collect()
}

/// Whether `dn` is `scope` itself or below it, RDN by RDN.
pub fn suffix_of(dn: &[(String, String)], scope: &[(String, String)]) -> bool {
    !scope.is_empty()
        && dn.len() >= scope.len()
        && dn.iter().rev().zip(scope.iter().rev()).all(|(a, b)| a == b)
}

/// A scope: a normalised DN kept beside its strictly folded RDNs, parsed once when the policy
/// is built, so that checking an object against it parses only the object's DN (a lookup's
/// authorization checked every scope of every role, parsed anew each time).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subtree {
    dn: String,
    rdns: Vec<(String, String)>,
}

impl Subtree {
    pub fn new(dn: &str) -> Self {
        let dn = normalize_dn(dn);
        let rdns = rdns(&dn, Fold::Strict);
        Self { dn, rdns }
    }

    /// The normalised DN.
    pub fn as_str(&self) -> &str {
        &self.dn
    }

    /// Whether the object whose RDNs are `object` (from [`rdns`] with [`Fold::Strict`]) is
    /// this DN itself or below it.
    pub fn holds(&self, object: &[(String, String)]) -> bool {
        suffix_of(object, &self.rdns)
    }
}

impl From<&str> for Subtree {
    fn from(dn: &str) -> Self {
        Self::new(dn)
    }
}

impl std::fmt::Display for Subtree {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.dn)
    }
}

impl Serialize for Subtree {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.dn)
    }
}

/// RFC 4514 escaping of an attribute value, so the text form of a DN is one DN again.
fn escape_value(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        let lead = i == 0 && (c == ' ' || c == '#');
        let trail = i == last && c == ' ';
        match c {
            ',' | '+' | '"' | '\\' | '<' | '>' | ';' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '\0' => out.push_str("\\00"),
            _ if lead || trail => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `OU=Paris, OU=Workstations,DC=lab` → `ou=paris,ou=workstations,dc=lab` (ASCII letters
/// lower-cased, values re-escaped: the result is still the same DN, and a usable search base).
pub fn normalize_dn(dn: &str) -> String {
    rdns(dn, Fold::Strict)
        .iter()
        .map(|(a, v)| format!("{a}={}", escape_value(v)))
        .collect::<Vec<_>>()
        .join(",")
}

/// Whether `dn` is `scope` itself or below it (both as written in config or AD; strict).
pub fn dn_within(dn: &str, scope: &str) -> bool {
    suffix_of(&rdns(dn, Fold::Strict), &rdns(scope, Fold::Strict))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_dn_keeps_escaped_spaces_and_survives_garbage() {
        let rdns = parse_dn(r"CN=\ lead\ ,OU= trail  ,DC=x");
        assert_eq!(rdns.first().unwrap().value, " lead ");
        assert_eq!(rdns.get(1).unwrap().value, "trail");
        assert_eq!(parse_dn("CN=a\\").first().unwrap().value, "a\\");
        assert_eq!(parse_dn("CN=a\\4").first().unwrap().value, "a4");
        assert_eq!(parse_dn("CN=\\ff").first().unwrap().value, "\u{fffd}");
        assert_eq!(parse_dn("noequals,,=x").len(), 2);
        let mut x: u64 = 7;
        let alphabet: Vec<char> = "=,\\\"+ abAF09é".chars().collect();
        for _ in 0..5_000 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let s: String = (0..(x % 40))
                .map(|i| alphabet[((x >> (i % 60)) % alphabet.len() as u64) as usize])
                .collect();
            let _ = parse_dn(&s);
        }
    }

    #[test]
    fn scopes_compare_rdn_by_rdn_never_as_text() {
        let paris = "OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test";
        let cases = [
            (
                "CN=PC,OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test",
                true,
            ),
            (
                "cn=pc, ou=PARIS ,ou=workstations,dc=lab,dc=example,dc=test",
                true,
            ),
            (paris, true),
            // An OU literally named "x,OU=Paris" beside OU=Paris: one RDN, not two.
            (
                r"CN=PC,OU=x\,OU=Paris,OU=Workstations,DC=lab,DC=example,DC=test",
                false,
            ),
            (
                r"CN=PC,OU=x\2COU=Paris,OU=Workstations,DC=lab,DC=example,DC=test",
                false,
            ),
            // An escaped trailing space makes another name.
            (
                r"CN=PC,OU=Paris\ ,OU=Workstations,DC=lab,DC=example,DC=test",
                false,
            ),
            (
                r"CN=PC,OU=Paris\20,OU=Workstations,DC=lab,DC=example,DC=test",
                false,
            ),
            // KELVIN SIGN is not K for a scope.
            ("CN=PC,OU=\u{212A}iosk,DC=lab,DC=example,DC=test", false),
            (
                "CN=X,OU=NotParis,OU=Workstations,DC=lab,DC=example,DC=test",
                false,
            ),
            ("OU=Workstations,DC=lab,DC=example,DC=test", false),
        ];
        // A scope parsed once (`Subtree`) answers as the text does.
        let scope = Subtree::new(paris);
        for (dn, want) in cases {
            assert_eq!(dn_within(dn, paris), want, "{dn}");
            assert_eq!(scope.holds(&rdns(dn, Fold::Strict)), want, "{dn}");
        }
        assert_eq!(scope.to_string(), normalize_dn(paris));
        assert!(!Subtree::new("").holds(&rdns("CN=PC,DC=lab", Fold::Strict)));
        assert!(!dn_within(
            "CN=PC,OU=\u{212A}iosk,DC=lab",
            "OU=Kiosk,DC=lab"
        ));
        assert!(
            !dn_within("CN=PC,DC=lab", ""),
            "an empty scope covers nothing"
        );
        // Normalised text is the same DN again, escapes kept.
        assert_eq!(
            normalize_dn(r"OU=Sales\, EMEA , DC=Corp"),
            r"ou=sales\, emea,dc=corp"
        );
        assert!(dn_within(
            r"CN=A,OU=Sales\, EMEA,DC=corp",
            &normalize_dn(r"OU=Sales\, EMEA,DC=Corp")
        ));
    }
}

//! CSV fields for the exports (audit log, fleet report), written by hand: every field is
//! quoted and a formula-like lead character is neutralised, which the `csv` crate leaves to
//! the caller anyway.

/// One CSV field: quoted, quotes doubled; a leading `=`, `+`, `-` or `@` is prefixed with `'`
/// so a spreadsheet never evaluates it (CSV injection).
pub fn field(v: &str) -> String {
    let v = if v.starts_with(['=', '+', '-', '@']) {
        format!("'{v}")
    } else {
        v.to_string()
    };
    format!("\"{}\"", v.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    #[test]
    fn quotes_and_defuses_formulas() {
        assert_eq!(super::field("a\"b"), "\"a\"\"b\"");
        assert_eq!(super::field("=cmd()"), "\"'=cmd()\"");
        assert_eq!(super::field(""), "\"\"");
    }
}

//! CSV fields for the exports (audit log, fleet report), written by hand: every field is
//! quoted and a formula-like lead character is neutralised, which the `csv` crate leaves to
//! the caller anyway.

/// Characters a spreadsheet may start a formula with (OWASP, "CSV Injection"): `=`, `+`,
/// `-`, `@`, and TAB and CR, which some applications drop before they evaluate.
const FORMULA_LEAD: [char; 6] = ['=', '+', '-', '@', '\t', '\r'];

/// One CSV field: quoted, quotes doubled; prefixed with `'` (so a spreadsheet never evaluates
/// it) when it starts with a formula character, or with NUL, or when it does once leading
/// whitespace and NULs are trimmed (some spreadsheets trim before evaluating).
pub fn field(v: &str) -> String {
    let trimmed = v.trim_start_matches(|c: char| c.is_whitespace() || c == '\0');
    let risky =
        v.starts_with(FORMULA_LEAD) || v.starts_with('\0') || trimmed.starts_with(FORMULA_LEAD);
    let v = if risky {
        format!("'{v}")
    } else {
        v.to_string()
    };
    format!("\"{}\"", v.replace('"', "\"\""))
}

#[cfg(test)]
mod tests {
    use super::field;

    #[test]
    fn quotes_and_defuses_formulas() {
        assert_eq!(field("a\"b"), "\"a\"\"b\"");
        assert_eq!(field("=cmd()"), "\"'=cmd()\"");
        assert_eq!(field(""), "\"\"");
        assert_eq!(field("PC-01"), "\"PC-01\"");
    }

    /// S-3: a leading TAB, CR or NUL, and a formula character after leading whitespace.
    #[test]
    fn defuses_tab_cr_nul_and_formulas_after_whitespace() {
        for (raw, out) in [
            ("\t=1+1", "\"'\t=1+1\""),
            ("\rcmd", "\"'\rcmd\""),
            ("\0=1", "\"'\0=1\""),
            ("\0text", "\"'\0text\""),
            ("  =HYPERLINK(\"x\")", "\"'  =HYPERLINK(\"\"x\"\")\""),
            ("\n@SUM(A1)", "\"'\n@SUM(A1)\""),
            ("\u{a0}+1", "\"'\u{a0}+1\""),
        ] {
            assert_eq!(field(raw), out, "{raw:?}");
        }
        assert_eq!(field(" plain"), "\" plain\"");
    }
}

//! Quoting untrusted text (command output, portal messages) in our own messages.

/// Quotes `text` safely: the secret (if given) redacted, control characters dropped, lines
/// joined with " | ", whitespace collapsed, cut at `max` characters.
#[must_use]
pub fn sanitize(text: &str, secret: Option<&str>, max: usize) -> String {
    let redacted = match secret {
        Some(s) if !s.is_empty() => text.replace(s, "<redacted>"),
        _ => text.to_owned(),
    };
    let joined = redacted
        .lines()
        .map(|l| {
            l.chars()
                .filter(|c| !c.is_control())
                .collect::<String>()
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        })
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" | ");
    if joined.is_empty() {
        return "(no output)".to_owned();
    }
    if joined.chars().count() > max {
        let cut: String = joined.chars().take(max).collect();
        format!("{cut}…")
    } else {
        joined
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_strips_and_truncates() {
        let s = sanitize(
            "line one\n\x1b[31mred\x1b[0m  P@ss\tword here\n\n",
            Some("P@ss\tword"),
            600,
        );
        assert_eq!(s, "line one | [31mred[0m <redacted> here");
        assert_eq!(sanitize("", None, 10), "(no output)");
        let long = "x".repeat(5000);
        assert_eq!(sanitize(&long, None, 100).chars().count(), 101);
    }
}

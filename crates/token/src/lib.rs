//! The `td1.` one-time repair token: claims, encoding and Ed25519 sign/verify with an
//! explicit `now`. Shared by the portal and the companion client; no I/O, no runtime.
//!
//! Skeleton: the format lands with the repair issue (see design.md, "Token repair protocol").

/// The prefix every trustdesk repair token carries, so a leaked token is recognisable.
pub const TOKEN_PREFIX: &str = "td1.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_versioned() {
        assert!(TOKEN_PREFIX.starts_with("td1"));
    }
}

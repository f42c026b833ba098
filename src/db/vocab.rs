//! The stored vocabularies: audit actions and outcomes, token states, fleet-scan states.
//!
//! The database stores them as text (the audit chain's canonical form hashes the text, and
//! old rows keep theirs), but nothing in the code writes that text by hand: rows are made from
//! these enums, SQL that filters on them is built from them ([`sql_list`]), the review page's
//! drop-downs list them, and the hourly limit counts the actions [`Action::COUNTED`] names. A
//! value the code no longer writes (`ok`, which fleet views wrote before #17) still filters,
//! as "not a known value". They live here, with the rows, so that `audit` (which writes rows)
//! depends on `db` and not the other way round; `audit` re-exports the audit ones.

macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident => $text:literal,)* }) => {
        $(#[$meta])*
        // In the OpenAPI document: a string enum of the stored texts.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, utoipa::ToSchema)]
        pub enum $name {
            $($(#[$vmeta])* #[schema(rename = $text)] $variant,)*
        }

        impl $name {
            /// Every value, in the order the review page lists them.
            pub const ALL: &'static [Self] = &[$(Self::$variant,)*];

            /// The stored text.
            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $text,)*
                }
            }

            /// The value whose stored text is `text`, exactly.
            pub fn parse(text: &str) -> Option<Self> {
                Self::ALL.iter().copied().find(|v| v.as_str() == text)
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl $name {
            /// A stored text read back: one the code does not know is a decoding error.
            pub fn decode(text: &str) -> Result<Self, sqlx::Error> {
                Self::parse(text).ok_or_else(|| {
                    sqlx::Error::Decode(format!("unknown {} {text:?}", stringify!($name)).into())
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

vocabulary!(
    /// What an audit event is about (alphabetical: the review page lists them so).
    Action {
        ApiKeyCreate => "api_key_create",
        ApiKeyRevoke => "api_key_revoke",
        /// An approver approved a request (actor: the approver; reason names the requester).
        ApprovalApprove => "approval_approve",
        /// An approver denied a request (actor: the approver; reason names the requester).
        ApprovalDeny => "approval_deny",
        /// A change that needs approval was asked for (actor: the requester).
        ApprovalRequest => "approval_request",
        ConfigLoad => "config_load",
        Diagnose => "diagnose",
        ExportAudit => "export_audit",
        FleetExport => "fleet_export",
        /// A fleet scan: started from the page, the schedule or the CLI, or refused.
        FleetScan => "fleet_scan",
        FleetView => "fleet_view",
        Lookup => "lookup",
        MintToken => "mint_token",
        OverrideDiagnosis => "override_diagnosis",
        RedeemCode => "redeem_code",
        RedeemToken => "redeem_token",
        /// The companion client's report of how a repair ended.
        RepairOutcome => "repair_outcome",
        /// The post-repair watch's verdict on a redeemed token.
        RepairWatch => "repair_watch",
        ResetAccount => "reset_account",
        RevokeToken => "revoke_token",
        SignIn => "sign_in",
        SignOut => "sign_out",
        TokenKeyRotate => "token_key_rotate",
        ViewAudit => "view_audit",
        ViewPolicy => "view_policy",
    }
);

vocabulary!(
    /// How it ended (most common first).
    Outcome {
        Success => "success",
        Failure => "failure",
        Denied => "denied",
        Started => "started",
        /// Done, but worth a look (a token redeemed from the address that minted it).
        Flagged => "flagged",
    }
);

impl Action {
    /// The actions the per-person hourly limit counts, when they succeeded.
    pub const COUNTED: &'static [Self] = &[
        Self::Lookup,
        Self::Diagnose,
        Self::MintToken,
        Self::RevokeToken,
        Self::ResetAccount,
    ];
}

impl Outcome {
    /// [`Self::Success`] when `ok`, else [`Self::Failure`].
    pub fn of(ok: bool) -> Self {
        if ok { Self::Success } else { Self::Failure }
    }
}

vocabulary!(
    /// Where a repair token is: `pending` until redeemed (or revoked), then `redeemed` while
    /// the client works, then `completed` or `failed` as the client reports. "expired" is not
    /// stored: a pending token past its expiry shows so (`TokenRow::state_at_time`).
    TokenState {
        Pending => "pending",
        Redeemed => "redeemed",
        Completed => "completed",
        Failed => "failed",
        Revoked => "revoked",
        /// Never stored: how a pending token past its expiry is shown.
        Expired => "expired",
    }
);

vocabulary!(
    /// Where a request for approval is: `pending` until an approver decides, then `approved`
    /// (until its requester uses it) and `used`, or `denied`. "expired" is not stored: a pending
    /// or approved request past its expiry shows so (`ApprovalRow::state_at_time`).
    ApprovalState {
        Pending => "pending",
        Approved => "approved",
        Denied => "denied",
        Used => "used",
        /// Never stored.
        Expired => "expired",
    }
);

vocabulary!(
    /// Where a fleet scan's report is.
    FleetState {
        Running => "running",
        Complete => "complete",
        Failed => "failed",
    }
);

vocabulary!(
    /// Where a webhook delivery is: `pending` (due at `next_attempt_at`, retried with backoff),
    /// then `delivered` (a 2xx answer) or `failed` (given up after a day of failures).
    DeliveryState {
        Pending => "pending",
        Delivered => "delivered",
        Failed => "failed",
    }
);

/// `'a', 'b'`: stored texts as SQL literals, for an `IN (…)` that must stay literal (a partial
/// index is used only when the query's condition names its values). The texts are ours, from
/// `as_str`, never input, and contain no quote.
pub fn sql_list(texts: impl IntoIterator<Item = &'static str>) -> String {
    texts
        .into_iter()
        .map(|t| format!("'{t}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn texts_are_unique_alphabetical_actions_and_parse_back() {
        let texts: Vec<&str> = Action::ALL.iter().map(|a| a.as_str()).collect();
        let mut sorted = texts.clone();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(sorted, texts, "alphabetical, once each");
        for a in Action::ALL {
            assert_eq!(Action::parse(a.as_str()), Some(*a));
        }
        for o in Outcome::ALL {
            assert_eq!(Outcome::parse(o.as_str()), Some(*o));
        }
        assert_eq!(Outcome::parse("ok"), None, "no longer written");
    }

    #[test]
    fn sql_lists_quote_each_text() {
        assert_eq!(
            sql_list([Action::Lookup.as_str(), Action::Diagnose.as_str()]),
            "'lookup', 'diagnose'"
        );
        for t in Action::ALL.iter().map(|a| a.as_str()) {
            assert!(
                t.bytes().all(|b| b.is_ascii_lowercase() || b == b'_'),
                "{t}"
            );
        }
    }
}

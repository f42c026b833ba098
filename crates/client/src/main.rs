//! trustdesk-client: the companion that redeems a one-time repair token on the workstation.
//!
//! Skeleton: the redeem flow (verify, preflight, redeem, store the secret, verify the channel,
//! rotate, report) lands with the repair issue.

fn main() {
    println!(
        "trustdesk-client {} (token format {})",
        env!("CARGO_PKG_VERSION"),
        trustdesk_token::TOKEN_PREFIX
    );
}

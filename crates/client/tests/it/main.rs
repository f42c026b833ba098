//! Integration tests of trustdesk-client: the HTTPS portal client against a fake portal
//! served over real TLS (test CA in testdata/tls), and the binary end to end with that
//! portal and fake Samba tools. The real lab end-to-end test lives in the portal's tests.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

#[cfg(unix)]
mod binary;
mod fake_portal;
mod http;

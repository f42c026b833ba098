//! trustdesk-client: the companion that redeems a one-time repair token on the workstation.
//!
//! The binary (`main.rs`) is a thin wrapper around [`command::main`]. The modules are public
//! so the portal's tests can drive the client: [`http::PortalClient`] talks to a portal,
//! [`redeem::run`] runs the whole flow against any [`http::Portal`] and
//! [`backend::Backend`].
//!
//! Codemap: `cli` (clap structs), `command` (glue: config, token, runtime), `config`,
//! `redeem` (the flow; `redeem/code.rs` exchanges a short repair code for its token),
//! `http` (portal client), `refusal` (the portal's refusal codes: exit code and advice),
//! `backend/` (`samba`, `windows`), `password` (generator), `exit` (exit codes), `text`
//! (quoting untrusted text).

pub mod backend;
pub mod cli;
pub mod command;
pub mod config;
pub mod exit;
pub mod http;
pub mod password;
pub mod process;
pub mod redeem;
pub mod refusal;
pub mod text;

#[cfg(test)]
pub(crate) mod testutil;

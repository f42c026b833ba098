//! The integration suite: one binary, so the lab is shared by every module.
//!
//! Lab tests need the lab from `lab/lab.sh up` and run inside `lab/lab.sh run -- …`, which
//! exports the `LAB_*` variables. Without a lab they are skipped locally, and FAIL when
//! `CI=true` or `TD_REQUIRE_LAB=1` (the README's test command sets it).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod anon_flood;
mod audit_export;
mod audit_key;
mod axe;
mod browser;
mod code_lab;
mod common;
mod config_cli;
mod demo_path;
mod diagnosis_lab;
mod directory_lab;
mod downloads;
mod e2e_repair;
mod fleet_lab;
mod http;
mod idp;
mod labctl;
mod llng;
mod lookup_lab;
mod matrix;
mod proxy_lab;
mod real_domain;
mod relay;
mod repair_lab;
mod search_lab;
mod sessions_lab;
mod signin;
mod store;
mod tap;
mod tier0_lab;
mod watch_lab;

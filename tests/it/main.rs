//! The integration suite: one binary, so the lab is shared by every module.
//!
//! Plain `cargo test` runs what needs nothing outside the process: the web layer in-process
//! (`app/`'s `TestApp`, the tests in `web/`), the store on SQLite, the CLI. Tests that need
//! the lab (`lab/lab.sh up`, run inside `lab/lab.sh run -- …`, which exports `LAB_*`),
//! PostgreSQL (`TD_TEST_PG_URL`) or Chromium are `#[ignore = "needs …"]`: they are listed as
//! ignored, never passed silently, and `lab/test.sh` runs them with `--include-ignored`,
//! where a missing `LAB_*` fails the test.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod anon_flood;
mod app;
mod approvals_lab;
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
mod dns_srv_lab;
mod domains_lab;
mod downloads;
mod e2e_repair;
mod fleet_lab;
mod forest2_lab;
mod http;
mod idp;
mod instances;
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
mod web;
mod webhooks;

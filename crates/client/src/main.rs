//! trustdesk-client: the companion that redeems a one-time repair token on the workstation.
//! See the crate's README.md; everything happens in the library.

use clap::Parser;

fn main() -> std::process::ExitCode {
    let cli = trustdesk_client::cli::Cli::parse();
    trustdesk_client::command::main(cli).into()
}

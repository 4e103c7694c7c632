//! The `nstyle` command's front end: arguments (`args`), one file per command, and the
//! terminal's view of a run (`progress`). The library does the work.

pub(crate) mod args;
mod batch;
mod bench;
mod figure;
mod grid;
mod grid_record;
mod grid_spec;
mod losses;
mod manifest;
mod progress;
mod score;
mod transfer;

use anyhow::Result;
use args::{Cli, Command};
use clap::{CommandFactory, FromArgMatches};
use std::process::ExitCode;

pub fn run() -> Result<ExitCode> {
    let matches = Cli::command().after_help(args::examples()).get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    match cli.command {
        Some(Command::Losses(a)) => losses::losses(*a),
        Some(Command::Bench(a)) => bench::bench(a),
        #[cfg(feature = "web")]
        Some(Command::Serve(a)) => crate::web::serve(a),
        Some(Command::Batch(a)) => batch::batch(*a),
        Some(Command::Grid(a)) => grid::grid(a),
        Some(Command::Figure(a)) => figure::figure(a),
        Some(Command::Score(a)) => score::score(a),
        None => transfer::transfer(cli.transfer),
    }
}

/// The one line a failure prints: library errors about an option name it as this
/// command spells it (`--style-weight must be ...`).
pub fn error_line(e: &anyhow::Error) -> String {
    let line = match e.downcast_ref::<nstyle::Error>() {
        Some(nstyle::Error::InvalidValue { option, msg }) => format!("--{option} {msg}"),
        // The library's messages already include their cause; `{:#}` would repeat it.
        Some(err) => err.to_string(),
        _ => format!("{e:#}"),
    };
    line.replace('\n', " ")
}

//! The `dybervpn` command.
//!
//! `main` parses the command line and dispatches; each command group lives
//! in its own module under `cmd/`. Every failure is one message on stderr and
//! exit status 2 ([`CliError`]); nothing here panics on bad input.
//!
//! The subcommand names `up`, `down`, `status`, `reload` and `demo` are
//! reserved for the daemon's commands, which plug in as another module and
//! another variant of [`Command`].
#![forbid(unsafe_code)]

mod atomic;
mod cmd;
mod error;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

pub use error::CliError;

/// DyberVPN: a post-quantum VPN speaking the WireGuard protocol.
///
/// Each interface has one TOML configuration file. `init` writes a matching
/// server and client pair, `check` validates a file, and `genkey`/`pubkey`
/// work like `wg genkey`/`wg pubkey`. See docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "dybervpn", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Genkey(cmd::keys::GenkeyArgs),
    Pubkey(cmd::keys::PubkeyArgs),
    Init(cmd::init::InitArgs),
    Check(cmd::check::CheckArgs),
    Import(cmd::convert::ImportArgs),
    Export(cmd::convert::ExportArgs),
    Version(cmd::version::VersionArgs),
    Benchmark(cmd::bench::BenchArgs),
    Completions(cmd::completions::CompletionsArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Genkey(a) => cmd::keys::genkey(&a),
        Command::Pubkey(a) => cmd::keys::pubkey(&a),
        Command::Init(a) => cmd::init::run(&a),
        Command::Check(a) => cmd::check::run(&a),
        Command::Import(a) => cmd::convert::import(&a),
        Command::Export(a) => cmd::convert::export(&a),
        Command::Version(a) => cmd::version::run(&a),
        Command::Benchmark(a) => cmd::bench::run(&a),
        Command::Completions(a) => cmd::completions::run(&a, &mut Cli::command()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dybervpn: {e}");
            ExitCode::from(2)
        }
    }
}

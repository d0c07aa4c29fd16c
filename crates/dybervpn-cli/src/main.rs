//! The `dybervpn` command.
//!
//! `main` parses the command line and dispatches; each command group lives
//! in its own module under `cmd/`. Every failure is one message on stderr;
//! the exit status is 2 for bad input and the operator's mistakes
//! ([`CliError`]) and 1 for failures at run time (the daemon's commands);
//! nothing here panics on bad input.
#![forbid(unsafe_code)]

mod atomic;
mod cmd;
mod error;

use std::process::ExitCode;

use clap::{CommandFactory, Parser, Subcommand};

pub use error::{CliError, Failure};

/// DyberVPN: a post-quantum VPN speaking the WireGuard protocol.
///
/// Try it: `sudo dybervpn demo` runs two peers in network namespaces and
/// shows the post-quantum handshake, pings and throughput.
///
/// Each interface has one TOML configuration file. `init` writes a matching
/// server and client pair, `check` validates a file, `up`/`down` start and
/// stop an interface, `status` shows it and `reload` re-reads its file.
/// `genkey`/`pubkey` work like `wg genkey`/`wg pubkey`, and `wg show` works
/// too. See docs/configuration.md.
#[derive(Debug, Parser)]
#[command(name = "dybervpn", version, propagate_version = true)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    Up(cmd::daemon::UpArgs),
    Down(cmd::daemon::DownArgs),
    Status(cmd::daemon::StatusArgs),
    Reload(cmd::daemon::ReloadArgs),
    Demo(cmd::daemon::DemoArgs),
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
    let result: Result<(), Failure> = match cli.command {
        Command::Up(a) => cmd::daemon::up(&a),
        Command::Down(a) => cmd::daemon::down(&a),
        Command::Status(a) => cmd::daemon::status(&a),
        Command::Reload(a) => cmd::daemon::reload(&a),
        Command::Demo(a) => cmd::daemon::demo(&a),
        Command::Genkey(a) => cmd::keys::genkey(&a).map_err(Failure::from),
        Command::Pubkey(a) => cmd::keys::pubkey(&a).map_err(Failure::from),
        Command::Init(a) => cmd::init::run(&a).map_err(Failure::from),
        Command::Check(a) => cmd::check::run(&a).map_err(Failure::from),
        Command::Import(a) => cmd::convert::import(&a).map_err(Failure::from),
        Command::Export(a) => cmd::convert::export(&a).map_err(Failure::from),
        Command::Version(a) => cmd::version::run(&a).map_err(Failure::from),
        Command::Benchmark(a) => cmd::bench::run(&a).map_err(Failure::from),
        Command::Completions(a) => {
            cmd::completions::run(&a, &mut Cli::command()).map_err(Failure::from)
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("dybervpn: {}", e.message);
            ExitCode::from(e.code)
        }
    }
}

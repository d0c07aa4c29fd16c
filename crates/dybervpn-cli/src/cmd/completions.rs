//! `dybervpn completions <shell>`: shell completion scripts.

use clap::Args;
use clap_complete::Shell;

use crate::error::Result;

/// Print a completion script for a shell (bash, zsh, fish, elvish,
/// powershell), e.g. `dybervpn completions bash > /etc/bash_completion.d/dybervpn`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to generate completions for.
    pub shell: Shell,
}

/// Writes the script to stdout.
pub fn run(args: &CompletionsArgs, command: &mut clap::Command) -> Result<()> {
    clap_complete::generate(args.shell, command, "dybervpn", &mut std::io::stdout());
    Ok(())
}

//! `portico-tunnel`: run the tunnel client, or `check` a configuration file.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Tunnel client for portico-gateway.
#[derive(Debug, Parser)]
#[command(name = "portico-tunnel", version, about)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level or filter (overrides RUST_LOG), e.g. `info` or `portico_gateway=debug`.
    #[arg(long, global = true, value_name = "LEVEL")]
    log_level: Option<String>,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Validate the configuration, print the errors, exit 1 on any.
    Check,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(path) = cli.config else {
        eprintln!("portico-tunnel: --config FILE is required");
        return ExitCode::from(2);
    };
    match cli.command {
        Some(Command::Check) => match portico_config::load_tunnel(&path) {
            Ok(config) => {
                println!(
                    "ok: gateway {}, {} services, tun {}",
                    config.gateway,
                    config.services.len(),
                    if config.tun.is_some() { "on" } else { "off" }
                );
                ExitCode::SUCCESS
            }
            Err(diagnostics) => {
                eprint!("{diagnostics}");
                ExitCode::FAILURE
            }
        },
        None => {
            eprintln!("portico-tunnel: run mode is not built yet; use `check`");
            ExitCode::FAILURE
        }
    }
}

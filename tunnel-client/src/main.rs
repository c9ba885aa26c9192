//! `portico-tunnel`: run the tunnel client, or `check` a configuration file.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// Tunnel client for portico-gateway.
#[derive(Debug, Parser)]
#[command(name = "portico-tunnel", version, about)]
struct Cli {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Log level or filter (overrides RUST_LOG), e.g. `info` or `portico_tunnel=debug`.
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

fn check(path: &Path) -> ExitCode {
    match portico_config::load_tunnel(path) {
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
    }
}

fn run(path: PathBuf) -> anyhow::Result<()> {
    let config = portico_config::load_tunnel(&path).map_err(|diagnostics| {
        eprint!("{diagnostics}");
        anyhow::anyhow!("invalid configuration {}", path.display())
    })?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(portico_tunnel::daemon::run(config, path))?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let Some(path) = cli.config else {
        eprintln!("portico-tunnel: --config FILE is required");
        return ExitCode::from(2);
    };
    if let Some(Command::Check) = cli.command {
        return check(&path);
    }
    if let Err(err) = portico_logging::init(cli.log_level.as_deref()) {
        eprintln!("portico-tunnel: {err:#}");
        return ExitCode::from(2);
    }
    match run(path) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portico-tunnel: {err:#}");
            ExitCode::FAILURE
        }
    }
}

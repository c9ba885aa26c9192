//! `portico-gateway`: run the gateway (`--config FILE`), `check` a
//! configuration file, add a tunnel client (`tunnel add NAME`), or run the
//! self-contained `demo`.
//!
//! Exit codes: 0 success, 1 configuration or runtime error, 2 usage error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::{Parser, Subcommand};

/// mimalloc keeps each size of allocation on its own pages: the small
/// long-lived state of idle connections packs densely instead of being
/// interleaved with freed setup buffers (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Protocol-sniffing edge gateway.
#[derive(Debug, Parser)]
#[command(name = "portico-gateway", version, about)]
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
    /// Validate the configuration, print the errors, exit 1 on any;
    /// warnings are printed too but do not fail the check.
    Check,
    /// Run with a built-in demo configuration and two demo backends on loopback.
    Demo {
        /// Where the demo gateway listens.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        listen: SocketAddr,
    },
    /// Tunnel clients.
    Tunnel {
        #[command(subcommand)]
        command: TunnelCommand,
    },
}

#[derive(Debug, Subcommand)]
enum TunnelCommand {
    /// Create a token file for a new tunnel client NAME (mode 0600, beside
    /// the configuration) and print the [[tunnel]] stanza to add and the
    /// tunnel client's file.
    Add {
        /// The tunnel's name.
        name: String,
        /// The gateway address the client dials (host:port); default: the
        /// [tunnels] bind address, or this host's name.
        #[arg(long, value_name = "HOST:PORT")]
        gateway: Option<String>,
        /// The local service the client delivers to.
        #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
        to: SocketAddr,
    },
}

/// The line between the stanza and the client file in `tunnel add`'s output.
const CLIENT_FILE_MARK: &str = "# ---- the tunnel client's file ----";

fn tunnel_add(path: &Path, name: &str, options: &portico_gateway::TunnelAddOptions) -> ExitCode {
    match portico_gateway::tunnel_add(path, name, options) {
        Ok(added) => {
            eprintln!(
                "created {} (mode 0600)
                 1. add the [[tunnel]] stanza below to {} and reload the gateway (SIGHUP)
                 2. on the tunnel host, save the client file below, with {} beside it (chmod 600)
                 3. run: portico-tunnel --config FILE",
                added.token_file.display(),
                path.display(),
                added.token_file.display()
            );
            print!(
                "{}\n{CLIENT_FILE_MARK}\n{}",
                added.stanza, added.client_file
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("portico-gateway: {err}");
            ExitCode::FAILURE
        }
    }
}

fn check(path: &Path) -> ExitCode {
    match portico_config::load_gateway_checked(path) {
        Ok(portico_config::Checked { config, warnings }) => {
            eprint!("{warnings}");
            let udp = match config.udp_listeners.len() {
                0 => String::new(),
                n => format!("{n} UDP listeners, "),
            };
            println!(
                "ok: {} listeners, {udp}{} routes, {} tunnels",
                config.listeners.len(),
                config.routes.len(),
                config.tunnel.len()
            );
            ExitCode::SUCCESS
        }
        Err(diagnostics) => {
            eprint!("{diagnostics}");
            ExitCode::FAILURE
        }
    }
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    match portico_gateway::raise_open_file_limit() {
        Some(limit) if limit.now > limit.before => tracing::debug!(
            before = limit.before,
            now = limit.now,
            "raised the open-file limit to the hard limit"
        ),
        Some(_) => {}
        None => tracing::warn!("could not raise the open-file limit; running with the current one"),
    }
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}

fn run(path: PathBuf) -> anyhow::Result<()> {
    let checked = portico_config::load_gateway_checked(&path).map_err(|diagnostics| {
        eprint!("{diagnostics}");
        anyhow::anyhow!("invalid configuration {}", path.display())
    })?;
    let config = portico_gateway::log_config_warnings(checked);
    runtime()?.block_on(portico_gateway::run(config, path))?;
    Ok(())
}

fn demo(listen: SocketAddr) -> anyhow::Result<()> {
    runtime()?.block_on(portico_gateway::run_demo(Some(listen)))?;
    Ok(())
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(err) = portico_logging::init(cli.log_level.as_deref()) {
        eprintln!("portico-gateway: {err:#}");
        return ExitCode::from(2);
    }
    let result = match (cli.command, cli.config) {
        (Some(Command::Demo { listen }), _) => demo(listen),
        (Some(Command::Check), Some(path)) => return check(&path),
        (
            Some(Command::Tunnel {
                command: TunnelCommand::Add { name, gateway, to },
            }),
            Some(path),
        ) => {
            let options = portico_gateway::TunnelAddOptions { gateway, to };
            return tunnel_add(&path, &name, &options);
        }
        (None, Some(path)) => run(path),
        (_, None) => {
            eprintln!("portico-gateway: --config FILE is required (or use `portico-gateway demo`)");
            return ExitCode::from(2);
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("portico-gateway: {err:#}");
            ExitCode::FAILURE
        }
    }
}

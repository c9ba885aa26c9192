//! `portico-gateway`: run the gateway (`--config FILE`), `check` a
//! configuration file, print the running gateway's `status`, add a tunnel
//! client (`tunnel add NAME`), or run the self-contained `demo`. The hidden
//! `man` and `completions SHELL` commands write the manual page and shell
//! completions for the Debian package.
//!
//! Exit codes: 0 success, 1 configuration or runtime error, 2 usage error.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};
use portico_console::manual::{self, Shell};

/// mimalloc keeps each size of allocation on its own pages: the small
/// long-lived state of idle connections packs densely instead of being
/// interleaved with freed setup buffers (see docs/benchmarks.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Protocol-sniffing edge gateway.
///
/// portico-gateway accepts TCP connections on its listeners, reads the first
/// bytes, recognises the protocol and the name the client wants (TLS SNI,
/// HTTP Host, XMPP stream `to`, a DIAL line, CONNECT or SOCKS5) and forwards
/// the untouched stream to the backend or tunnel client its routes name.
/// SIGHUP reloads the configuration; SIGTERM drains and stops. The optional
/// [admin] endpoint serves a live page at /, /status, /metrics and /healthz.
#[derive(Debug, Parser)]
#[command(
    name = "portico-gateway",
    version,
    about,
    long_about,
    after_help = "Configuration: /etc/portico/gateway.toml; examples in /usr/share/doc/portico-gateway/examples. Exit status: 0 success, 1 configuration or runtime error, 2 usage error."
)]
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
    /// Print the running gateway's status as tables: listeners, routes with
    /// connections and bytes, tunnel sessions, refusals by reason, ACME
    /// certificates. Reads the [admin] endpoint named in --config (with its
    /// token_file, if set); exits 1 when there is no [admin] section or the
    /// endpoint does not answer in time.
    Status {
        /// Print the /status JSON document instead of tables.
        #[arg(long)]
        json: bool,
        /// Give up after this many seconds.
        #[arg(long, value_name = "SECONDS", default_value_t = 5)]
        timeout: u64,
    },
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
    /// Write the manual page (roff) to standard output, or with --dir every
    /// page (the program's and one per subcommand) into DIR.
    #[command(hide = true)]
    Man {
        /// Write all pages into this directory.
        #[arg(long, value_name = "DIR")]
        dir: Option<PathBuf>,
    },
    /// Write the completion script for SHELL to standard output.
    #[command(hide = true)]
    Completions {
        /// The shell.
        shell: Shell,
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

/// `status`: the running gateway's picture from its admin endpoint.
fn status(path: &Path, json: bool, timeout: Duration) -> anyhow::Result<()> {
    let config = portico_config::load_gateway(path).map_err(|diagnostics| {
        eprint!("{diagnostics}");
        anyhow::anyhow!("invalid configuration {}", path.display())
    })?;
    let admin = config.admin.with_context(|| {
        format!(
            "{} has no [admin] section: add one (e.g. bind = \"127.0.0.1:9180\") and restart the gateway",
            path.display()
        )
    })?;
    let token = admin.token.as_ref().map(portico_config::Secret::expose);
    let text = portico_console::command::status_text(admin.bind, token, json, timeout)?;
    print!("{text}");
    Ok(())
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
    match &cli.command {
        Some(Command::Man { dir }) => {
            let written = match dir {
                Some(dir) => manual::write_pages(Cli::command(), dir),
                None => manual::man(Cli::command(), &mut std::io::stdout()),
            };
            return match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("portico-gateway: {err}");
                    ExitCode::FAILURE
                }
            };
        }
        Some(Command::Completions { shell }) => {
            manual::completions(Cli::command(), *shell, &mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        _ => {}
    }
    if let Err(err) = portico_logging::init(cli.log_level.as_deref()) {
        eprintln!("portico-gateway: {err:#}");
        return ExitCode::from(2);
    }
    let result = match (cli.command, cli.config) {
        (Some(Command::Man { .. } | Command::Completions { .. }), _) => Ok(()),
        (Some(Command::Demo { listen }), _) => demo(listen),
        (Some(Command::Status { json, timeout }), Some(path)) => {
            status(&path, json, Duration::from_secs(timeout))
        }
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

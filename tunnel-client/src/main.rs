//! `portico-tunnel`: run the tunnel client, `check` a configuration file,
//! or print the running client's `status`. The hidden `man` and
//! `completions SHELL` commands write the manual page and shell completions
//! for the Debian package.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context as _;
use clap::{CommandFactory as _, Parser, Subcommand};
use portico_console::manual::{self, Shell};

/// Tunnel client for portico-gateway.
///
/// portico-tunnel dials portico-gateway over an encrypted QUIC link
/// (reconnecting with back-off), receives the connections the gateway routes
/// to it and delivers each to a local [[service]]: plainly, with a PROXY
/// header, or through a TUN device from the client's original address.
/// SIGHUP reloads the services; SIGTERM drains and stops. The optional
/// [admin] endpoint serves a live page at /, /status, /metrics and /healthz.
#[derive(Debug, Parser)]
#[command(
    name = "portico-tunnel",
    version,
    about,
    long_about,
    after_help = "Configuration: /etc/portico/tunnel.toml; examples in /usr/share/doc/portico-tunnel/examples. Exit status: 0 success, 1 configuration or runtime error, 2 usage error."
)]
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
    /// Validate the configuration, print the errors, exit 1 on any;
    /// warnings are printed too but do not fail the check.
    Check,
    /// Print the running client's status as tables: its session with the
    /// gateway (address, transport, since, open streams, bytes) and its
    /// services. Reads the [admin] endpoint named in --config (with its
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

/// `status`: the running client's picture from its admin endpoint.
fn status(path: &Path, json: bool, timeout: Duration) -> anyhow::Result<()> {
    let config = portico_config::load_tunnel(path).map_err(|diagnostics| {
        eprint!("{diagnostics}");
        anyhow::anyhow!("invalid configuration {}", path.display())
    })?;
    let admin = config.admin.with_context(|| {
        format!(
            "{} has no [admin] section: add one (e.g. bind = \"127.0.0.1:9181\") and restart the tunnel client",
            path.display()
        )
    })?;
    let token = admin.token.as_ref().map(portico_config::Secret::expose);
    let text = portico_console::command::status_text(admin.bind, token, json, timeout)?;
    print!("{text}");
    Ok(())
}

fn check(path: &Path) -> ExitCode {
    match portico_config::load_tunnel_checked(path) {
        Ok(portico_config::Checked { config, warnings }) => {
            eprint!("{warnings}");
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
    match &cli.command {
        Some(Command::Man { dir }) => {
            let written = match dir {
                Some(dir) => manual::write_pages(Cli::command(), dir),
                None => manual::man(Cli::command(), &mut std::io::stdout()),
            };
            return match written {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("portico-tunnel: {err}");
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
    let Some(path) = cli.config else {
        eprintln!("portico-tunnel: --config FILE is required");
        return ExitCode::from(2);
    };
    match cli.command {
        Some(Command::Check) => return check(&path),
        Some(Command::Status { json, timeout }) => {
            return match status(&path, json, Duration::from_secs(timeout)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(err) => {
                    eprintln!("portico-tunnel: {err:#}");
                    ExitCode::FAILURE
                }
            };
        }
        _ => {}
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

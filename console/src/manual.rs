//! The manual pages and shell completions of both programs, generated from
//! their clap definitions (so `--help`, the man pages and the completions
//! never disagree): one page for the program and one for each visible
//! subcommand (`portico-gateway-status(1)`, …), as the program's page
//! refers to them. `packaging/build-debs.sh` runs the programs' hidden
//! `man --dir DIR` and `completions SHELL` commands for the packages.

use std::io::Write;
use std::path::Path;

/// The shells completions are generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Shell {
    /// bash (`/usr/share/bash-completion/completions/NAME`).
    Bash,
    /// zsh (`/usr/share/zsh/vendor-completions/_NAME`).
    Zsh,
    /// fish (`/usr/share/fish/vendor_completions.d/NAME.fish`).
    Fish,
}

/// Writes the roff man page (section 1) of `command` to `out`.
pub fn man(command: clap::Command, out: &mut dyn Write) -> std::io::Result<()> {
    clap_mangen::Man::new(command).render(out)
}

/// Every page: `(file name, roff)` for `command` and, recursively, each of
/// its visible subcommands, named `PARENT-SUB.1`.
pub fn pages(mut command: clap::Command) -> std::io::Result<Vec<(String, Vec<u8>)>> {
    // Built, so global options show on the subcommands' pages too.
    command.build();
    let mut out = Vec::new();
    collect(&command, None, &mut out)?;
    Ok(out)
}

fn collect(
    command: &clap::Command,
    parent: Option<&str>,
    out: &mut Vec<(String, Vec<u8>)>,
) -> std::io::Result<()> {
    let name = match parent {
        Some(parent) => format!("{parent}-{}", command.get_name()),
        None => command.get_name().to_owned(),
    };
    let page = command.clone().name(name.clone());
    let mut roff = Vec::new();
    clap_mangen::Man::new(page).render(&mut roff)?;
    out.push((format!("{name}.1"), roff));
    for sub in command.get_subcommands() {
        if !sub.is_hide_set() && sub.get_name() != "help" {
            collect(sub, Some(&name), out)?;
        }
    }
    Ok(())
}

/// Writes every page of [`pages`] into `dir` (created if missing).
pub fn write_pages(command: clap::Command, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    for (name, roff) in pages(command)? {
        std::fs::write(dir.join(name), roff)?;
    }
    Ok(())
}

/// Writes the completion script of `command` for `shell` to `out`.
pub fn completions(mut command: clap::Command, shell: Shell, out: &mut dyn Write) {
    let name = command.get_name().to_owned();
    let generator = match shell {
        Shell::Bash => clap_complete::Shell::Bash,
        Shell::Zsh => clap_complete::Shell::Zsh,
        Shell::Fish => clap_complete::Shell::Fish,
    };
    clap_complete::generate(generator, &mut command, name, out);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> clap::Command {
        clap::Command::new("demo")
            .about("A demo program.")
            .subcommand(clap::Command::new("status").about("Print the status."))
            .subcommand(clap::Command::new("secret").hide(true))
            .subcommand(
                clap::Command::new("tunnel")
                    .subcommand(clap::Command::new("add").about("Add a tunnel.")),
            )
    }

    #[test]
    fn generates_a_man_page_and_completions() {
        let mut page = Vec::new();
        man(command(), &mut page).expect("render");
        let page = String::from_utf8_lossy(&page);
        assert!(page.contains(".TH demo 1"), "{page}");
        assert!(page.contains("A demo program."), "{page}");
        let names: Vec<String> = pages(command())
            .expect("pages")
            .into_iter()
            .map(|(name, _)| name)
            .collect();
        assert_eq!(
            names,
            [
                "demo.1",
                "demo-status.1",
                "demo-tunnel.1",
                "demo-tunnel-add.1"
            ]
        );
        for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
            let mut script = Vec::new();
            completions(command(), shell, &mut script);
            assert!(
                String::from_utf8_lossy(&script).contains("status"),
                "{shell:?}"
            );
        }
    }
}

//! The manual pages and shell completions of both programs, generated from
//! their clap definitions (so `--help`, the man page and the completions
//! never disagree). `packaging/build-debs.sh` runs the programs' hidden
//! `man` and `completions SHELL` commands to write them into the packages.

use std::io::Write;

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
    }

    #[test]
    fn generates_a_man_page_and_completions() {
        let mut page = Vec::new();
        man(command(), &mut page).expect("render");
        let page = String::from_utf8_lossy(&page);
        assert!(page.contains(".TH demo 1"), "{page}");
        assert!(page.contains("A demo program."), "{page}");
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

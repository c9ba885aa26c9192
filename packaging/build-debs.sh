#!/bin/sh
# Builds the Debian packages of portico-gateway and portico-tunnel:
#   1. release binaries (cargo build --release),
#   2. each program's man pages (the program's and one per subcommand) and
#      bash/zsh/fish completions, generated from its command-line definition
#      by its hidden `man --dir DIR` and `completions SHELL` commands, into
#      TARGET/release/packaging/PROGRAM/,
#   3. `cargo deb --no-build` for each program (metadata in each crate's
#      [package.metadata.deb]), writing TARGET/debian/*.deb.
# TARGET is $CARGO_TARGET_DIR, or target/ in the workspace.
# Needs cargo-deb: cargo install cargo-deb --locked
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
target=${CARGO_TARGET_DIR:-$root/target}

command -v cargo-deb >/dev/null 2>&1 || {
  echo "build-debs.sh: cargo-deb is missing; install it with: cargo install cargo-deb --locked" >&2
  exit 1
}

cargo build --release --locked -p portico-gateway -p portico-tunnel --bins

for program in portico-gateway portico-tunnel; do
  out="$target/release/packaging/$program"
  mkdir -p "$out"
  bin="$target/release/$program"
  rm -rf "$out/man"
  "$bin" man --dir "$out/man"
  "$bin" completions bash >"$out/$program.bash"
  "$bin" completions zsh >"$out/_$program"
  "$bin" completions fish >"$out/$program.fish"
done

mkdir -p "$target/debian"
for program in portico-gateway portico-tunnel; do
  cargo deb --no-build -p "$program" --output "$target/debian/" >&2
done
ls -1 "$target/debian/"*.deb

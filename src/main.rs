//! The `voxwire` command-line program; everything lives in `voxwire-cli`.

fn main() -> std::process::ExitCode {
    voxwire_cli::main()
}

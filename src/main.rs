//! The `sampa` command line: `devices`, `train`, `toy`, `bench`. Native only: in the browser
//! the library is driven by `web/main.js` instead.

#[cfg(not(target_arch = "wasm32"))]
mod cli;

#[cfg(not(target_arch = "wasm32"))]
fn main() {
    use clap::{CommandFactory, FromArgMatches};
    #[cfg(unix)]
    cli::runtime_dir::ensure();
    let matches = cli::Cli::command().get_matches();
    let args = cli::Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Err(e) = cli::run(args, &cli::given(&matches)) {
        sampa::errln!("error: {e:#}");
        std::process::exit(1);
    }
}

#[cfg(target_arch = "wasm32")]
fn main() {}

//! Command-line definitions and dispatch. Each subcommand lives in its own file.

mod bench;
mod devices;
mod eval;
#[cfg(unix)]
pub mod runtime_dir;
mod sweep;
mod toy;
mod train;
#[cfg(feature = "mpi")]
mod train_mpi;

use clap::{Parser, Subcommand};

/// SAM and SAMPa training on any WebGPU adapter.
#[derive(Parser, Debug)]
#[command(name = "sampa", version, about)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// List every adapter on every backend with its limits and features.
    Devices(devices::Args),
    /// Benchmark kernels on every adapter (or the selected one), side by side.
    Bench(bench::Args),
    /// Train a model with SGD, SAM, SAMPa or a baseline on the GPU and write a run directory.
    Train(Box<train::Args>),
    /// Evaluate a trained model file on a data set's test split, overall and per class.
    Eval(eval::Args),
    /// Train a grid of runs (optimizers × ρ × λ × seeds) and summarise them: test accuracy
    /// as mean ± standard deviation over seeds, at the best validation epoch and the last.
    Sweep(sweep::Args),
    /// Serve a directory (the browser demo, web/ after web/build.sh) on 127.0.0.1.
    Serve(ServeArgs),
    /// The paper's quadratic toy: SAM, SAMPa and the naive parallel variants on the GPU.
    Toy(toy::Args),
}

/// Run the parsed command; `given` lists the settings given on its command line.
pub fn run(cli: Cli, given: &[String]) -> anyhow::Result<()> {
    match cli.command {
        Command::Devices(a) => devices::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Train(a) if train::wants_mpi(&a) => train_mpi(*a, given),
        Command::Train(a) => train::run(*a, given),
        Command::Eval(a) => eval::run(a),
        Command::Sweep(a) => sweep::run(a),
        Command::Toy(a) => toy::run(a),
        Command::Serve(a) => serve(a),
    }
}

#[cfg(feature = "mpi")]
fn train_mpi(a: train::Args, given: &[String]) -> anyhow::Result<()> {
    train_mpi::run(a, given)
}

#[cfg(not(feature = "mpi"))]
fn train_mpi(_: train::Args, _: &[String]) -> anyhow::Result<()> {
    anyhow::bail!(
        "--schedule mpi: this sampa was built without MPI; build it with `cargo build --release \
         --features mpi` (which needs Open MPI and libclang: `apt-get install libopenmpi-dev \
         openmpi-bin libclang-dev`), or use --schedule dual for a second adapter in this process"
    )
}

/// The ids of the subcommand's arguments whose values came from the command line (a resumed
/// run refuses most of them).
pub fn given(matches: &clap::ArgMatches) -> Vec<String> {
    let Some((_, m)) = matches.subcommand() else {
        return Vec::new();
    };
    m.ids()
        .filter(|id| m.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine))
        .map(|id| id.to_string())
        .collect()
}

#[derive(clap::Args, Debug)]
struct ServeArgs {
    /// Directory to serve.
    #[arg(long, default_value = "web")]
    dir: std::path::PathBuf,
    /// Port on 127.0.0.1.
    #[arg(long, default_value_t = 8000)]
    port: u16,
}

fn serve(a: ServeArgs) -> anyhow::Result<()> {
    use anyhow::Context;
    if !a.dir.join("index.html").is_file() {
        anyhow::bail!(
            "--dir {}: no index.html there; give the demo's directory (web/)",
            a.dir.display()
        );
    }
    if !a.dir.join("pkg").is_dir() {
        sampa::errln!(
            "warning: {}/pkg is missing; run web/build.sh first",
            a.dir.display()
        );
    }
    let listener = std::net::TcpListener::bind(("127.0.0.1", a.port))
        .with_context(|| format!("--port {}: cannot listen on 127.0.0.1", a.port))?;
    sampa::outln!(
        "serving {} on http://127.0.0.1:{}/ (Ctrl-C stops)",
        a.dir.display(),
        a.port
    );
    sampa::serve::serve(a.dir, listener);
    Ok(())
}

//! Command-line definitions and dispatch. Each subcommand lives in its own file.

mod bench;
mod devices;
mod toy;
mod train;

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
    /// Train a model with SGD on the GPU and write a run directory.
    Train(train::Args),
    /// The paper's quadratic toy: SAM, SAMPa and the naive parallel variants on the GPU.
    Toy(toy::Args),
}

/// Run the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Devices(a) => devices::run(a),
        Command::Bench(a) => bench::run(a),
        Command::Train(a) => train::run(a),
        Command::Toy(a) => toy::run(a),
    }
}

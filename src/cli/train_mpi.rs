//! `mpirun -np 2k sampa train --schedule mpi ...`: one rank's part (see `sampa::mpi`).
//!
//! Rank 0 prepares the run as a single process would (the settings, a resumed run's
//! config.json, the run directory) and sends its config to every other rank, so that only it
//! needs the run directory. Then each rank takes its role: a main trains (rank 0 also writes
//! and prints), a worker answers its main. Each opens its own adapter: `--adapter` on its own
//! command line, else the adapter whose index is its local rank (modulo the adapters there).

use super::train::{Args, prepare, report, unclaim, under_launcher};
use anyhow::Context;
use mpi::traits::AsRaw;
use sampa::mpi::transport::{Comm, MpiReduce, MpiTransport};
use sampa::mpi::{Cluster, Role, ending, worker};
use sampa::run::{self, Peers, RunDir, TrainConfig};

/// One rank's run. A failed rank says why and exits at once: MPI's finalisation waits for
/// every rank, so returning the error would leave it unsaid until mpirun ended the job.
pub fn run(a: Args, given: &[String]) -> anyhow::Result<()> {
    if !under_launcher() {
        anyhow::bail!(
            "--schedule mpi: this process was not started by mpirun; start it with two ranks per \
             pair: `mpirun -np 2 sampa train --schedule mpi ...`"
        );
    }
    let cluster = Cluster::init()?;
    if let Err(e) = rank(&cluster, a, given) {
        sampa::errln!("error: {e:#}");
        std::process::exit(1);
    }
    Ok(())
}

fn rank(cluster: &Cluster, a: Args, given: &[String]) -> anyhow::Result<()> {
    let (config, claimed) = share_config(cluster, &a, given)?;
    let paired = sampa::optim::program(&config.optimizer).has_pair();
    let role = match cluster.role(paired) {
        Ok(role) => role,
        // Every rank finds the same; rank 0 says it.
        Err(e) if cluster.rank == 0 => {
            unclaim(&config, claimed, true);
            return Err(e.into());
        }
        Err(_) => wait_to_be_ended(),
    };
    // Each role's ranks: the mains sum their gradients, and with --sync-bn the workers
    // of data-parallel pairs their BatchNorm sums.
    let peers = cluster.peers(role);
    let sum_over = || -> Box<dyn sampa::train::Reduce> {
        let comm = Comm(peers.as_ref().expect("split by role").as_raw());
        Box::new(MpiReduce(comm))
    };
    let gpu = open_adapter(cluster, &a, given)?;
    let world = Comm(cluster.world.as_raw());
    match role {
        Role::Worker { main } => {
            let rank = cluster.rank;
            ending::watch(move || format!("rank {rank} (a worker): mpirun ended the job"));
            let shards = cluster.size as usize / 2;
            let workers = (config.sync_bn && shards > 1).then(sum_over);
            worker::serve(world, main, (&config, workers), gpu)
                .with_context(|| format!("rank {rank}, the worker of rank {main}"))
        }
        Role::Main {
            shard,
            shards,
            worker,
        } => {
            let peers = Peers {
                worker: match worker {
                    Some(w) => Some(Box::new(MpiTransport::connect(world, w)?)),
                    None => None,
                },
                leader: cluster.rank == 0,
                shard: (shards > 1).then(|| (shard, shards, sum_over())),
                resume_command: format!("mpirun -np {} sampa train", cluster.size),
                in_mpi: true,
            };
            main(cluster, &a, (&config, claimed), gpu, peers)
        }
    }
}

/// Rank 0's prepared config, sent to every rank (an error on rank 0 ends the others quietly:
/// rank 0 says what it was).
fn share_config(
    cluster: &Cluster,
    a: &Args,
    given: &[String],
) -> anyhow::Result<(TrainConfig, bool)> {
    if cluster.rank != 0 {
        let bytes = cluster.share_config(None)?;
        if bytes.is_empty() {
            wait_to_be_ended();
        }
        let config = serde_json::from_slice(&bytes).context("the config rank 0 sent")?;
        return Ok((config, false));
    }
    match prepare(a, given) {
        Ok((config, claimed)) => {
            let bytes = serde_json::to_vec(&config).expect("a config serialises");
            cluster.share_config(Some(&bytes))?;
            Ok((config, claimed))
        }
        Err(e) => {
            let _ = cluster.share_config(Some(&[]));
            Err(e)
        }
    }
}

/// End a rank other than 0 when rank 0 has refused the run and says why: its exit makes
/// mpirun end this one; leaving first could get rank 0 ended before it has said it.
fn wait_to_be_ended() -> ! {
    std::thread::sleep(std::time::Duration::from_secs(30));
    std::process::exit(1)
}

/// The adapter this rank's `--adapter` names, else the one at its local rank's index.
fn open_adapter(cluster: &Cluster, a: &Args, given: &[String]) -> anyhow::Result<sampa::Gpu> {
    if given.iter().any(|g| g == "adapter") {
        let spec = a.config.adapter.as_deref();
        return Ok(pollster::block_on(sampa::Gpu::open(spec, "--adapter"))?);
    }
    let instance = sampa::gpu::adapters::instance();
    let count = pollster::block_on(sampa::gpu::adapters::enumerate(&instance)).len();
    if count == 0 {
        return Err(sampa::Error::NoAdapter.into());
    }
    let index = (cluster.local_rank() % count).to_string();
    Ok(pollster::block_on(sampa::Gpu::open(
        Some(&index),
        "the local rank",
    ))?)
}

/// A main rank's run; rank 0 prints and writes.
fn main(
    cluster: &Cluster,
    a: &Args,
    (config, claimed): (&TrainConfig, bool),
    gpu: sampa::Gpu,
    peers: Peers,
) -> anyhow::Result<()> {
    let leader = peers.leader;
    if leader {
        let (dir, command) = (config.out.clone(), peers.resume_command.clone());
        ending::watch(move || last_words(&dir, &command));
    } else {
        let rank = cluster.rank;
        ending::watch(move || format!("rank {rank}: mpirun ended the job"));
    }
    let result = (|| {
        let splits = run::load_data(config)?;
        if leader {
            sampa::outln!("data: {}", splits.description);
        }
        let summary = run::train(&gpu, config, &splits, a.resume.is_some(), peers)?;
        match leader {
            true => report(&summary, config),
            false => Ok(()),
        }
    })();
    unclaim(config, claimed, result.is_err());
    result
}

/// What rank 0 says when mpirun ends the job under it: where the run stands.
fn last_words(dir: &std::path::Path, command: &str) -> String {
    let checkpoint = RunDir::existing(dir).checkpoint();
    let next = if checkpoint.is_file() {
        format!(
            "the last checkpoint, {}, is intact: continue with `{command} --resume {}`",
            checkpoint.display(),
            dir.display()
        )
    } else {
        "no checkpoint had been written yet: start the run again".to_string()
    };
    format!("error: mpirun ended the job (a rank failed or the job was interrupted); {next}")
}

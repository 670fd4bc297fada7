//! `--schedule mpi`: SAMPa's two gradients in two processes under mpirun, and data-parallel
//! pairs of them (cargo feature `mpi`, rsmpi over the system's MPI).
//!
//! Ranks pair up: rank 2p is the main of pair p, which holds all optimizer state and runs the
//! epoch loop, and rank 2p + 1 its stateless worker, which computes the pair's second
//! gradient from the point it is sent (the `dual` schedule's worker, in another process).
//! With k > 1 pairs each main takes a 1/k shard of every batch and the mains sum their
//! weighted gradients ([`crate::train::Shard`]), so the replicas stay identical. A program
//! without a pair (SGD, SAM) makes every rank a main of its own shard.
//!
//! Rank 0 alone writes the run directory and prints; it sends its config to the others,
//! which therefore need only the binary and the data at the same path.

pub mod ending;
pub mod link;
pub mod transport;
pub mod worker;

use crate::error::{Error, Result};
use mpi::topology::{Color, Communicator, SimpleCommunicator};
use mpi::traits::AsRaw;

/// This process's place in the MPI job.
pub struct Cluster {
    /// Keeps MPI initialised; finalised when dropped.
    _universe: mpi::environment::Universe,
    /// Every rank.
    pub world: SimpleCommunicator,
    /// This rank.
    pub rank: i32,
    /// Ranks in the job.
    pub size: i32,
}

/// What a rank does in a run.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// Main of shard `shard` of `shards`, with its worker at `worker` when the program has a
    /// pair.
    Main {
        /// This main's shard of each batch.
        shard: usize,
        /// The number of shards (mains).
        shards: usize,
        /// Its worker's rank.
        worker: Option<i32>,
    },
    /// The worker of the main at rank `main`.
    Worker {
        /// Its main's rank.
        main: i32,
    },
}

impl Cluster {
    /// Initialise MPI.
    pub fn init() -> Result<Cluster> {
        let universe = mpi::initialize()
            .ok_or_else(|| Error::Invalid("MPI was already initialised in this process".into()))?;
        let world = universe.world();
        link::return_errors(world.as_raw())?;
        let (rank, size) = (world.rank(), world.size());
        Ok(Cluster {
            _universe: universe,
            world,
            rank,
            size,
        })
    }

    /// The role of this rank for a program with (`paired`) or without a pair of independent
    /// gradients; an error for an odd number of ranks with a pair. A program without a pair
    /// runs on any number of ranks, one included (a data-parallel run resumed on one).
    pub fn role(&self, paired: bool) -> Result<Role> {
        if !paired {
            return Ok(Role::Main {
                shard: self.rank as usize,
                shards: self.size as usize,
                worker: None,
            });
        }
        if self.size == 1 {
            return Err(Error::Invalid(
                "--schedule mpi: this process is the only rank, and SAMPa's ranks work in pairs \
                 (a main and its worker); start the run with two ranks per pair: \
                 `mpirun -np 2 sampa train --schedule mpi ...`"
                    .into(),
            ));
        }
        if self.size % 2 != 0 {
            return Err(Error::Invalid(format!(
                "--schedule mpi: mpirun started {} ranks; SAMPa's ranks work in pairs (a main and \
                 its worker), so give mpirun an even -np (2 for one pair, 4 for two)",
                self.size
            )));
        }
        Ok(if self.rank % 2 == 0 {
            Role::Main {
                shard: (self.rank / 2) as usize,
                shards: (self.size / 2) as usize,
                worker: Some(self.rank + 1),
            }
        } else {
            Role::Worker {
                main: self.rank - 1,
            }
        })
    }

    /// The communicator of the ranks with this one's role: the mains, or the workers (a
    /// collective call: every rank must make it).
    pub fn peers(&self, role: Role) -> Option<SimpleCommunicator> {
        let color = match role {
            Role::Main { .. } => Color::with_value(0),
            Role::Worker { .. } => Color::with_value(1),
        };
        let peers = self.world.split_by_color(color)?;
        link::return_errors(peers.as_raw()).ok()?;
        Some(peers)
    }

    /// This rank's index on its host (`OMPI_COMM_WORLD_LOCAL_RANK`, or the world rank when
    /// the launcher does not say): the default adapter index.
    pub fn local_rank(&self) -> usize {
        [
            "OMPI_COMM_WORLD_LOCAL_RANK",
            "MPI_LOCALRANKID",
            "PMI_LOCAL_RANK",
        ]
        .iter()
        .find_map(|v| std::env::var(v).ok()?.parse().ok())
        .unwrap_or(self.rank as usize)
    }

    /// Send `config` (JSON) from rank 0 to every rank, or receive it; returns it.
    pub fn share_config(&self, config: Option<&[u8]>) -> Result<Vec<u8>> {
        let comm = self.world.as_raw();
        if self.rank == 0 {
            let bytes = config.expect("rank 0 has the config");
            for r in 1..self.size {
                link::send(
                    comm,
                    r,
                    link::tag::CONFIG,
                    bytes,
                    &format!("sending rank {r} the config"),
                )?;
            }
            Ok(bytes.to_vec())
        } else {
            let what = "receiving the config from rank 0";
            link::receive(comm, (0, &[link::tag::CONFIG]), None, what).map(|(_, b)| b)
        }
    }
}

//! `mpirun -np 2 sampa bench schedules --schedules ...,mpi`: the `mpi` schedule timed beside
//! the others in one run. Rank 0 times every case; rank 1 is the `mpi` case's worker on its
//! own adapter (the one at its local rank's index), serving each model in turn.

use mpi::traits::AsRaw;
use sampa::mpi::transport::{Comm, MpiTransport};
use sampa::mpi::{Cluster, Role, worker};
use sampa::nn::Model;
use sampa::train::Placement;
use sampa::train::worker::WorkerPass;

/// The job's place for this benchmark: `None` on rank 0 (it goes on to time), after rank 1
/// has served every model in `models`.
pub fn start(models: &[String]) -> anyhow::Result<Option<Cluster>> {
    let cluster = Cluster::init()?;
    if cluster.size != 2 {
        anyhow::bail!("the mpi case runs under `mpirun -np 2`: a main and its worker");
    }
    let Role::Worker { main } = cluster.role(true)? else {
        return Ok(Some(cluster));
    };
    let instance = sampa::gpu::adapters::instance();
    let count = pollster::block_on(sampa::gpu::adapters::enumerate(&instance))
        .len()
        .max(1);
    let index = (cluster.local_rank() % count).to_string();
    let gpu = pollster::block_on(sampa::Gpu::open(Some(&index), "the local rank"))?;
    let kernels = sampa::tuning::choose(&gpu)?;
    for name in models {
        let model = sampa::bench::plan::model(name)?;
        let mut pass = WorkerPass::new(gpu.clone(), model, 0.0, kernels)?;
        worker::answer(Comm(cluster.world.as_raw()), main, &mut pass, None)?;
    }
    // MPI's finalisation (the drop) waits for rank 0's, at the end of its benchmark.
    drop(cluster);
    std::process::exit(0)
}

/// The `mpi` case's placement for the next model: rank 1, once it is ready.
pub fn placement(cluster: &Cluster, _model: &Model) -> anyhow::Result<Placement> {
    let t = MpiTransport::connect(Comm(cluster.world.as_raw()), 1)?;
    Ok(Placement::Dual(Box::new(t)))
}

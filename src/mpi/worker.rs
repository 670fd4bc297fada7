//! A worker rank: the stateless second gradient of its main's pair, in its own process.
//!
//! It loads the run's data itself (the same path on every host), opens its adapter, reports
//! ready, and then answers each job with the gradient at the job's point on the job's batch,
//! rebuilt from the drawn list, until its main says stop.

use super::link::{self, tag};
use super::transport::{Comm, FAILED, READY};
use crate::data::{BatchOptions, Batcher, Dataset};
use crate::error::{Error, Result};
use crate::gpu::Gpu;
use crate::run::{self, TrainConfig};
use crate::train::Reduce;
use crate::train::schedule::wire;
use crate::train::worker::WorkerPass;

/// Serve the main at rank `main` on `gpu` until it stops; the run's settings are `config`.
/// `workers` sums over every pair's worker, for data-parallel pairs with `--sync-bn`.
pub fn serve(
    comm: Comm,
    main: i32,
    (config, workers): (&TrainConfig, Option<Box<dyn Reduce>>),
    gpu: Gpu,
) -> Result<()> {
    let what = format!("answering rank {main}");
    match start(config, gpu) {
        Ok((mut pass, train, opts)) => {
            if let Some(reduce) = workers {
                pass.set_sync_bn(reduce);
            }
            answer(comm, main, &mut pass, Some((&train, &opts)))
        }
        Err(e) => {
            let _ = link::send(comm.0, main, tag::REPLY, &failed(&e), &what);
            Err(e)
        }
    }
}

/// Report ready, then answer `main`'s jobs with `pass` until it stops. Batches sent as drawn
/// lists are rebuilt from `data`; without it every job must carry its pixels (benchmarks).
pub fn answer(
    comm: Comm,
    main: i32,
    pass: &mut WorkerPass,
    data: Option<(&Dataset, &BatchOptions)>,
) -> Result<()> {
    let what = format!("answering rank {main}");
    let ready = [&READY[..], pass.gpu().adapter.short().as_bytes()].concat();
    // The reply in flight: posted, and finished while the next job is awaited.
    let mut outbox = link::Outbox::default();
    outbox.post(comm.0, (main, tag::REPLY), ready, &what)?;
    loop {
        let from = (main, &[tag::JOB, tag::STOP][..]);
        let (t, bytes) = link::receive(comm.0, from, Some(&mut outbox), &what)?;
        if t == tag::STOP {
            return outbox.flush();
        }
        let answer = wire::decode_job(&bytes).and_then(|mut job| {
            if job.batch.pixels.is_empty() && !job.batch.drawn.is_empty() {
                let Some((train, opts)) = data else {
                    return Err(Error::Invalid("a batch came without its pixels".into()));
                };
                let drawn = std::mem::take(&mut job.batch.drawn);
                job.batch = Batcher::rebuild(train, opts, drawn)?;
            }
            let gpu = pass.gpu().clone();
            gpu.block_on(pass.gradient(&job))
        });
        match answer {
            Ok(reply) => {
                let bytes = wire::encode_reply(&reply);
                outbox.post(comm.0, (main, tag::REPLY), bytes, &what)?;
            }
            Err(e) => {
                let _ = outbox.flush();
                let _ = link::send(comm.0, main, tag::REPLY, &failed(&e), &what);
                return Err(e);
            }
        }
    }
}

/// The worker's pass, training data and batch options.
fn start(config: &TrainConfig, gpu: Gpu) -> Result<(WorkerPass, Dataset, BatchOptions)> {
    let splits = run::load_data(config)?;
    let opts = run::train_options(config, &splits);
    let model = run::build_model(config, &splits)?;
    let kernels = crate::tuning::choose(&gpu)?;
    let pass = WorkerPass::new(gpu, model, config.label_smoothing, kernels)?;
    Ok((pass, splits.train, opts))
}

/// A failure message for the main: the marker and the error's text.
fn failed(e: &Error) -> Vec<u8> {
    [&FAILED[..], e.to_string().as_bytes()].concat()
}

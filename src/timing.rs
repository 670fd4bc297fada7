//! Timing helpers shared by the benchmarks and by the choices made by measurement (the kernel
//! forms per adapter in `tuning`, `auto`'s schedule in `run::placement`): medians, one
//! kernel's time, and training steps timed side by side (blocking; the browser awaits
//! [`crate::train::timed`] itself).

use crate::data::Batch;
use crate::error::Result;
use crate::gpu::{Gpu, Timer};
use crate::kernels::conv::{image, implicit, weight_grad};
use crate::kernels::dispatch::time_burst;
use crate::kernels::matmul::tile::Tile;
use crate::kernels::matmul::{self, Dims, Form, Variant};
use crate::kernels::{Dispatch, Kernels};
use crate::nn::Model;
use crate::nn::products::{ConvPass, StepProduct};
use crate::optim::{BaseHyper, OptimizerConfig};
use crate::train::timed::steps_burst;
use crate::train::{Placement, Trainer};

pub use crate::clock::median;

/// Median seconds of one run of `d`, over `reps` timed runs after two warm-ups: device time
/// where the adapter has timestamp queries (the launches alone, without the host's submission
/// and wake-up, which on a GPU can take longer than a small kernel), host time otherwise. Each
/// timed run submits `d` enough times to last a few milliseconds.
pub fn time_dispatch(gpu: &Gpu, d: &Dispatch, reps: usize) -> Result<f64> {
    let timer = Timer::new(gpu);
    let burst = |inner: usize| -> Result<f64> {
        let (host, device) = gpu.block_on(time_burst(gpu, timer.as_ref(), &[d], inner))?;
        Ok(device.unwrap_or(host))
    };
    // Drivers that compile lazily (llvmpipe) compile on the first run, so the run that sizes
    // the timed bursts is the second.
    burst(1)?;
    let once = burst(1)?;
    let inner = ((0.005 / once.max(1e-6)) as usize).clamp(1, 64);
    let mut times = (0..reps.max(1))
        .map(|_| burst(inner))
        .collect::<Result<Vec<f64>>>()?;
    Ok(median(&mut times))
}

/// Median seconds of one of `trainer`'s steps on `batch`, over `reps` bursts of
/// [`BURST`] pipelined steps after one untimed step: device time where the adapter has
/// timestamp queries, host time otherwise.
pub fn time_steps(gpu: &Gpu, trainer: &mut Trainer, batch: &Batch, reps: usize) -> Result<f64> {
    let timer = Timer::new(gpu);
    let hyper = BaseHyper::timed(trainer.spec().optimizer.base);
    trainer.step(gpu, batch, hyper)?;
    let mut times = Vec::with_capacity(reps);
    for _ in 0..reps.max(1) {
        let burst = steps_burst(gpu, timer.as_ref(), trainer, batch, (hyper, BURST));
        let (host, device) = gpu.block_on(burst)?;
        times.push(device.unwrap_or(host));
    }
    Ok(median(&mut times))
}

/// Random operands of a product of `dims`, and a zeroed C.
fn operands(gpu: &Gpu, dims: Dims) -> Result<[crate::gpu::GpuBuf<f32>; 3]> {
    let mut rng = crate::rng::Pcg::new(17, 0);
    Ok([
        gpu.upload(&rng.vec(dims.m * dims.k, -1.0, 1.0), "bench A")?,
        gpu.upload(&rng.vec(dims.k * dims.n, -1.0, 1.0), "bench B")?,
        gpu.zeros::<f32>(dims.m * dims.n, "bench C")?,
    ])
}

/// Median seconds of one product with variant `v` on random operands (see [`time_dispatch`]).
pub fn time_product(gpu: &Gpu, v: Variant, form: Form, dims: Dims, reps: usize) -> Result<f64> {
    let [a, b, c] = operands(gpu, dims)?;
    let d = matmul::prepare(gpu, v, form, dims, a.view(), b.view(), c.view(), false)?;
    time_dispatch(gpu, &d, reps)
}

/// Median seconds of one tiled product with `tile` on random operands (see [`time_dispatch`]).
pub fn time_tile(gpu: &Gpu, tile: Tile, form: Form, dims: Dims, reps: usize) -> Result<f64> {
    let [a, b, c] = operands(gpu, dims)?;
    let d = matmul::prepare_with_tile(gpu, tile, form, dims, (a.view(), b.view(), c.view()))?;
    time_dispatch(gpu, &d, reps)
}

pub use crate::train::timed::BURST;

/// Blocking [`crate::train::timed::steps_side_by_side`].
pub fn steps_side_by_side(
    gpu: &Gpu,
    (model, kernels): (&Model, Kernels),
    batch: usize,
    reps: usize,
    cases: Vec<(OptimizerConfig, Placement)>,
) -> Result<Vec<f64>> {
    gpu.block_on(crate::train::timed::steps_side_by_side(
        gpu,
        (model, kernels),
        batch,
        reps,
        cases,
    ))
}

/// Median seconds of one of a step's product kernels (see [`crate::nn::products`]), on random
/// operands: a dense product as [`time_product`]; a convolution pass with the image staging it
/// does in the step (the forward pass stages x, the weight gradient dy, the data gradient reads
/// the weight gradient's image of dy).
pub fn time_step_product(gpu: &Gpu, product: &StepProduct, reps: usize) -> Result<f64> {
    let (pass, g, rows, first) = match *product {
        StepProduct::Dense(form, dims, v) => return time_product(gpu, v, form, dims, reps),
        StepProduct::Conv {
            pass,
            conv,
            rows,
            first,
        } => (pass, conv, rows, first),
    };
    let mut rng = crate::rng::Pcg::new(19, 0);
    let mut rows_of = |len: usize, what: &str| {
        gpu.upload(
            &rng.vec(len.next_multiple_of(image::ROW_FLOATS), -1.0, 1.0),
            what,
        )
    };
    let x_len = g.n * g.cin * g.h * g.w;
    let x = rows_of(x_len, "bench x")?;
    let params = rows_of(g.weight_len() + g.cout, "bench weight")?;
    let y_len = g.out_pixels() * g.cout;
    let dy = rows_of(y_len, "bench dy")?;
    let out = rows_of(x_len.max(y_len), "bench output")?;
    let grads = gpu.zeros::<f32>(g.weight_len() + g.cout, "bench gradients")?;
    let (w, b) = (
        params.slice(0, g.weight_len())?,
        params.slice(g.weight_len(), g.cout)?,
    );
    let x_image = if first {
        image::from_nchw(gpu, (g.n, g.cin, g.h, g.w), x.slice(0, x_len)?)?
    } else {
        image::copied(gpu, "bench", x.slice(0, x_len)?, g.n * g.h * g.w * g.cin4())?
    };
    let dy_image = image::copied(gpu, "bench", dy.slice(0, y_len)?, y_len / 4)?;
    let timed = match pass {
        ConvPass::Forward => x_image.stage.clone().then(implicit::prepare_forward(
            gpu,
            rows,
            g,
            &x_image,
            w,
            Some(b),
            out.slice(0, y_len)?,
        )?),
        ConvPass::WeightGrad => {
            gpu.run(&[&x_image.stage])?;
            let (dw, db) = (
                grads.slice(0, g.weight_len())?,
                grads.slice(g.weight_len(), g.cout)?,
            );
            let (d, _part) =
                weight_grad::prepare_weight_grad(gpu, g, (&x_image, &dy_image), dw, Some(db))?;
            dy_image.stage.clone().then(d)
        }
        ConvPass::DataGrad => {
            gpu.run(&[&dy_image.stage])?;
            implicit::prepare_data_grad(gpu, rows, g, &dy_image, w, out.slice(0, x_len)?)?
        }
    };
    time_dispatch(gpu, &timed, reps)
}

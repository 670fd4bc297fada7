//! The toy on the GPU, built from the kernel library: gradients (copy + scale, since ∇f = 2x),
//! norms, perturbations, look-aheads and steps are all kernels over the flat vector, as the
//! optimizers on real models will use them. Every step's dispatches are prepared first and the
//! whole run is one submission; ‖x_t‖² lands in a device buffer read back once at the end.

use super::{Method, ToyConfig, Trace};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::{Dispatch, norm, perturb, vector};
use crate::rng::Pcg;

/// Run `method` on the toy on `gpu` in f32.
pub async fn run_gpu(gpu: &Gpu, method: Method, c: &ToyConfig) -> Result<Trace> {
    c.validate()?;
    let d = c.x0.len();
    let x0: Vec<f32> = c.x0.iter().map(|&v| v as f32).collect();
    let buf = |what| gpu.zeros::<f32>(d, what);
    let x = gpu.upload(&x0, "toy x")?;
    let (xt, g, g2, y, gn, carried) = (
        buf("x~")?,
        buf("g")?,
        buf("g2")?,
        buf("y")?,
        buf("g_n")?,
        buf("g_y")?,
    );
    let norms = gpu.zeros::<f32>(c.steps.max(1), "direction norms")?;
    let losses = gpu.zeros::<f32>(c.steps + 1, "losses")?;
    // RandSAM's directions, drawn in the same order as the CPU reference, one per step at a
    // stride of 4-element multiples (the kernels read vectors as vec4s).
    let mut rng = Pcg::new(c.seed, 0x70e);
    let stride = d.next_multiple_of(4);
    let u: Vec<f32> = match method {
        Method::RandSam => {
            let mut u = vec![0.0; c.steps * stride];
            for t in 0..c.steps {
                for v in &mut u[t * stride..t * stride + d] {
                    *v = rng.normal();
                }
            }
            u
        }
        _ => vec![0.0],
    };
    let u = gpu.upload(&u, "random directions")?;

    let (eta, rho, unnorm) = (c.eta as f32, c.rho as f32, c.unnormalized);
    // ∇f(v) = 2v into `out`.
    let grad = |v: &GpuBuf<f32>, out: &GpuBuf<f32>| -> Result<Dispatch> {
        Ok(
            vector::prepare_copy(gpu, v.view(), out.view())?.then(vector::prepare_scale(
                gpu,
                2.0,
                out.view(),
            )?),
        )
    };
    // x~ = x + ρ·dir/‖dir‖ with the norm kept at norms[t].
    let perturbed = |dir: crate::kernels::View<'_>, t: usize| -> Result<Dispatch> {
        let slot = norms.slice(t, 1)?;
        let how = perturb::Perturbation {
            rho,
            normalized: !unnorm,
            adaptive: false,
        };
        Ok(norm::prepare(gpu, dir, slot)?.then(perturb::prepare(
            gpu,
            how,
            x.view(),
            dir,
            slot,
            xt.view(),
        )?))
    };
    let descend = |dir: &GpuBuf<f32>| vector::prepare_axpy(gpu, -eta, dir.view(), x.view());
    let loss = |t: usize| norm::prepare(gpu, x.view(), losses.slice(t, 1)?);

    let mut run = loss(0)?;
    for t in 0..c.steps {
        let step = match method {
            Method::Gd => grad(&x, &g)?.then(descend(&g)?),
            Method::Sam => grad(&x, &g)?
                .then(perturbed(g.view(), t)?)
                .then(grad(&xt, &g2)?)
                .then(descend(&g2)?),
            Method::Sampa(lambda) => perturbed(carried.view(), t)?
                // y = x − η·g_y: the look-ahead of plain gradient descent.
                .then(vector::prepare_copy(gpu, x.view(), y.view())?)
                .then(vector::prepare_axpy(gpu, -eta, carried.view(), y.view())?)
                .then(grad(&xt, &g)?)
                .then(grad(&y, &gn)?)
                .then(vector::prepare_scale(gpu, (1.0 - lambda) as f32, g.view())?)
                .then(vector::prepare_axpy(
                    gpu,
                    lambda as f32,
                    gn.view(),
                    g.view(),
                )?)
                .then(descend(&g)?)
                .then(vector::prepare_copy(gpu, gn.view(), carried.view())?),
            Method::RandSam => perturbed(u.slice(t * stride, d)?, t)?
                .then(grad(&xt, &g)?)
                .then(descend(&g)?),
            Method::OptSam => perturbed(carried.view(), t)?
                .then(grad(&xt, &g)?)
                .then(descend(&g)?)
                .then(vector::prepare_copy(gpu, g.view(), carried.view())?),
        };
        run = run.then(step).then(loss(t + 1)?);
    }
    let mut encoder = gpu.device.create_command_encoder(&Default::default());
    run.record(&mut encoder);
    gpu.checked("running the toy", || gpu.queue.submit([encoder.finish()]))?;
    let l = gpu.read_async(&losses).await?;
    let loss: Vec<f64> = l.iter().map(|&v| v as f64).collect();
    Ok(Trace {
        method,
        grad_norm_sq: loss.iter().map(|v| 4.0 * v).collect(),
        loss,
    })
}

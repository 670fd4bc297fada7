//! The toy on the GPU, built from the kernel library: gradients (copy, then an elementwise
//! product with 2a, since ∇f = 2a⊙x), norms, perturbations, look-aheads and steps are all
//! kernels over the flat vector, as the optimizers on real models use them. Every step's
//! dispatches are prepared first; [`ToyRun::advance`] submits the next steps as one submission
//! and reads back what they recorded (f(x_t), ‖∇f(x_t)‖² and x_t land in device buffers), so
//! the browser demo can draw while the run goes on and a whole run can be one submission.

use super::{Method, ToyConfig, Trace};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::{Dispatch, norm, perturb, vector};
use crate::rng::Pcg;

/// A toy run on one device: state buffers and every step's prepared dispatches.
pub struct ToyRun {
    method: Method,
    d: usize,
    /// `steps[t]` takes x_t to x_{t+1} and records step t + 1; `start` records step 0.
    start: Option<Dispatch>,
    steps: Vec<Dispatch>,
    done: usize,
    losses: GpuBuf<f32>,
    grad_norms: GpuBuf<f32>,
    points: GpuBuf<f32>,
}

impl ToyRun {
    /// Prepare `method` on the toy `c` on `gpu`.
    pub fn new(gpu: &Gpu, method: Method, c: &ToyConfig) -> Result<ToyRun> {
        c.validate()?;
        let d = c.x0.len();
        let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let a = c.curvatures();
        let buf = |what| gpu.zeros::<f32>(d, what);
        let x = gpu.upload(&f32s(&c.x0), "toy x")?;
        let two_a = gpu.upload(&f32s(&a.iter().map(|a| 2.0 * a).collect::<Vec<_>>()), "2a")?;
        let sqrt_a = gpu.upload(&f32s(&a.iter().map(|a| a.sqrt()).collect::<Vec<_>>()), "√a")?;
        let (xt, g, g2, y, gn, carried, gx) = (
            buf("x~")?,
            buf("g")?,
            buf("g2")?,
            buf("y")?,
            buf("g_n")?,
            buf("g_y")?,
            buf("∇f(x)")?,
        );
        let norms = gpu.zeros::<f32>(c.steps.max(1), "direction norms")?;
        let losses = gpu.zeros::<f32>(c.steps + 1, "losses")?;
        let grad_norms = gpu.zeros::<f32>(c.steps + 1, "gradient norms")?;
        let points = gpu.zeros::<f32>((c.steps + 1) * d, "points")?;
        // RandSAM's directions, drawn in the same order as the CPU reference, one per step at a
        // stride of 4-element multiples (the perturbation reads vectors as vec4s).
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

        let (eta, unnorm) = (c.eta as f32, c.unnormalized);
        // ∇f(v) = 2a⊙v into `out`.
        let grad = |v: &GpuBuf<f32>, out: &GpuBuf<f32>| -> Result<Dispatch> {
            Ok(
                vector::prepare_copy(gpu, v.view(), out.view())?.then(vector::prepare_mul(
                    gpu,
                    two_a.view(),
                    out.view(),
                )?),
            )
        };
        // x~ = x + ρ·dir/‖dir‖ with the norm kept at norms[t].
        let perturbed = |dir: crate::kernels::View<'_>, t: usize| -> Result<Dispatch> {
            let slot = norms.slice(t, 1)?;
            let how = perturb::Perturbation {
                rho: c.rho as f32,
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
        // f(x_t) = ‖√a⊙x‖², ‖∇f(x_t)‖² and x_t into slot t.
        let record = |t: usize| -> Result<Dispatch> {
            Ok(
                norm::prepare_weighted(gpu, sqrt_a.view(), x.view(), losses.slice(t, 1)?)?
                    .then(grad(&x, &gx)?)
                    .then(norm::prepare(gpu, gx.view(), grad_norms.slice(t, 1)?)?)
                    .then(vector::prepare_copy(
                        gpu,
                        x.view(),
                        points.slice(t * d, d)?,
                    )?),
            )
        };

        let mut steps = Vec::with_capacity(c.steps);
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
            steps.push(step.then(record(t + 1)?));
        }
        Ok(ToyRun {
            method,
            d,
            start: Some(record(0)?),
            steps,
            done: 0,
            losses,
            grad_norms,
            points,
        })
    }

    /// Steps taken so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Whether every step has run.
    pub fn finished(&self) -> bool {
        self.done == self.steps.len()
    }

    /// Run up to `n` more steps in one submission and return the trace so far (steps
    /// 0 ..= done).
    pub async fn advance(&mut self, gpu: &Gpu, n: usize) -> Result<Trace> {
        let end = (self.done + n).min(self.steps.len());
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        if let Some(start) = self.start.take() {
            start.record(&mut encoder);
        }
        for step in &self.steps[self.done..end] {
            step.record(&mut encoder);
        }
        gpu.checked("running the toy", || gpu.queue.submit([encoder.finish()]))?;
        self.done = end;
        let f64s = |v: Vec<f32>, n: usize| v[..n].iter().map(|&v| v as f64).collect();
        let k = end + 1;
        Ok(Trace {
            method: self.method,
            loss: f64s(gpu.read_async(&self.losses).await?, k),
            grad_norm_sq: f64s(gpu.read_async(&self.grad_norms).await?, k),
            points: f64s(gpu.read_async(&self.points).await?, k * self.d),
        })
    }
}

/// Run `method` on the toy on `gpu` in f32, the whole run as one submission.
pub async fn run_gpu(gpu: &Gpu, method: Method, c: &ToyConfig) -> Result<Trace> {
    let mut run = ToyRun::new(gpu, method, c)?;
    run.advance(gpu, c.steps).await
}

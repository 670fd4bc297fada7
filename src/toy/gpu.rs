//! The toy on the GPU, built from the kernel library: gradients (copy, then an elementwise
//! product with 2a, since ∇f = 2a⊙x), norms, perturbations, look-aheads and steps are all
//! kernels over the flat vector, as the optimizers on real models use them.
//! [`ToyRun::advance`] prepares and submits the next steps as one submission and reads back
//! what they recorded (f(x_t), ‖∇f(x_t)‖² and x_t land in device buffers), so
//! the browser demo can draw while the run goes on and a whole run can be one submission.

use super::{Method, ToyConfig, Trace};
use crate::error::Result;
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::{Dispatch, VectorForm, norm, perturb, vector};
use crate::rng::Pcg;

/// A toy run on one device: its state buffers; each step's dispatches are prepared when the
/// run reaches it, so the first steps can be drawn before the rest exist.
pub struct ToyRun {
    method: Method,
    config: ToyConfig,
    d: usize,
    /// RandSAM's direction for step t starts at element t·stride (a multiple of 4).
    stride: usize,
    started: bool,
    done: usize,
    b: Buffers,
}

struct Buffers {
    x: GpuBuf<f32>,
    two_a: GpuBuf<f32>,
    sqrt_a: GpuBuf<f32>,
    xt: GpuBuf<f32>,
    g: GpuBuf<f32>,
    g2: GpuBuf<f32>,
    y: GpuBuf<f32>,
    gn: GpuBuf<f32>,
    carried: GpuBuf<f32>,
    gx: GpuBuf<f32>,
    u: GpuBuf<f32>,
    norms: GpuBuf<f32>,
    losses: GpuBuf<f32>,
    grad_norms: GpuBuf<f32>,
    points: GpuBuf<f32>,
}

impl ToyRun {
    /// Set up `method` on the toy `c` on `gpu`.
    pub fn new(gpu: &Gpu, method: Method, c: &ToyConfig) -> Result<ToyRun> {
        c.validate()?;
        let d = c.x0.len();
        let f32s = |v: &[f64]| v.iter().map(|&v| v as f32).collect::<Vec<f32>>();
        let a = c.curvatures();
        let buf = |what| gpu.zeros::<f32>(d, what);
        // RandSAM's directions, drawn in the same order as the CPU reference.
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
        let b = Buffers {
            x: gpu.upload(&f32s(&c.x0), "toy x")?,
            two_a: gpu.upload(&f32s(&a.iter().map(|a| 2.0 * a).collect::<Vec<_>>()), "2a")?,
            sqrt_a: gpu.upload(&f32s(&a.iter().map(|a| a.sqrt()).collect::<Vec<_>>()), "√a")?,
            xt: buf("x~")?,
            g: buf("g")?,
            g2: buf("g2")?,
            y: buf("y")?,
            gn: buf("g_n")?,
            carried: buf("g_y")?,
            gx: buf("∇f(x)")?,
            u: gpu.upload(&u, "random directions")?,
            norms: gpu.zeros::<f32>(c.steps.max(1), "direction norms")?,
            losses: gpu.zeros::<f32>(c.steps + 1, "losses")?,
            grad_norms: gpu.zeros::<f32>(c.steps + 1, "gradient norms")?,
            points: gpu.zeros::<f32>((c.steps + 1) * d, "points")?,
        };
        Ok(ToyRun {
            method,
            config: c.clone(),
            d,
            stride,
            started: false,
            done: 0,
            b,
        })
    }

    /// ∇f(v) = 2a⊙v into `out`.
    fn grad(&self, gpu: &Gpu, v: &GpuBuf<f32>, out: &GpuBuf<f32>) -> Result<Dispatch> {
        Ok(
            vector::prepare_copy(gpu, v.view(), out.view())?.then(vector::prepare_mul(
                gpu,
                self.b.two_a.view(),
                out.view(),
            )?),
        )
    }

    /// x~ = x + ρ·dir/‖dir‖, the norm kept at norms[t].
    fn perturbed(&self, gpu: &Gpu, dir: crate::kernels::View<'_>, t: usize) -> Result<Dispatch> {
        let slot = self.b.norms.slice(t, 1)?;
        let how = perturb::Perturbation {
            rho: self.config.rho as f32,
            normalized: !self.config.unnormalized,
            adaptive: false,
        };
        let (x, xt) = (self.b.x.view(), self.b.xt.view());
        perturb::prepare_with_norm(gpu, VectorForm::Storage, how, x, dir, slot, xt)
    }

    /// x −= η·dir.
    fn descend(&self, gpu: &Gpu, dir: &GpuBuf<f32>) -> Result<Dispatch> {
        vector::prepare_axpy(gpu, -self.config.eta as f32, dir.view(), self.b.x.view())
    }

    /// f(x_t) = ‖√a⊙x‖², ‖∇f(x_t)‖² and x_t into slot t.
    fn record(&self, gpu: &Gpu, t: usize) -> Result<Dispatch> {
        let b = &self.b;
        Ok(
            norm::prepare_weighted(gpu, b.sqrt_a.view(), b.x.view(), b.losses.slice(t, 1)?)?
                .then(self.grad(gpu, &b.x, &b.gx)?)
                .then(norm::prepare(
                    gpu,
                    VectorForm::Storage,
                    b.gx.view(),
                    b.grad_norms.slice(t, 1)?,
                )?)
                .then(vector::prepare_copy(
                    gpu,
                    b.x.view(),
                    b.points.slice(t * self.d, self.d)?,
                )?),
        )
    }

    /// Step t: x_t to x_{t+1}, recorded in slot t + 1.
    fn step(&self, gpu: &Gpu, t: usize) -> Result<Dispatch> {
        let b = &self.b;
        let eta = self.config.eta as f32;
        let step = match self.method {
            Method::Gd => self.grad(gpu, &b.x, &b.g)?.then(self.descend(gpu, &b.g)?),
            Method::Sam => self
                .grad(gpu, &b.x, &b.g)?
                .then(self.perturbed(gpu, b.g.view(), t)?)
                .then(self.grad(gpu, &b.xt, &b.g2)?)
                .then(self.descend(gpu, &b.g2)?),
            Method::Sampa(lambda) => self
                .perturbed(gpu, b.carried.view(), t)?
                // y = x − η·g_y: the look-ahead of plain gradient descent.
                .then(vector::prepare_copy(gpu, b.x.view(), b.y.view())?)
                .then(vector::prepare_axpy(
                    gpu,
                    -eta,
                    b.carried.view(),
                    b.y.view(),
                )?)
                .then(self.grad(gpu, &b.xt, &b.g)?)
                .then(self.grad(gpu, &b.y, &b.gn)?)
                .then(vector::prepare_scale(
                    gpu,
                    (1.0 - lambda) as f32,
                    b.g.view(),
                )?)
                .then(vector::prepare_axpy(
                    gpu,
                    lambda as f32,
                    b.gn.view(),
                    b.g.view(),
                )?)
                .then(self.descend(gpu, &b.g)?)
                .then(vector::prepare_copy(gpu, b.gn.view(), b.carried.view())?),
            Method::RandSam => self
                .perturbed(gpu, b.u.slice(t * self.stride, self.d)?, t)?
                .then(self.grad(gpu, &b.xt, &b.g)?)
                .then(self.descend(gpu, &b.g)?),
            Method::OptSam => self
                .perturbed(gpu, b.carried.view(), t)?
                .then(self.grad(gpu, &b.xt, &b.g)?)
                .then(self.descend(gpu, &b.g)?)
                .then(vector::prepare_copy(gpu, b.g.view(), b.carried.view())?),
        };
        Ok(step.then(self.record(gpu, t + 1)?))
    }

    /// Steps taken so far.
    pub fn done(&self) -> usize {
        self.done
    }

    /// Whether every step has run.
    pub fn finished(&self) -> bool {
        self.done == self.config.steps
    }

    /// Run up to `n` more steps in one submission and return the trace so far (steps
    /// 0 ..= done).
    pub async fn advance(&mut self, gpu: &Gpu, n: usize) -> Result<Trace> {
        let end = (self.done + n).min(self.config.steps);
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        if !self.started {
            self.record(gpu, 0)?.record(&mut encoder);
            self.started = true;
        }
        for t in self.done..end {
            self.step(gpu, t)?.record(&mut encoder);
        }
        gpu.checked("running the toy", || gpu.submit(encoder.finish()))?;
        self.done = end;
        let f64s = |v: Vec<f32>, n: usize| v[..n].iter().map(|&v| v as f64).collect();
        let k = end + 1;
        Ok(Trace {
            method: self.method,
            loss: f64s(gpu.read_async(&self.b.losses).await?, k),
            grad_norm_sq: f64s(gpu.read_async(&self.b.grad_norms).await?, k),
            points: f64s(gpu.read_async(&self.b.points).await?, k * self.d),
        })
    }
}

/// Run `method` on the toy on `gpu` in f32, the whole run as one submission.
pub async fn run_gpu(gpu: &Gpu, method: Method, c: &ToyConfig) -> Result<Trace> {
    let mut run = ToyRun::new(gpu, method, c)?;
    run.advance(gpu, c.steps).await
}

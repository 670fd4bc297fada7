//! The GPU gradient evaluator: `evaluate(params, batch) -> (flat grad, loss, correct)`.
//!
//! It is bound to one parameter buffer and one gradient buffer (both laid out as
//! [`Model::params`] says) and owns its activation workspace, so two evaluators can run at
//! the same time without sharing scratch memory. For each batch size it meets (the full batch,
//! the last partial one, the test set's) it builds a [`Plan`] once: activation buffers and
//! every prepared dispatch. A step then only writes the batch and records the plan, with no
//! allocation.
//!
//! A fused evaluator holds several replicas of everything: its parameter and gradient buffers
//! hold that many parameter sets side by side, and each plan that many batches, workspaces and
//! metrics. Every layer kernel then processes all replicas in one dispatch (the replica is the
//! grid's z index), so the fused schedule runs SAMPa's two gradient passes with half the
//! dispatches and barriers, each replica computing exactly what a single evaluator would.

use super::{Act, Layer, Model, Param};
use crate::data::Batch;
use crate::error::{Error, Result};
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::bias::{self, BiasShape};
use crate::kernels::conv::{self, ConvShape, InputLayout};
use crate::kernels::matmul::{self, Dims, Form};
use crate::kernels::maxpool::{self, PoolShape};
use crate::kernels::{Dispatch, View, relu, softmax_xent, transpose};
use std::collections::HashMap;

/// Everything one batch size needs on the device.
#[derive(Debug)]
pub struct Plan {
    /// Examples per batch.
    pub batch: usize,
    input: GpuBuf<f32>,
    labels: GpuBuf<u32>,
    /// `[mean loss, correct count]` of the last recorded batch, per replica at
    /// [`METRICS_STRIDE`] values apart.
    pub metrics: GpuBuf<f32>,
    forward: Vec<Dispatch>,
    loss_with_grad: Dispatch,
    loss_only: Dispatch,
    backward: Vec<Dispatch>,
    /// Which layer each backward entry belongs to (layers without one are skipped).
    backward_layers: Vec<usize>,
    // Buffers referenced only through the dispatches' bind groups.
    _workspace: Vec<GpuBuf<f32>>,
    _indices: Vec<GpuBuf<u32>>,
}

/// Values between two replicas' `[loss, correct]` in [`Plan::metrics`] (a 16-byte step, so
/// either can be copied out on its own).
pub const METRICS_STRIDE: usize = 4;

/// The shape of a dense product: `rows` examples (or pixels) of `inp` features to `out`.
#[derive(Clone, Copy)]
struct Dense {
    rows: usize,
    inp: usize,
    out: usize,
}

/// A model bound to a parameter buffer and a gradient buffer on one device.
#[derive(Debug)]
pub struct Evaluator {
    model: Model,
    smoothing: f32,
    params: GpuBuf<f32>,
    grads: GpuBuf<f32>,
    /// Parameter sets side by side in `params` and `grads`, `stride` values apart.
    replicas: usize,
    stride: usize,
    plans: HashMap<usize, Plan>,
}

impl Evaluator {
    /// Bind `model` to `params` and `grads` (each `model.param_count()` long).
    pub fn new(
        model: Model,
        smoothing: f32,
        params: &GpuBuf<f32>,
        grads: &GpuBuf<f32>,
    ) -> Result<Self> {
        Self::fused(model, smoothing, (params, grads), 1, 0)
    }

    /// Bind `model` to `replicas` parameter sets and gradients side by side in `params` and
    /// `grads`, set r starting at value `r * stride`.
    pub fn fused(
        model: Model,
        smoothing: f32,
        (params, grads): (&GpuBuf<f32>, &GpuBuf<f32>),
        replicas: usize,
        stride: usize,
    ) -> Result<Self> {
        let n = model.param_count();
        // One set fills its buffers exactly; more lie `stride` apart without overlapping.
        let stride = if replicas > 1 { stride } else { n };
        let need = replicas.saturating_sub(1) * stride + n;
        if replicas == 0 || stride < n || params.len != need || grads.len != need {
            return Err(Error::shape(
                "evaluator",
                format!(
                    "{replicas} replicas of {} ({n} parameters) every {stride} values need \
                     buffers of {need}; got {} and {}",
                    model.name, params.len, grads.len
                ),
            ));
        }
        if !(0.0..1.0).contains(&smoothing) {
            return Err(Error::Invalid(format!(
                "label smoothing must be in [0, 1), got {smoothing}"
            )));
        }
        Ok(Evaluator {
            model,
            smoothing,
            params: params.clone(),
            grads: grads.clone(),
            replicas,
            stride,
            plans: HashMap::new(),
        })
    }

    /// The model.
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The label smoothing of its loss.
    pub fn smoothing(&self) -> f32 {
        self.smoothing
    }

    /// The parameter buffer this evaluator reads.
    pub fn params(&self) -> &GpuBuf<f32> {
        &self.params
    }

    /// The gradient buffer this evaluator writes.
    pub fn grads(&self) -> &GpuBuf<f32> {
        &self.grads
    }

    /// The plan for `batch` examples, built on first use.
    pub fn plan(&mut self, gpu: &Gpu, batch: usize) -> Result<&Plan> {
        if !self.plans.contains_key(&batch) {
            let plan = self.build(gpu, batch)?;
            self.plans.insert(batch, plan);
        }
        Ok(&self.plans[&batch])
    }

    /// The plan for `batch` examples if one was built (by [`Evaluator::load`]).
    pub fn loaded(&self, batch: usize) -> Option<&Plan> {
        self.plans.get(&batch)
    }

    /// Write `batch` into its plan's input buffers; returns the plan to record.
    pub fn load(&mut self, gpu: &Gpu, batch: &Batch) -> Result<&Plan> {
        self.load_all(gpu, &[batch])
    }

    /// Write one batch per replica (all of one size) into their plan's input buffers; returns
    /// the plan to record.
    pub fn load_all(&mut self, gpu: &Gpu, batches: &[&Batch]) -> Result<&Plan> {
        let n = batches.first().map_or(0, |b| b.len());
        if batches.len() != self.replicas || batches.iter().any(|b| b.len() != n) {
            return Err(Error::shape(
                "evaluator",
                format!(
                    "{} replicas need as many batches of one size, got sizes {:?}",
                    self.replicas,
                    batches.iter().map(|b| b.len()).collect::<Vec<_>>()
                ),
            ));
        }
        for batch in batches {
            if n == 0 || batch.pixels.len() != n * self.model.input {
                return Err(Error::shape(
                    "evaluator",
                    format!(
                        "a batch of {n} needs {} input values, got {}",
                        n * self.model.input,
                        batch.pixels.len()
                    ),
                ));
            }
            if let Some(&bad) = batch
                .labels
                .iter()
                .find(|&&l| l as usize >= self.model.classes)
            {
                return Err(Error::Invalid(format!(
                    "label {bad} is outside the model's {} classes",
                    self.model.classes
                )));
            }
        }
        let per_input = (n * self.model.input).next_multiple_of(4);
        let per_label = n.next_multiple_of(4);
        let plan = self.plan(gpu, n)?;
        for (r, batch) in batches.iter().enumerate() {
            gpu.write(&plan.input, r * per_input, &batch.pixels)?;
            gpu.write(&plan.labels, r * per_label, &batch.labels)?;
        }
        Ok(plan)
    }

    /// Record forward, loss and backward: the gradient lands in the gradient buffer and
    /// `[loss, correct]` in `plan.metrics`.
    pub fn record_gradient(plan: &Plan, encoder: &mut wgpu::CommandEncoder) {
        for d in &plan.forward {
            d.record(encoder);
        }
        plan.loss_with_grad.record(encoder);
        for d in &plan.backward {
            d.record(encoder);
        }
    }

    /// Record two gradient passes layer by layer in turn (a's layer k, then b's layer k), so
    /// neighbouring dispatches are independent and a GPU may overlap them. The plans belong to
    /// evaluators with separate workspaces and gradient buffers; the result equals recording
    /// one pass after the other.
    pub fn record_gradients_interleaved(a: &Plan, b: &Plan, encoder: &mut wgpu::CommandEncoder) {
        for (x, y) in a.forward.iter().zip(&b.forward) {
            x.record(encoder);
            y.record(encoder);
        }
        a.loss_with_grad.record(encoder);
        b.loss_with_grad.record(encoder);
        for (x, y) in a.backward.iter().zip(&b.backward) {
            x.record(encoder);
            y.record(encoder);
        }
    }

    /// Record forward and loss only (evaluation).
    pub fn record_loss(plan: &Plan, encoder: &mut wgpu::CommandEncoder) {
        for d in &plan.forward {
            d.record(encoder);
        }
        plan.loss_only.record(encoder);
    }

    /// Compute the gradient of the mean loss over `batch` at the current parameters, and
    /// return `(mean loss, correct)`. Blocking; training records plans instead.
    pub fn evaluate(&mut self, gpu: &Gpu, batch: &Batch) -> Result<(f32, usize)> {
        let plan = self.load(gpu, batch)?;
        let mut encoder = gpu.device.create_command_encoder(&Default::default());
        Self::record_gradient(plan, &mut encoder);
        gpu.queue.submit([encoder.finish()]);
        let m = gpu.read(&plan.metrics)?;
        Ok((m[0], m[1] as usize))
    }

    /// Tensor `p` of every replica's parameter set in `buf`.
    fn at<'a>(&self, buf: &'a GpuBuf<f32>, p: &Param) -> Result<View<'a>> {
        buf.slice(p.offset, p.len())?
            .repeated(self.replicas, self.stride)
    }

    /// Forward y = x·Wᵀ + b for `rows` rows of `inp` features into `out` outputs, and the
    /// backward pass: dW = dyᵀ·x and db into the gradient vector, plus dx = dy·W when `dx` is
    /// given. Linear layers use it directly, convolutions on their im2col columns.
    fn dense(
        &self,
        gpu: &Gpu,
        d: Dense,
        (w, b): (&Param, &Param),
        x: &GpuBuf<f32>,
        (y, dy): (&GpuBuf<f32>, &GpuBuf<f32>),
        dx: Option<&GpuBuf<f32>>,
    ) -> Result<(Dispatch, Dispatch)> {
        let Dense { rows, inp, out } = d;
        let (x, y, dy) = (
            x.replicas(self.replicas),
            y.replicas(self.replicas),
            dy.replicas(self.replicas),
        );
        let (wv, bv) = (self.at(&self.params, w)?, self.at(&self.params, b)?);
        let (dw, db) = (self.at(&self.grads, w)?, self.at(&self.grads, b)?);
        let shape = BiasShape {
            outer: rows,
            channels: out,
            inner: 1,
        };
        let fwd = matmul::prepare(
            gpu,
            Form::ABt,
            Dims {
                m: rows,
                n: out,
                k: inp,
            },
            x,
            wv,
            y,
            false,
        )?
        .then(bias::prepare_add(gpu, shape, bv, y)?);
        let mut bwd = matmul::prepare(
            gpu,
            Form::AtB,
            Dims {
                m: out,
                n: inp,
                k: rows,
            },
            dy,
            x,
            dw,
            false,
        )?
        .then(bias::prepare_grad(gpu, shape, dy, db, false)?);
        if let Some(dx) = dx {
            bwd = bwd.then(matmul::prepare(
                gpu,
                Form::AB,
                Dims {
                    m: rows,
                    n: inp,
                    k: out,
                },
                dy,
                wv,
                dx.replicas(self.replicas),
                false,
            )?);
        }
        Ok((fwd, bwd))
    }

    /// Time each layer's forward and backward pass and the loss alone (each submitted and
    /// waited for separately, median of `reps`), after loading `batch`. For finding where a
    /// step's time goes; training records them all in one submission instead.
    pub fn profile(&mut self, gpu: &Gpu, batch: &Batch, reps: usize) -> Result<Vec<(String, f64)>> {
        let layers = self.model.layers.clone();
        let plan = self.load(gpu, batch)?;
        let time = |d: &Dispatch| -> Result<f64> {
            let mut t: Vec<f64> = (0..reps.max(1) + 1)
                .map(|_| {
                    let s = std::time::Instant::now();
                    gpu.run(&[d]).map(|_| s.elapsed().as_secs_f64())
                })
                .collect::<Result<_>>()?;
            t.remove(0);
            Ok(crate::tuning::median(&mut t))
        };
        let mut out = Vec::new();
        for (k, d) in plan.forward.iter().enumerate() {
            out.push((format!("forward  {k:>2} {:?}", layers[k]), time(d)?));
        }
        out.push(("loss".to_string(), time(&plan.loss_with_grad)?));
        for (d, &k) in plan.backward.iter().zip(&plan.backward_layers) {
            out.push((format!("backward {k:>2} {:?}", layers[k]), time(d)?));
        }
        Ok(out)
    }

    fn build(&self, gpu: &Gpu, batch: usize) -> Result<Plan> {
        let model = &self.model;
        let shapes = model.shapes();
        let r = self.replicas;
        // Every buffer holds r replicas of `len` values, each starting on a 16-byte boundary
        // (kernels may bind them as vec4s).
        let zeros = |len: usize, what| gpu.zeros::<f32>(r * len.next_multiple_of(4), what);
        let input = zeros(batch * model.input, "batch input")?;
        let labels = gpu.zeros::<u32>(r * batch.next_multiple_of(4), "batch labels")?;
        let metrics = gpu.zeros::<f32>(r * METRICS_STRIDE, "batch metrics")?;
        // acts[k] is layer k's output, dacts[k] the loss gradient with respect to it. Image
        // activations are pixel-major ([N·H·W, C]); the input batch is NCHW.
        // A ReLU fused into the pool after it never touches its buffers: a placeholder will do.
        let per_layer = |what| -> Result<Vec<GpuBuf<f32>>> {
            (0..model.layers.len())
                .map(|k| {
                    let len = if fuses_into_pool(model, k) {
                        1
                    } else {
                        batch * shapes[k + 1].len()
                    };
                    zeros(len, what)
                })
                .collect()
        };
        let acts = per_layer("activations")?;
        let dacts = per_layer("activation gradients")?;
        let mut scratch = Vec::new();
        let mut indices = Vec::new();
        let weighted = model.weighted_params();
        let mut forward = Vec::new();
        let mut backward = Vec::new();
        let mut backward_layers = Vec::new();
        let mut wi = 0;
        for (k, layer) in model.layers.iter().enumerate() {
            let x = if k == 0 { &input } else { &acts[k - 1] };
            let (fwd, bwd) = match (*layer, shapes[k]) {
                (Layer::Linear { inp, out }, _) => {
                    let (w, b) = weighted[wi];
                    wi += 1;
                    let dx = (k > 0).then(|| &dacts[k - 1]);
                    let dims = Dense {
                        rows: batch,
                        inp,
                        out,
                    };
                    let (fwd, bwd) = self.dense(gpu, dims, (w, b), x, (&acts[k], &dacts[k]), dx)?;
                    (fwd, Some(bwd))
                }
                (
                    Layer::Conv2d {
                        cin,
                        cout,
                        k: side,
                        pad,
                    },
                    Act::Image(_, h, w),
                ) => {
                    let (wt, b) = weighted[wi];
                    wi += 1;
                    // A convolution is a dense layer over the im2col columns.
                    let geo = ConvShape {
                        n: batch,
                        c: cin,
                        h,
                        w,
                        k: side,
                        pad,
                    };
                    let layout = if k == 0 {
                        InputLayout::Nchw
                    } else {
                        InputLayout::PixelMajor
                    };
                    let dims = Dense {
                        rows: geo.rows(),
                        inp: geo.cols(),
                        out: cout,
                    };
                    let cols = zeros(dims.rows * dims.inp, "im2col columns")?;
                    let dcols = (k > 0)
                        .then(|| zeros(dims.rows * dims.inp, "im2col column gradients"))
                        .transpose()?;
                    let (fwd, bwd) = self.dense(
                        gpu,
                        dims,
                        (wt, b),
                        &cols,
                        (&acts[k], &dacts[k]),
                        dcols.as_ref(),
                    )?;
                    let fwd =
                        conv::prepare_im2col(gpu, geo, layout, x.replicas(r), cols.replicas(r))?
                            .then(fwd);
                    let mut bwd = bwd;
                    if let Some(dcols) = &dcols {
                        bwd = bwd.then(conv::prepare_col2im(
                            gpu,
                            geo,
                            dcols.replicas(r),
                            dacts[k - 1].replicas(r),
                        )?);
                    }
                    scratch.extend([Some(cols), dcols].into_iter().flatten());
                    (fwd, Some(bwd))
                }
                (Layer::MaxPool2, Act::Image(c, h, w)) => {
                    let geo = PoolShape { n: batch, h, w, c };
                    let arg = gpu.zeros::<u32>(
                        r * geo.output_len().next_multiple_of(4),
                        "pooling winners",
                    )?;
                    // A ReLU right before is applied here (see fuses_into_pool): read its input
                    // and send the gradient past it.
                    let fused = k >= 1 && fuses_into_pool(model, k - 1);
                    let (src, back) = if fused {
                        (&acts[k - 2], k - 2)
                    } else {
                        (x, k.wrapping_sub(1))
                    };
                    let fwd = maxpool::prepare_forward(
                        gpu,
                        geo,
                        fused,
                        src.replicas(r),
                        acts[k].replicas(r),
                        arg.replicas(r),
                    )?;
                    let bwd = (k > usize::from(fused))
                        .then(|| {
                            maxpool::prepare_backward(
                                gpu,
                                geo,
                                dacts[k].replicas(r),
                                dacts[back].replicas(r),
                                arg.replicas(r),
                            )
                        })
                        .transpose()?;
                    indices.push(arg);
                    (fwd, bwd)
                }
                (Layer::Flatten, Act::Image(c, h, w)) => {
                    let fwd = transpose::prepare(
                        gpu,
                        batch,
                        h * w,
                        c,
                        x.replicas(r),
                        acts[k].replicas(r),
                    )?;
                    let bwd = (k > 0)
                        .then(|| {
                            transpose::prepare(
                                gpu,
                                batch,
                                c,
                                h * w,
                                dacts[k].replicas(r),
                                dacts[k - 1].replicas(r),
                            )
                        })
                        .transpose()?;
                    (fwd, bwd)
                }
                (Layer::Relu, _) if fuses_into_pool(model, k) => (Dispatch::empty(), None),
                (Layer::Relu, a) => {
                    let n = batch * a.len();
                    let fwd = relu::prepare_forward(gpu, n, x.replicas(r), acts[k].replicas(r))?;
                    // No layer before this one means no gradient to pass back.
                    let bwd = (k > 0)
                        .then(|| {
                            relu::prepare_backward(
                                gpu,
                                n,
                                dacts[k].replicas(r),
                                dacts[k - 1].replicas(r),
                                acts[k].replicas(r),
                            )
                        })
                        .transpose()?;
                    (fwd, bwd)
                }
                (l, a) => unreachable!("{l:?} after {a:?}"),
            };
            forward.push(fwd);
            if let Some(b) = bwd {
                backward.push(b);
                backward_layers.push(k);
            }
        }
        backward.reverse();
        backward_layers.reverse();
        let last = acts.len() - 1;
        let xent = |grad: bool| {
            softmax_xent::prepare(
                gpu,
                batch,
                model.classes,
                self.smoothing,
                acts[last].replicas(r),
                labels.replicas(r),
                dacts[last].replicas(r),
                metrics.replicas(r),
                grad,
            )
        };
        Ok(Plan {
            batch,
            loss_with_grad: xent(true)?,
            loss_only: xent(false)?,
            input,
            labels,
            metrics,
            forward,
            backward,
            backward_layers,
            _workspace: acts.into_iter().chain(dacts).chain(scratch).collect(),
            _indices: indices,
        })
    }
}

/// Whether layer `k` is a ReLU that the max-pool after it applies itself: max and ReLU commute,
/// so one pass over the activations replaces two (the ReLU's buffers then stay unused). Not for
/// a first layer, whose input is the NCHW batch rather than pixel-major activations.
fn fuses_into_pool(model: &Model, k: usize) -> bool {
    k >= 1 && model.layers[k] == Layer::Relu && model.layers.get(k + 1) == Some(&Layer::MaxPool2)
}

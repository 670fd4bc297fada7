//! A DenseNet dense block as kuangliu/pytorch-cifar's `densenet.py` writes it. Bottleneck i
//! takes the c_i = cin + i·growth channels made so far:
//!
//! ```text
//! b1 = relu(bn1(x_i))      c1 = conv1(b1)     1×1 to 4·growth, no bias
//! b2 = relu(bn2(c1))       c2 = conv2(b2)     3×3, padding 1, to growth, no bias
//! x_{i+1} = cat([c2, x_i])                    the new channels first
//! ```
//!
//! The block's output y is the whole concatenation, C = cin + layers·growth channels a pixel,
//! in one buffer: the input sits in its last cin channels and bottleneck i's new channels at
//! C − c_i − growth .. C − c_i, so x_i is always the suffix from C − c_i. Each bn1 reads that
//! suffix where it lies (a window of y's rows, `kernels::channels`); conv2 writes compact and
//! only its new channels are copied into place. No bottleneck copies the channels before it.
//!
//! The backward runs over dy, the gradient of y, which no layer reads after this one (the
//! plan's rule), so the block gathers its gradients there: from the last bottleneck back, the
//! gradient of its new channels is copied out, runs back through conv2, bn2 and conv1, and
//! bn1's backward adds its input gradient into the suffix it read, where the earlier
//! bottlenecks' new channels find the share of every later one. Last, dy's final cin channels,
//! the gradient of the block's input, are copied to dx.

use super::super::composite::Span;
use super::super::pass::{LayerIo, LayerPass, RefIo};
use super::{conv, norm};
use crate::error::Result;
use crate::gpu::GpuBuf;
use crate::kernels::Dispatch;
use crate::kernels::channels::{self, Window};
use crate::kernels::conv::image::ROW_FLOATS;
use crate::nn::layer::{Act, Layer};

/// The block's sizes: input channels, growth, bottlenecks, output channels, and the image.
struct Dims {
    cin: usize,
    growth: usize,
    layers: usize,
    c: usize,
    h: usize,
    w: usize,
}

impl Dims {
    fn of(layer: Layer, input: Act) -> Dims {
        let (
            Layer::DenseBlock {
                cin,
                growth,
                layers,
            },
            Act::Image(_, h, w),
        ) = (layer, input)
        else {
            unreachable!("Model::new checks a dense block's input is an image")
        };
        Dims {
            cin,
            growth,
            layers,
            c: cin + layers * growth,
            h,
            w,
        }
    }

    /// Bottleneck i's input channels.
    fn so_far(&self, i: usize) -> usize {
        self.cin + i * self.growth
    }

    /// Where bottleneck i's input lies in y's rows (and its input gradient in dy's).
    fn input(&self, i: usize) -> Window {
        Window {
            width: self.c,
            first: self.c - self.so_far(i),
        }
    }

    /// Where bottleneck i's new channels lie in y's rows.
    fn made(&self, i: usize) -> Window {
        Window {
            width: self.c,
            first: self.c - self.so_far(i) - self.growth,
        }
    }

    fn image(&self, c: usize) -> Act {
        Act::Image(c, self.h, self.w)
    }
}

/// The block's parts, four per bottleneck (bn1, conv1, bn2, conv2), with their spans.
fn parts(layer: Layer) -> (Vec<Layer>, Vec<Span>) {
    let parts = layer.parts().into_iter().map(|(_, l)| l).collect();
    (parts, layer.spans())
}

pub(super) fn build(io: &LayerIo<'_>, layer: Layer) -> Result<LayerPass> {
    let d = Dims::of(layer, io.input);
    let (r, m) = (io.replicas, io.batch * d.h * d.w);
    let (parts, spans) = parts(layer);
    // Whole rows per replica, like the plan's activations, so the convolutions can copy them
    // into images.
    let total = |c: usize| r * (m * c).next_multiple_of(ROW_FLOATS);
    let wide = 4 * d.growth;
    // Every bottleneck keeps b1, c1 and b2 from the forward for the backward. c2 serves the
    // forward only and the gradients the backward only: one buffer each for the block, sized
    // for the widest bottleneck, and shared with blocks of the same size.
    let most = d.so_far(d.layers - 1);
    let [c2, dc2, db2, dc1, db1] = [
        ("dense c2", d.growth),
        ("dense c2 grad", d.growth),
        ("dense b2 grad", wide),
        ("dense c1 grad", wide),
        ("dense b1 grad", most),
    ]
    .map(|(what, c)| io.shared_zeros(total(c), what));
    let (c2, dc2, db2, dc1, db1) = (c2?, dc2?, db2?, dc1?, db1?);
    let dx = io
        .dx
        .expect("a dense block follows a convolution, so it is never the first layer");
    let copy = |(src, from): (&GpuBuf<f32>, Window), (dst, to): (&GpuBuf<f32>, Window), c| {
        channels::prepare_copy(
            io.gpu,
            (m, c),
            (src.replicas(r), from),
            (dst.replicas(r), to),
        )
    };
    let whole = Window::whole;
    let place_input = copy((io.x, whole(d.cin)), (io.y, d.input(0)), d.cin)?;
    let (mut fwd, mut eval) = (place_input.clone(), place_input);
    let mut backs = Vec::with_capacity(d.layers);
    let mut pass = LayerPass::new(Dispatch::empty(), None);
    for i in 0..d.layers {
        let c = d.so_far(i);
        let own = |c: usize, what| io.gpu.zeros::<f32>(total(c), what);
        let (b1, c1, b2) = (
            own(c, "dense b1")?,
            own(wide, "dense c1")?,
            own(wide, "dense b2")?,
        );
        let span = |k: usize| spans[4 * i + k].views.clone();
        let spec = |k: usize| conv::Spec::of(parts[4 * i + k]);
        let bn1_io = io.part(d.image(c), (io.y, &b1, &db1, Some(io.dy)), span(0));
        let bn1 = norm::build_windowed(&bn1_io, d.input(i))?;
        let conv1_io = io.part(d.image(c), (&b1, &c1, &dc1, Some(&db1)), span(1));
        let conv1 = conv::build(&conv1_io, spec(1))?;
        let bn2 = norm::build(
            &io.part(d.image(wide), (&c1, &b2, &db2, Some(&dc1)), span(2)),
            true,
        )?;
        let conv2_io = io.part(d.image(wide), (&b2, &c2, &dc2, Some(&db2)), span(3));
        let conv2 = conv::build(&conv2_io, spec(3))?;
        let place = copy((&c2, whole(d.growth)), (io.y, d.made(i)), d.growth)?;
        let gather = copy((io.dy, d.made(i)), (&dc2, whole(d.growth)), d.growth)?;
        let parts = [bn1, conv1, bn2, conv2];
        let mut back = gather;
        for p in parts.iter().rev() {
            back = back.then(p.backward.clone().expect("every part has a backward"));
        }
        backs.push(back);
        let (f, e) = LayerPass::chained_forward(&parts);
        (fwd, eval) = (fwd.then(f), eval.then(e));
        pass.absorb(parts.into());
        fwd = fwd.then(place.clone());
        eval = eval.then(place);
        pass.scratch.extend([b1, c1, b2]);
    }
    let mut bwd = Dispatch::empty();
    for back in backs.into_iter().rev() {
        bwd = bwd.then(back);
    }
    bwd = bwd.then(copy((io.dy, d.input(0)), (dx, whole(d.cin)), d.cin)?);
    pass.forward = fwd;
    pass.forward_eval = Some(eval);
    pass.backward = Some(bwd);
    pass.scratch.extend([c2, dc2, db2, dc1, db1]);
    Ok(pass)
}

/// `c` channels of `window` out of `buf`'s `m` rows, compact.
fn take(buf: &[f64], m: usize, window: Window, c: usize) -> Vec<f64> {
    let mut out = vec![0.0; m * c];
    channels::reference_copy((m, c), (buf, window), (&mut out, Window::whole(c)));
    out
}

/// One bottleneck's f64 intermediates: its input x_i, b1, c1, b2.
struct Kept {
    x: Vec<f64>,
    b1: Vec<f64>,
    c1: Vec<f64>,
    b2: Vec<f64>,
}

/// The f64 forward: y and every bottleneck's intermediates.
fn forward_all(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> (Vec<f64>, Vec<Kept>) {
    let d = Dims::of(layer, io.input);
    let m = io.batch * d.h * d.w;
    let (parts, spans) = parts(layer);
    let mut y = vec![0.0; m * d.c];
    channels::reference_copy((m, d.cin), (x, Window::whole(d.cin)), (&mut y, d.input(0)));
    let wide = 4 * d.growth;
    let mut kept = Vec::with_capacity(d.layers);
    for i in 0..d.layers {
        let c = d.so_far(i);
        let part = |k: usize, input| io.part(&spans[4 * i + k], input);
        let spec = |k: usize| conv::Spec::of(parts[4 * i + k]);
        let xi = take(&y, m, d.input(i), c);
        let b1 = norm::forward(&part(0, d.image(c)), true, &xi);
        let c1 = conv::forward(&part(1, d.image(c)), spec(1), &b1);
        let b2 = norm::forward(&part(2, d.image(wide)), true, &c1);
        let c2 = conv::forward(&part(3, d.image(wide)), spec(3), &b2);
        let whole = Window::whole(d.growth);
        channels::reference_copy((m, d.growth), (&c2, whole), (&mut y, d.made(i)));
        kept.push(Kept { x: xi, b1, c1, b2 });
    }
    (y, kept)
}

pub(super) fn forward(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<f64> {
    forward_all(io, layer, x).0
}

/// The inputs of the block's BatchNorms: per bottleneck, x_i and c1.
pub(super) fn norm_inputs(io: &RefIo<'_>, layer: Layer, x: &[f64]) -> Vec<Vec<f64>> {
    let (_, kept) = forward_all(io, layer, x);
    kept.into_iter().flat_map(|k| [k.x, k.c1]).collect()
}

pub(super) fn backward(
    io: &RefIo<'_>,
    layer: Layer,
    x: &[f64],
    dy: &[f64],
    grads: &mut [f64],
) -> Vec<f64> {
    let d = Dims::of(layer, io.input);
    let m = io.batch * d.h * d.w;
    let (parts, spans) = parts(layer);
    let (_, kept) = forward_all(io, layer, x);
    let wide = 4 * d.growth;
    let mut dy = dy.to_vec();
    for (i, k) in kept.iter().enumerate().rev() {
        let c = d.so_far(i);
        let part = |j: usize, input| io.part(&spans[4 * i + j], input);
        let spec = |j: usize| conv::Spec::of(parts[4 * i + j]);
        let g = |j: usize| spans[4 * i + j].params.clone();
        let dc2 = take(&dy, m, d.made(i), d.growth);
        let db2 = conv::backward(
            &part(3, d.image(wide)),
            spec(3),
            &k.b2,
            &dc2,
            &mut grads[g(3)],
        );
        let dc1 = norm::backward(
            &part(2, d.image(wide)),
            &k.c1,
            &db2,
            Some(&k.b2),
            &mut grads[g(2)],
        );
        let db1 = conv::backward(&part(1, d.image(c)), spec(1), &k.b1, &dc1, &mut grads[g(1)]);
        let dxi = norm::backward(
            &part(0, d.image(c)),
            &k.x,
            &db1,
            Some(&k.b1),
            &mut grads[g(0)],
        );
        let window = d.input(i);
        for r in 0..m {
            for ch in 0..c {
                dy[window.at(r, ch)] += dxi[r * c + ch];
            }
        }
    }
    take(&dy, m, d.input(0), d.cin)
}

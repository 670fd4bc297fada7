//! The implicit-GEMM convolution against its f64 reference on every adapter, in both register
//! forms, for stride 1 and 2, 3×3 and 1×1 kernels, channel counts that are and are not
//! multiples of 4 (the first layer's NCHW batch), with two replicas; and the references
//! against finite differences of the forward pass. Tolerances: f32 sums of K terms in [-1, 1]
//! carry errors of order K·2^-24, far below 1e-5 for these sizes.

use super::image::{self, ROW_FLOATS};
use super::implicit::{self, Conv};
use super::reference;
use super::weight_grad;
use crate::gpu::testing::{assert_close, gpus};
use crate::gpu::{Gpu, GpuBuf};
use crate::rng::Pcg;

const SHAPES: [Conv; 6] = [
    conv(2, 8, (5, 7), 12, 3, 1, 1),
    conv(2, 4, (6, 6), 8, 3, 2, 1),
    conv(1, 8, (7, 5), 4, 1, 2, 0),
    conv(3, 4, (4, 4), 20, 1, 1, 0),
    conv(2, 16, (9, 9), 36, 3, 2, 1),
    conv(1, 4, (3, 3), 8, 3, 1, 0),
];

const fn conv(
    n: usize,
    cin: usize,
    hw: (usize, usize),
    cout: usize,
    k: usize,
    stride: usize,
    pad: usize,
) -> Conv {
    Conv {
        n,
        cin,
        h: hw.0,
        w: hw.1,
        cout,
        k,
        stride,
        pad,
    }
}

/// `replicas` copies of `len` values side by side, each on whole image rows; the values and
/// the buffer.
fn upload(gpu: &Gpu, rng: &mut Pcg, len: usize, replicas: usize) -> (Vec<Vec<f32>>, GpuBuf<f32>) {
    let stride = len.next_multiple_of(ROW_FLOATS);
    let values: Vec<Vec<f32>> = (0..replicas).map(|_| rng.vec(len, -1.0, 1.0)).collect();
    let mut flat = vec![0.0f32; stride * replicas];
    for (r, v) in values.iter().enumerate() {
        flat[r * stride..r * stride + len].copy_from_slice(v);
    }
    (values, gpu.upload(&flat, "conv operand").unwrap())
}

/// `replicas` views of `len` values on whole image rows.
fn view(b: &GpuBuf<f32>, len: usize, replicas: usize) -> crate::kernels::View<'_> {
    b.slice(0, len)
        .unwrap()
        .repeated(replicas, len.next_multiple_of(ROW_FLOATS))
        .unwrap()
}

fn part(all: &[f32], r: usize, len: usize) -> &[f32] {
    let stride = len.next_multiple_of(ROW_FLOATS);
    &all[r * stride..r * stride + len]
}

#[test]
fn forward_and_data_gradient_match_the_reference() {
    for gpu in &gpus() {
        for g in SHAPES {
            for rows in [16, 8] {
                let mut rng = Pcg::new(g.weight_len() as u64, rows as u64);
                let replicas = 2;
                let x_len = g.n * g.h * g.w * g.cin;
                let y_len = g.out_pixels() * g.cout;
                let (xs, x) = upload(gpu, &mut rng, x_len, replicas);
                let (ws, w) = upload(gpu, &mut rng, g.weight_len() + g.cout, replicas);
                let wstride = (g.weight_len() + g.cout).next_multiple_of(ROW_FLOATS);
                let wv = w
                    .slice(0, g.weight_len())
                    .unwrap()
                    .repeated(replicas, wstride)
                    .unwrap();
                let bv = w
                    .slice(g.weight_len(), g.cout)
                    .unwrap()
                    .repeated(replicas, wstride)
                    .unwrap();
                let (_, y) = upload(gpu, &mut rng, y_len, replicas);
                let (x_view, y_view) = (view(&x, x_len, replicas), view(&y, y_len, replicas));
                let xi = image::copied(gpu, "test", x_view, g.n * g.h * g.w * g.cin4()).unwrap();
                let fwd =
                    implicit::prepare_forward(gpu, rows, g, &xi, wv, Some(bv), y_view).unwrap();
                gpu.run(&[&xi.stage, &fwd]).unwrap();
                let got = gpu.read(&y).unwrap();
                for r in 0..replicas {
                    let (wr, br) = ws[r].split_at(g.weight_len());
                    let want = reference::forward(&g, &xs[r], wr, Some(br));
                    assert_close(
                        &format!(
                            "forward {g:?} rows {rows} replica {r} on {}",
                            gpu.adapter.short()
                        ),
                        part(&got, r, y_len),
                        &want,
                        1e-5,
                        1e-5,
                    );
                }
                // The data gradient, with y's buffer as dy.
                let (dys, dy) = upload(gpu, &mut rng, y_len, replicas);
                let dy_view = view(&dy, y_len, replicas);
                let dyi = image::copied(gpu, "test", dy_view, g.out_pixels() * g.cout / 4).unwrap();
                let bwd = implicit::prepare_data_grad(gpu, rows, g, &dyi, wv, x_view).unwrap();
                gpu.run(&[&dyi.stage, &bwd]).unwrap();
                let got = gpu.read(&x).unwrap();
                for r in 0..replicas {
                    let want = reference::data_grad(&g, &dys[r], &ws[r][..g.weight_len()]);
                    assert_close(
                        &format!(
                            "data gradient {g:?} rows {rows} replica {r} on {}",
                            gpu.adapter.short()
                        ),
                        part(&got, r, x_len),
                        &want,
                        1e-5,
                        1e-5,
                    );
                }
            }
        }
    }
}

#[test]
fn weight_and_bias_gradients_match_the_reference() {
    for gpu in &gpus() {
        for g in SHAPES {
            let mut rng = Pcg::new(g.weight_len() as u64, 3);
            let replicas = 2;
            let x_len = g.n * g.h * g.w * g.cin;
            let y_len = g.out_pixels() * g.cout;
            let (xs, x) = upload(gpu, &mut rng, x_len, replicas);
            let (dys, dy) = upload(gpu, &mut rng, y_len, replicas);
            let xi = image::copied(
                gpu,
                "test",
                view(&x, x_len, replicas),
                g.n * g.h * g.w * g.cin4(),
            )
            .unwrap();
            let dyi = image::copied(
                gpu,
                "test",
                view(&dy, y_len, replicas),
                g.out_pixels() * g.cout / 4,
            )
            .unwrap();
            let grad_len = g.weight_len() + g.cout;
            let grads = gpu.zeros::<f32>(replicas * grad_len, "grads").unwrap();
            let dw = grads
                .slice(0, g.weight_len())
                .unwrap()
                .repeated(replicas, grad_len)
                .unwrap();
            let db = grads
                .slice(g.weight_len(), g.cout)
                .unwrap()
                .repeated(replicas, grad_len)
                .unwrap();
            for bias in [true, false] {
                let (d, _part) =
                    weight_grad::prepare_weight_grad(gpu, g, (&xi, &dyi), dw, bias.then_some(db))
                        .unwrap();
                gpu.run(&[&xi.stage, &dyi.stage, &d]).unwrap();
                let got = gpu.read(&grads).unwrap();
                for r in 0..replicas {
                    let (want_w, want_b) = reference::weight_grad(&g, &xs[r], &dys[r]);
                    let at = &got[r * grad_len..(r + 1) * grad_len];
                    let what = format!("{g:?} bias {bias} replica {r} on {}", gpu.adapter.short());
                    // Sums over up to 128 pixels × 9 taps of terms in [-1, 1].
                    assert_close(
                        &format!("dW {what}"),
                        &at[..g.weight_len()],
                        &want_w,
                        1e-5,
                        1e-5,
                    );
                    if bias {
                        assert_close(
                            &format!("db {what}"),
                            &at[g.weight_len()..],
                            &want_b,
                            1e-5,
                            1e-5,
                        );
                    }
                }
            }
        }
    }
}

#[test]
fn the_first_layer_reads_its_nchw_batch_with_padded_channels() {
    for gpu in &gpus() {
        for g in [
            conv(2, 1, (6, 5), 8, 3, 1, 1),
            conv(2, 2, (5, 7), 4, 3, 1, 1),
            conv(2, 3, (8, 8), 16, 3, 2, 1),
        ] {
            let mut rng = Pcg::new(g.weight_len() as u64, 5);
            let x0 = rng.vec(g.n * g.cin * g.h * g.w, -1.0, 1.0);
            let x = gpu.upload(&x0, "batch").unwrap();
            let (ws, w) = upload(gpu, &mut rng, g.weight_len() + g.cout, 1);
            let y_len = g.out_pixels() * g.cout;
            let (_, y) = upload(gpu, &mut rng, y_len, 1);
            let xi = image::from_nchw(gpu, (g.n, g.cin, g.h, g.w), x.view()).unwrap();
            let (wv, bv) = (
                w.slice(0, g.weight_len()).unwrap(),
                w.slice(g.weight_len(), g.cout).unwrap(),
            );
            let fwd = implicit::prepare_forward(
                gpu,
                16,
                g,
                &xi,
                wv,
                Some(bv),
                y.slice(0, y_len).unwrap(),
            )
            .unwrap();
            let (dys, dy) = upload(gpu, &mut rng, y_len, 1);
            let dyi = image::copied(
                gpu,
                "test",
                dy.slice(0, y_len).unwrap(),
                g.out_pixels() * g.cout / 4,
            )
            .unwrap();
            let grads = gpu.zeros::<f32>(g.weight_len() + g.cout, "grads").unwrap();
            let (dw, db) = (
                grads.slice(0, g.weight_len()).unwrap(),
                grads.slice(g.weight_len(), g.cout).unwrap(),
            );
            let (wgrad, _part) =
                weight_grad::prepare_weight_grad(gpu, g, (&xi, &dyi), dw, Some(db)).unwrap();
            gpu.run(&[&xi.stage, &fwd, &dyi.stage, &wgrad]).unwrap();
            // Skipping the padding channels (REAL = cin) gives the bits of reading all four.
            let all = gpu.zeros::<f32>(y_len, "all channels").unwrap();
            let ops = (wv, Some(bv));
            let full = implicit::forward_with_real(gpu, (16, 4), g, &xi, ops, all.view()).unwrap();
            gpu.run(&[&full]).unwrap();
            let bits = |v: Vec<f32>| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
            assert_eq!(
                bits(gpu.read(&y).unwrap()[..y_len].to_vec()),
                bits(gpu.read(&all).unwrap()),
                "{g:?}: skipping the zero channels changed the bits"
            );
            let pixels = reference::nchw_to_pixels(&g, &x0);
            let (wr, br) = ws[0].split_at(g.weight_len());
            let what = format!("{g:?} on {}", gpu.adapter.short());
            assert_close(
                &format!("forward {what}"),
                &gpu.read(&y).unwrap()[..y_len],
                &reference::forward(&g, &pixels, wr, Some(br)),
                1e-5,
                1e-5,
            );
            let (want_w, want_b) = reference::weight_grad(&g, &pixels, &dys[0]);
            let got = gpu.read(&grads).unwrap();
            assert_close(
                &format!("dW {what}"),
                &got[..g.weight_len()],
                &want_w,
                1e-5,
                1e-5,
            );
            assert_close(
                &format!("db {what}"),
                &got[g.weight_len()..],
                &want_b,
                1e-5,
                1e-5,
            );
        }
    }
}

/// The references' gradients against central differences of the forward reference's
/// ⟨dy, y⟩, at every coordinate of a small strided convolution.
#[test]
fn the_references_gradients_match_finite_differences() {
    let g = conv(2, 3, (5, 6), 4, 3, 2, 1);
    let mut rng = Pcg::new(9, 9);
    let to64 = |v: Vec<f32>| v.into_iter().map(f64::from).collect::<Vec<f64>>();
    let x = to64(rng.vec(g.n * g.h * g.w * g.cin, -1.0, 1.0));
    let w = to64(rng.vec(g.weight_len(), -1.0, 1.0));
    let b = to64(rng.vec(g.cout, -1.0, 1.0));
    let dy = to64(rng.vec(g.out_pixels() * g.cout, -1.0, 1.0));
    let loss = |x: &[f64], w: &[f64], b: &[f64]| -> f64 {
        let y = reference::forward(&g, x, w, Some(b));
        y.iter().zip(&dy).map(|(a, d)| a * d).sum()
    };
    let h = 1e-6;
    let diff = |v: &[f64], i: usize, f: &dyn Fn(&[f64]) -> f64| {
        let (mut p, mut m) = (v.to_vec(), v.to_vec());
        p[i] += h;
        m[i] -= h;
        (f(&p) - f(&m)) / (2.0 * h)
    };
    let dx = reference::data_grad(&g, &dy, &w);
    let (dw, db) = reference::weight_grad(&g, &x, &dy);
    for (i, want) in dx.iter().enumerate() {
        let fd = diff(&x, i, &|v| loss(v, &w, &b));
        assert!((fd - want).abs() < 1e-6, "dx[{i}]: {fd} against {want}");
    }
    for (i, want) in dw.iter().enumerate() {
        let fd = diff(&w, i, &|v| loss(&x, v, &b));
        assert!((fd - want).abs() < 1e-6, "dw[{i}]: {fd} against {want}");
    }
    for (i, want) in db.iter().enumerate() {
        let fd = diff(&b, i, &|v| loss(&x, &w, v));
        assert!((fd - want).abs() < 1e-6, "db[{i}]: {fd} against {want}");
    }
}

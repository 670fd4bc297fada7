#![cfg(not(target_arch = "wasm32"))]
//! Every kernel against its CPU f64 reference, on every adapter, at several shapes including
//! ones that are not multiples of any tile size. Tolerances are stated per kernel: f32 sums of
//! k terms in [-1, 1] carry errors of order k·2^-24, so matmul allows 1e-6·k absolute.

mod common;

use common::{assert_close, gpus};
use sampa::kernels::bias::{self, BiasShape};
use sampa::kernels::matmul::{self, Dims, Form, Variant};
use sampa::kernels::sgd::{self, SgdHyper, SgdStep};
use sampa::kernels::{norm, relu, softmax_xent, vector};
use sampa::rng::Pcg;

const MATMUL_SHAPES: [(usize, usize, usize); 7] = [
    (1, 1, 1),
    (7, 33, 129),
    (33, 7, 1),
    (129, 65, 33),
    (64, 64, 64),
    (128, 10, 256),
    (100, 130, 257),
];

#[test]
fn matmul_all_forms_variants_and_shapes() {
    for gpu in &gpus() {
        for variant in Variant::ALL {
            for form in Form::ALL {
                for (m, n, k) in MATMUL_SHAPES {
                    let dims = Dims { m, n, k };
                    let mut rng = Pcg::new((m * 31 + n * 7 + k) as u64, 1);
                    // Operands sit at odd offsets inside larger buffers, as tensors do inside
                    // the flat parameter vector.
                    let (oa, ob, oc) = (3, 5, 11);
                    let a_host = rng.vec(oa + m * k, -1.0, 1.0);
                    let b_host = rng.vec(ob + k * n, -1.0, 1.0);
                    let c_init = rng.vec(oc + m * n, -1.0, 1.0);
                    let a = gpu.upload(&a_host, "A").unwrap();
                    let b = gpu.upload(&b_host, "B").unwrap();
                    let want = matmul::reference(form, dims, &a_host[oa..], &b_host[ob..]);
                    for accumulate in [false, true] {
                        let c = gpu.upload(&c_init, "C").unwrap();
                        let d = matmul::prepare_variant(
                            gpu,
                            variant,
                            form,
                            dims,
                            a.slice(oa, m * k).unwrap(),
                            b.slice(ob, k * n).unwrap(),
                            c.slice(oc, m * n).unwrap(),
                            accumulate,
                        )
                        .unwrap();
                        gpu.run(&[&d]).unwrap();
                        let got = gpu.read(&c).unwrap();
                        assert_eq!(got[..oc], c_init[..oc], "matmul wrote before its offset");
                        let want: Vec<f64> = want
                            .iter()
                            .zip(&c_init[oc..])
                            .map(|(w, &c0)| if accumulate { w + c0 as f64 } else { *w })
                            .collect();
                        let what = format!(
                            "{} matmul {} {form:?} {m}x{n}x{k} acc={accumulate}",
                            gpu.adapter.short(),
                            variant.name()
                        );
                        assert_close(&what, &got[oc..], &want, 1e-6 * k as f64 + 1e-6, 0.0);
                    }
                }
            }
        }
    }
}

#[test]
fn matmul_variants_agree() {
    // Same sums in the same order: a choice made by timing must not change trajectories.
    for gpu in &gpus() {
        let dims = Dims {
            m: 70,
            n: 45,
            k: 300,
        };
        let mut rng = Pcg::new(9, 0);
        let a = gpu.upload(&rng.vec(70 * 300, -1.0, 1.0), "A").unwrap();
        let b = gpu.upload(&rng.vec(300 * 45, -1.0, 1.0), "B").unwrap();
        let mut outs = Vec::new();
        for v in Variant::ALL {
            let c = gpu.zeros::<f32>(70 * 45, "C").unwrap();
            let d = matmul::prepare_variant(
                gpu,
                v,
                Form::AB,
                dims,
                a.view(),
                b.view(),
                c.view(),
                false,
            )
            .unwrap();
            gpu.run(&[&d]).unwrap();
            outs.push(gpu.read(&c).unwrap());
        }
        let differ = outs[0].iter().zip(&outs[1]).filter(|(x, y)| x != y).count();
        eprintln!(
            "{}: reg vs tiled differ in {differ} of {} elements",
            gpu.adapter.short(),
            outs[0].len()
        );
        // FMA contraction is the compiler's choice, so allow rounding-level differences only.
        assert_close(
            "reg vs tiled",
            &outs[0],
            &outs[1].iter().map(|&v| v as f64).collect::<Vec<_>>(),
            1e-5,
            0.0,
        );
    }
}

#[test]
fn bias_add_and_grad() {
    for gpu in &gpus() {
        for (outer, channels, inner) in [
            (1, 1, 1),
            (7, 33, 1),
            (128, 10, 1),
            (3, 5, 49),
            (2, 32, 196),
        ] {
            let shape = BiasShape {
                outer,
                channels,
                inner,
            };
            let n = outer * channels * inner;
            let mut rng = Pcg::new(n as u64, 2);
            let params = rng.vec(channels + 4, -1.0, 1.0);
            let y0 = rng.vec(n, -1.0, 1.0);
            let pbuf = gpu.upload(&params, "params").unwrap();
            let y = gpu.upload(&y0, "y").unwrap();
            let d =
                bias::prepare_add(gpu, shape, pbuf.slice(4, channels).unwrap(), y.view()).unwrap();
            gpu.run(&[&d]).unwrap();
            let want = bias::reference_add(shape, &params[4..], &y0);
            assert_close(
                &format!("bias_add {shape:?}"),
                &gpu.read(&y).unwrap(),
                &want,
                1e-6,
                1e-6,
            );

            let g0 = rng.vec(channels + 2, -1.0, 1.0);
            let want = bias::reference_grad(shape, &y0);
            for accumulate in [false, true] {
                let g = gpu.upload(&g0, "grad").unwrap();
                let dy = gpu.upload(&y0, "dy").unwrap();
                let d = bias::prepare_grad(
                    gpu,
                    shape,
                    dy.view(),
                    g.slice(2, channels).unwrap(),
                    accumulate,
                )
                .unwrap();
                gpu.run(&[&d]).unwrap();
                let got = gpu.read(&g).unwrap();
                assert_eq!(got[..2], g0[..2]);
                let want: Vec<f64> = want
                    .iter()
                    .zip(&g0[2..])
                    .map(|(w, &g)| if accumulate { w + g as f64 } else { *w })
                    .collect();
                let tol = 1e-6 * (outer * inner) as f64;
                assert_close(
                    &format!("bias_grad {shape:?} acc={accumulate}"),
                    &got[2..],
                    &want,
                    tol,
                    0.0,
                );
            }
        }
    }
}

#[test]
fn relu_forward_backward() {
    for gpu in &gpus() {
        for n in [1, 7, 33, 129, 1000, 70_001] {
            let mut rng = Pcg::new(n as u64, 3);
            let x0 = rng.vec(n, -1.0, 1.0);
            let dy0 = rng.vec(n, -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let y = gpu.zeros::<f32>(n, "y").unwrap();
            let dy = gpu.upload(&dy0, "dy").unwrap();
            let dx = gpu.zeros::<f32>(n, "dx").unwrap();
            let f = relu::prepare_forward(gpu, n, x.view(), y.view()).unwrap();
            let b = relu::prepare_backward(gpu, n, dy.view(), dx.view(), y.view()).unwrap();
            gpu.run(&[&f, &b]).unwrap();
            let y_host = gpu.read(&y).unwrap();
            assert_close(
                &format!("relu fwd n={n}"),
                &y_host,
                &relu::reference_forward(&x0),
                0.0,
                0.0,
            );
            let want = relu::reference_backward(&dy0, &y_host);
            assert_close(
                &format!("relu bwd n={n}"),
                &gpu.read(&dx).unwrap(),
                &want,
                0.0,
                0.0,
            );
        }
    }
}

#[test]
fn softmax_cross_entropy() {
    for gpu in &gpus() {
        for (rows, classes) in [(1, 2), (7, 10), (128, 10), (300, 100), (513, 3)] {
            for smoothing in [0.0f32, 0.1] {
                let mut rng = Pcg::new((rows * classes) as u64, 4);
                let logits0 = rng.vec(rows * classes, -4.0, 4.0);
                let labels0: Vec<u32> = (0..rows).map(|_| rng.below(classes as u32)).collect();
                let logits = gpu.upload(&logits0, "logits").unwrap();
                let labels = gpu.upload(&labels0, "labels").unwrap();
                let dlogits = gpu.zeros::<f32>(rows * classes, "dlogits").unwrap();
                let metrics = gpu.zeros::<f32>(2, "metrics").unwrap();
                let d = softmax_xent::prepare(
                    gpu,
                    rows,
                    classes,
                    smoothing,
                    logits.view(),
                    labels.view(),
                    dlogits.view(),
                    metrics.view(),
                    true,
                )
                .unwrap();
                gpu.run(&[&d]).unwrap();
                let want =
                    softmax_xent::reference(rows, classes, smoothing as f64, &logits0, &labels0);
                let m = gpu.read(&metrics).unwrap();
                let what = format!("xent {rows}x{classes} eps={smoothing}");
                assert_close(&format!("{what} loss"), &m[..1], &[want.loss], 1e-5, 1e-5);
                assert_eq!(m[1] as usize, want.correct, "{what}: correct count");
                assert_close(
                    &format!("{what} grad"),
                    &gpu.read(&dlogits).unwrap(),
                    &want.dlogits,
                    1e-7,
                    1e-4,
                );
            }
        }
    }
}

#[test]
fn squared_norm_two_stage() {
    for gpu in &gpus() {
        for n in [1, 7, 33, 129, 256, 257, 65_536, 235_146, 1_000_003] {
            let mut rng = Pcg::new(n as u64, 5);
            // The view starts at element 4 and is followed by one more element, which must not
            // count.
            let x0 = rng.vec(n + 5, -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let out = gpu.upload(&[7.0f32; 4], "out").unwrap();
            let s = norm::prepare(gpu, x.slice(4, n).unwrap(), out.slice(2, 1).unwrap()).unwrap();
            assert_eq!(s.launches(), 2);
            gpu.run(&[&s]).unwrap();
            let got = gpu.read(&out).unwrap();
            assert_eq!(
                [got[0], got[1], got[3]],
                [7.0; 3],
                "norm wrote outside its slot"
            );
            let want = norm::reference(&x0[4..4 + n]);
            assert_close(&format!("sumsq n={n}"), &got[2..3], &[want], 0.0, 1e-5);
        }
    }
}

#[test]
fn axpy_scale_copy() {
    for gpu in &gpus() {
        for n in [1, 7, 33, 129, 100_000] {
            let mut rng = Pcg::new(n as u64, 6);
            let x0 = rng.vec(n + 1, -1.0, 1.0);
            let y0 = rng.vec(n + 2, -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let xs = x.slice(1, n).unwrap();

            let y = gpu.upload(&y0, "y").unwrap();
            let d = vector::prepare_axpy(gpu, -0.37, xs, y.slice(2, n).unwrap()).unwrap();
            gpu.run(&[&d]).unwrap();
            let got = gpu.read(&y).unwrap();
            assert_eq!(got[..2], y0[..2]);
            assert_close(
                &format!("axpy n={n}"),
                &got[2..],
                &vector::reference_axpy(-0.37, &x0[1..], &y0[2..]),
                1e-7,
                1e-6,
            );

            let y = gpu.upload(&y0, "y").unwrap();
            let d = vector::prepare_scale(gpu, 2.5, y.slice(2, n).unwrap()).unwrap();
            gpu.run(&[&d]).unwrap();
            assert_close(
                &format!("scale n={n}"),
                &gpu.read(&y).unwrap()[2..],
                &vector::reference_scale(2.5, &y0[2..]),
                0.0,
                1e-7,
            );

            let y = gpu.upload(&y0, "y").unwrap();
            let d = vector::prepare_copy(gpu, xs, y.slice(2, n).unwrap()).unwrap();
            gpu.run(&[&d]).unwrap();
            assert_eq!(gpu.read(&y).unwrap()[2..], x0[1..]);
        }
    }
}

/// The SGD tests' hyper-parameters.
fn sgd_hyper(nesterov: bool) -> SgdHyper {
    SgdHyper {
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov,
    }
}

/// A vector of the SGD tests holding `data`. Vectors in whole 256-float rows take the texture
/// path, others the plain one: n = 33 gets a plain buffer, so both paths are checked.
fn sgd_vector(gpu: &sampa::Gpu, data: &[f32], what: &str) -> sampa::gpu::GpuBuf<f32> {
    let n = data.len();
    let b = if n != 33 {
        gpu.zeros_rows(n, what).unwrap()
    } else {
        gpu.zeros::<f32>(n, what).unwrap()
    };
    gpu.write(&b, 0, data).unwrap();
    b
}

#[test]
fn sgd_matches_pytorch_semantics_over_steps() {
    for gpu in &gpus() {
        for (nesterov, lambda) in [(false, 0.0), (true, 0.0), (false, 0.2), (true, 1.0)] {
            for n in [1, 33, 10_007] {
                let hyper = sgd_hyper(nesterov);
                let mut rng = Pcg::new(n as u64, 7);
                let x0 = rng.vec(n, -1.0, 1.0);
                let padded = n != 33;
                let x = sgd_vector(gpu, &x0, "x");
                let g1 = sgd_vector(gpu, &vec![0.0; n], "g1");
                // With λ = 0 the second gradient must not be read at all: NaN would show.
                let g2 = sgd_vector(gpu, &vec![f32::NAN; n], "g2");
                let buf = sgd_vector(gpu, &vec![123.0f32; n], "momentum");
                let step =
                    SgdStep::prepare(gpu, [g1.view(), g2.view()], x.view(), buf.view()).unwrap();
                let launches = if padded { 5 } else { 1 };
                assert_eq!(step.dispatch.launches(), launches, "n={n} padded={padded}");
                let mut xr: Vec<f64> = x0.iter().map(|&v| v as f64).collect();
                let mut br = vec![0.0f64; n];
                let look = gpu.zeros::<f32>(n, "y").unwrap();
                let ahead =
                    sgd::Lookahead::prepare(gpu, g1.view(), x.view(), buf.view(), look.view())
                        .unwrap();
                for t in 0..5 {
                    let (a, b) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
                    gpu.write(&g1, 0, &a).unwrap();
                    if lambda != 0.0 {
                        gpu.write(&g2, 0, &b).unwrap();
                    }
                    step.set(gpu, hyper, t == 0, lambda);
                    ahead.set(gpu, hyper, t == 0);
                    gpu.run(&[&ahead.dispatch, &step.dispatch]).unwrap();
                    let gr: Vec<f64> = a
                        .iter()
                        .zip(&b)
                        .map(|(&a, &b)| {
                            if lambda == 0.0 {
                                a as f64
                            } else {
                                (1.0 - lambda as f64) * a as f64 + lambda as f64 * b as f64
                            }
                        })
                        .collect();
                    let ga: Vec<f64> = a.iter().map(|&v| v as f64).collect();
                    let want_look = sgd::reference_lookahead(hyper, t == 0, &ga, &xr, &br);
                    let what = format!("lookahead n={n} nesterov={nesterov} t={t}");
                    assert_close(&what, &gpu.read(&look).unwrap(), &want_look, 1e-6, 1e-5);
                    sgd::reference_step(hyper, t == 0, &gr, &mut xr, &mut br);
                }
                let what = format!("sgd n={n} nesterov={nesterov} lambda={lambda}");
                assert_close(
                    &format!("{what} x"),
                    &gpu.read(&x).unwrap(),
                    &xr,
                    1e-6,
                    1e-5,
                );
                assert_close(
                    &format!("{what} momentum"),
                    &gpu.read(&buf).unwrap(),
                    &br,
                    1e-6,
                    1e-5,
                );
            }
        }
    }
}

#[test]
fn fused_step_and_lookahead_equal_the_separate_kernels_bit_for_bit() {
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    for gpu in &gpus() {
        for (nesterov, lambda) in [(false, 0.0), (true, 0.2), (false, 1.0)] {
            // 33 takes the plain entry, the others the texture one.
            for n in [1, 33, 10_007] {
                let hyper = sgd_hyper(nesterov);
                // The look-ahead's own hyper-parameters, different in every field.
                let look = SgdHyper {
                    lr: 0.03,
                    momentum: 0.5,
                    weight_decay: 1e-3,
                    nesterov: !nesterov,
                };
                let mut rng = Pcg::new(n as u64, 11);
                let vector = |data: &[f32], what| sgd_vector(gpu, data, what);
                let x0 = rng.vec(n, -1.0, 1.0);
                let (g1, g2) = (vector(&x0, "g1"), vector(&x0, "g2"));
                let [x, buf, y, xs, bufs, ys] =
                    ["x", "buf", "y", "x sep", "buf sep", "y sep"].map(|w| vector(&x0, w));
                let fused = SgdStep::prepare_with_lookahead(
                    gpu,
                    [g1.view(), g2.view()],
                    x.view(),
                    buf.view(),
                    y.view(),
                )
                .unwrap();
                let step =
                    SgdStep::prepare(gpu, [g1.view(), g2.view()], xs.view(), bufs.view()).unwrap();
                let ahead =
                    sgd::Lookahead::prepare(gpu, g2.view(), xs.view(), bufs.view(), ys.view())
                        .unwrap();
                for t in 0..4 {
                    gpu.write(&g1, 0, &rng.vec(n, -1.0, 1.0)).unwrap();
                    gpu.write(&g2, 0, &rng.vec(n, -1.0, 1.0)).unwrap();
                    fused.set(gpu, hyper, t == 0, lambda);
                    fused.set_lookahead(gpu, look);
                    step.set(gpu, hyper, t == 0, lambda);
                    ahead.set(gpu, look, false);
                    gpu.run(&[&fused.dispatch, &step.dispatch, &ahead.dispatch])
                        .unwrap();
                    let what = format!("n={n} nesterov={nesterov} lambda={lambda} t={t}");
                    for (name, a, b) in [("x", &x, &xs), ("momentum", &buf, &bufs), ("y", &y, &ys)]
                    {
                        let (a, b) = (bits(gpu.read(a).unwrap()), bits(gpu.read(b).unwrap()));
                        assert_eq!(a, b, "{what}: fused {name} differs");
                    }
                }
            }
        }
    }
}

#[test]
fn im2col_and_col2im() {
    use sampa::kernels::conv::{self, ConvShape, InputLayout};
    for gpu in &gpus() {
        for (n, c, h, w, k, pad) in [
            (2, 3, 5, 7, 3, 1),
            (1, 1, 28, 28, 3, 1),
            (2, 4, 6, 6, 5, 2),
            (1, 2, 4, 4, 3, 0),
        ] {
            let s = ConvShape { n, c, h, w, k, pad };
            let mut rng = Pcg::new((n * c * h * w * k) as u64, 8);
            let x0 = rng.vec(s.input_len(), -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let cols = gpu.zeros::<f32>(s.rows() * s.cols(), "cols").unwrap();
            for layout in [InputLayout::Nchw, InputLayout::PixelMajor] {
                let d = conv::prepare_im2col(gpu, s, layout, x.view(), cols.view()).unwrap();
                gpu.run(&[&d]).unwrap();
                let want = conv::reference_im2col(s, layout, &x0);
                assert_close(
                    &format!("im2col {s:?} {layout:?}"),
                    &gpu.read(&cols).unwrap(),
                    &want,
                    0.0,
                    0.0,
                );
            }
            let dcols0 = rng.vec(s.rows() * s.cols(), -1.0, 1.0);
            let dcols = gpu.upload(&dcols0, "dcols").unwrap();
            let dx = gpu.zeros::<f32>(s.input_len(), "dx").unwrap();
            let d = conv::prepare_col2im(gpu, s, dcols.view(), dx.view()).unwrap();
            gpu.run(&[&d]).unwrap();
            let want = conv::reference_col2im(s, &dcols0);
            assert_close(
                &format!("col2im {s:?}"),
                &gpu.read(&dx).unwrap(),
                &want,
                1e-6,
                1e-6,
            );
        }
    }
}

#[test]
fn maxpool_forward_backward() {
    use sampa::kernels::maxpool::{self, PoolShape};
    let mut saw_empty_window = false;
    for gpu in &gpus() {
        for (n, h, w, c) in [(1, 2, 2, 1), (2, 5, 7, 3), (3, 28, 28, 32), (2, 14, 14, 64)] {
            let s = PoolShape { n, h, w, c };
            let mut rng = Pcg::new((n * h * w * c) as u64, 9);
            // Coarse values make ties common, which must go to the first position.
            let x0: Vec<f32> = (0..s.input_len()).map(|_| rng.below(5) as f32).collect();
            let y = gpu.zeros::<f32>(s.output_len(), "y").unwrap();
            let arg = gpu.zeros::<u32>(s.output_len(), "arg").unwrap();
            let dy0 = rng.vec(s.output_len(), -1.0, 1.0);
            let dy = gpu.upload(&dy0, "dy").unwrap();
            for relu in [false, true] {
                // With relu, shift the values so that some windows are all ≤ 0.
                let xs: Vec<f32> = x0.iter().map(|v| if relu { v - 2.0 } else { *v }).collect();
                let x = gpu.upload(&xs, "x").unwrap();
                let dx = gpu.upload(&vec![9.0f32; s.input_len()], "dx").unwrap();
                let f =
                    maxpool::prepare_forward(gpu, s, relu, x.view(), y.view(), arg.view()).unwrap();
                let b =
                    maxpool::prepare_backward(gpu, s, dy.view(), dx.view(), arg.view()).unwrap();
                gpu.run(&[&f, &b]).unwrap();
                let (want_y, want_arg) = maxpool::reference_forward(s, relu, &xs);
                let what = format!("pool {s:?} relu={relu}");
                assert_close(
                    &format!("{what} fwd"),
                    &gpu.read(&y).unwrap(),
                    &want_y,
                    0.0,
                    0.0,
                );
                assert_eq!(gpu.read(&arg).unwrap(), want_arg, "{what} winners");
                saw_empty_window |= relu && want_arg.contains(&4);
                let want = maxpool::reference_backward(s, &dy0, &want_arg);
                assert_close(
                    &format!("{what} bwd"),
                    &gpu.read(&dx).unwrap(),
                    &want,
                    0.0,
                    0.0,
                );
            }
        }
    }
    assert!(
        saw_empty_window,
        "the fused ReLU case must meet windows that are all ≤ 0"
    );
}

#[test]
fn batched_transpose() {
    use sampa::kernels::transpose;
    for gpu in &gpus() {
        for (b, r, c) in [(1, 1, 1), (3, 49, 64), (2, 7, 5)] {
            let x0 = Pcg::new(4, 4).vec(b * r * c, -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let y = gpu.zeros::<f32>(b * r * c, "y").unwrap();
            gpu.run(&[&transpose::prepare(gpu, b, r, c, x.view(), y.view()).unwrap()])
                .unwrap();
            assert_close(
                &format!("transpose {b}x{r}x{c}"),
                &gpu.read(&y).unwrap(),
                &transpose::reference(b, r, c, &x0),
                0.0,
                0.0,
            );
        }
    }
}

#[test]
fn matmul_longer_than_a_texture_row_runs_in_chunks() {
    // The register variant stages k/4 texels per row; past the device's texture width the
    // product is split into accumulated chunks of k.
    for gpu in &gpus() {
        let k = 4 * gpu.limits.max_texture_dimension_2d as usize + 37;
        for form in [Form::AtB, Form::AB, Form::ABt] {
            let dims = Dims { m: 5, n: 6, k };
            let mut rng = Pcg::new(k as u64, 10);
            let a0 = rng.vec(5 * k, -1.0, 1.0);
            let b0 = rng.vec(6 * k, -1.0, 1.0);
            let a = gpu.upload(&a0, "A").unwrap();
            let b = gpu.upload(&b0, "B").unwrap();
            let c = gpu.zeros::<f32>(30, "C").unwrap();
            let d = matmul::prepare_variant(
                gpu,
                Variant::Register,
                form,
                dims,
                a.view(),
                b.view(),
                c.view(),
                false,
            )
            .unwrap();
            assert!(d.launches() > 3, "expected several chunks");
            gpu.run(&[&d]).unwrap();
            let want = matmul::reference(form, dims, &a0, &b0);
            assert_close(
                &format!("{} chunked {form:?} k={k}", gpu.adapter.short()),
                &gpu.read(&c).unwrap(),
                &want,
                1e-6 * (k as f64).sqrt() * 10.0,
                0.0,
            );
        }
    }
}

#[test]
fn perturbation_reads_the_norm_from_the_device() {
    use sampa::kernels::perturb::{self, Perturbation};
    let f64s = |v: &[f32]| v.iter().map(|&v| v as f64).collect::<Vec<_>>();
    for gpu in &gpus() {
        for n in [1, 7, 33, 1000, 70_001] {
            let mut rng = Pcg::new(n as u64, 11);
            // Views start at element 4 and have elements after them that must not count.
            let x0 = rng.vec(n + 6, -1.0, 1.0);
            let d0 = rng.vec(n + 5, -1.0, 1.0);
            let (xs, ds) = (&x0[4..4 + n], &d0[4..4 + n]);
            let x = gpu.upload(&x0, "x").unwrap();
            let xw = gpu.upload(xs, "weights").unwrap();
            let d = gpu.upload(&d0, "d").unwrap();
            let norms = gpu.zeros::<f32>(3, "norms").unwrap();
            let y = gpu.zeros::<f32>(n, "y").unwrap();
            let dv = d.slice(4, n).unwrap();
            let slot = norms.slice(2, 1).unwrap();
            let plain = norm::prepare(gpu, dv, slot).unwrap();
            let weighted = norm::prepare_weighted(gpu, xw.view(), dv, slot).unwrap();
            gpu.run(&[&weighted]).unwrap();
            let got = gpu.read(&norms).unwrap()[2] as f64;
            let want = norm::reference_weighted(xs, ds);
            assert!(
                (got - want).abs() <= 1e-5 * want,
                "weighted sumsq n={n}: {got} vs {want}"
            );
            for (normalized, adaptive) in [(true, false), (false, false), (true, true)] {
                let how = Perturbation {
                    rho: 0.05,
                    normalized,
                    adaptive,
                };
                let misaligned =
                    perturb::prepare(gpu, how, x.slice(2, n).unwrap(), dv, slot, y.view());
                assert!(misaligned.is_err(), "vectors must start at multiples of 4");
                let p =
                    perturb::prepare(gpu, how, x.slice(4, n).unwrap(), dv, slot, y.view()).unwrap();
                let sq = if adaptive { &weighted } else { &plain };
                gpu.run(&[sq, &p]).unwrap();
                let want = perturb::reference(how, &f64s(xs), &f64s(ds));
                assert_close(
                    &format!("perturb n={n} {how:?}"),
                    &gpu.read(&y).unwrap(),
                    &want,
                    1e-7,
                    1e-5,
                );
            }
        }
        // A zero direction leaves x in place instead of dividing by zero.
        let x = gpu.upload(&[1.0f32, 2.0], "x").unwrap();
        let d = gpu.zeros::<f32>(2, "d").unwrap();
        let norms = gpu.zeros::<f32>(1, "norms").unwrap();
        let y = gpu.zeros::<f32>(2, "y").unwrap();
        let how = Perturbation {
            rho: 0.1,
            normalized: true,
            adaptive: false,
        };
        let p = perturb::prepare(gpu, how, x.view(), d.view(), norms.view(), y.view()).unwrap();
        gpu.run(&[&p]).unwrap();
        assert_eq!(gpu.read(&y).unwrap(), vec![1.0, 2.0]);
    }
}

#[test]
fn norm_and_perturbation_through_textures_equal_the_buffer_path_bit_for_bit() {
    use sampa::kernels::perturb::{self, Perturbation};
    for gpu in &gpus() {
        for n in [3, 1000, 70_001, 269_322] {
            let mut rng = Pcg::new(n as u64, 12);
            let (x0, d0) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
            // Whole texture rows: the texture path. The same values in plain buffers one
            // element longer than n (so never whole rows): the buffer path.
            let rows = |v: &[f32], what| {
                let b = gpu.zeros_rows(n, what).unwrap();
                gpu.write(&b, 0, v).unwrap();
                b
            };
            let plain = |v: &[f32], what| {
                let mut w = v.to_vec();
                w.push(0.0);
                gpu.upload(&w, what).unwrap()
            };
            let (xr, dr, xp, dp) = (
                rows(&x0, "x"),
                rows(&d0, "d"),
                plain(&x0, "x"),
                plain(&d0, "d"),
            );
            let norms = gpu.zeros::<f32>(2, "norms").unwrap();
            let (yr, yp) = (
                gpu.zeros_rows(n, "y").unwrap(),
                gpu.zeros::<f32>(n, "y").unwrap(),
            );
            let how = Perturbation {
                rho: 0.05,
                normalized: true,
                adaptive: false,
            };
            let tex_norm = norm::prepare(gpu, dr.view(), norms.slice(0, 1).unwrap()).unwrap();
            let buf_norm =
                norm::prepare(gpu, dp.slice(0, n).unwrap(), norms.slice(1, 1).unwrap()).unwrap();
            assert_eq!(
                tex_norm.launches(),
                3,
                "n={n}: the texture path copies first"
            );
            assert_eq!(
                buf_norm.launches(),
                2,
                "n={n}: the buffer path reads directly"
            );
            let tex = perturb::prepare(
                gpu,
                how,
                xr.view(),
                dr.view(),
                norms.slice(0, 1).unwrap(),
                yr.view(),
            )
            .unwrap();
            let buf = perturb::prepare(
                gpu,
                how,
                xp.slice(0, n).unwrap(),
                dp.slice(0, n).unwrap(),
                norms.slice(1, 1).unwrap(),
                yp.view(),
            )
            .unwrap();
            assert_eq!(tex.launches(), 3, "n={n}: two copies and the kernel");
            gpu.run(&[&tex_norm, &buf_norm, &tex, &buf]).unwrap();
            let nq = gpu.read(&norms).unwrap();
            assert_eq!(nq[0].to_bits(), nq[1].to_bits(), "n={n}: norms differ");
            assert_close(
                &format!("sumsq n={n}"),
                &nq[..1],
                &[norm::reference(&d0)],
                0.0,
                1e-5,
            );
            let (a, b) = (gpu.read(&yr).unwrap(), gpu.read(&yp).unwrap());
            assert!(a == b, "n={n}: perturbed points differ");
            // The whole perturbation in one call shares the copy of d with the norm (two
            // copies, two norm stages, the kernel) and gives the same bits.
            let yw = gpu.zeros_rows(n, "y").unwrap();
            let slot = gpu.zeros::<f32>(1, "norm").unwrap();
            let whole =
                perturb::prepare_with_norm(gpu, how, xr.view(), dr.view(), slot.view(), yw.view())
                    .unwrap();
            assert_eq!(whole.launches(), 5, "n={n}: d is copied once");
            gpu.run(&[&whole]).unwrap();
            assert_eq!(gpu.read(&slot).unwrap()[0].to_bits(), nq[0].to_bits());
            assert!(
                gpu.read(&yw).unwrap() == a,
                "n={n}: the one-call perturbation differs"
            );
        }
    }
}

//! BatchNorm's kernels against the f64 reference on every adapter, and the reference's
//! backward against finite differences of its forward. Tolerances: the statistics are f32
//! sums of up to a few thousand terms (relative error ~1e-6); dx is a difference of such sums,
//! so it gets an absolute tolerance scaled to dy's size.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::batchnorm::{self, BnIo, BnShape, Rows, Window};
use crate::rng::Pcg;

/// x with a per-channel offset (the two-pass variance must not lose it), γβ, dy.
fn operands(s: BnShape, seed: u64) -> (Vec<f32>, Vec<f32>, Vec<f32>) {
    let mut rng = Pcg::new(seed, 17);
    let x = (0..s.m * s.c)
        .map(|i| rng.uniform(-1.0, 1.0) + (i % s.c) as f32 * 0.75)
        .collect();
    let mut gb = rng.vec(s.c, 0.5, 1.5);
    gb.extend(rng.vec(s.c, -0.5, 0.5));
    (x, gb, rng.vec(s.m * s.c, -1.0, 1.0))
}

#[test]
fn batchnorm_matches_reference() {
    use batchnorm::Reduce;
    for gpu in &gpus() {
        // 40000 rows make 313 chunks: more than a tree workgroup's 256 invocations.
        for (m, c) in [(2, 4), (37, 8), (300, 16), (2 * 8 * 8 * 4, 12), (40000, 8)] {
            let s = BnShape { m, c };
            let forms = [
                (false, false, Reduce::Serial),
                (true, false, Reduce::Serial),
                (false, true, Reduce::Serial),
                (true, false, Reduce::Tree),
                (false, true, Reduce::Tree),
            ];
            for (relu, masked, reduce) in forms {
                let (x0, gb0, dy0) = operands(s, (m * c) as u64);
                // Parameters at an odd offset inside a larger vector, as in a model.
                let mut prm = vec![0.0f32; 3];
                prm.extend(&gb0);
                let x = gpu.upload(&x0, "x").unwrap();
                let y = gpu.zeros::<f32>(m * c, "y").unwrap();
                let part = gpu.zeros::<f32>(s.part_len(), "part").unwrap();
                let stats = gpu.zeros::<f32>(s.stats_len(), "stats").unwrap();
                let params = gpu.upload(&prm, "params").unwrap();
                let grads = gpu.zeros::<f32>(prm.len(), "grads").unwrap();
                let dy = gpu.upload(&dy0, "dy").unwrap();
                let dx = gpu.zeros::<f32>(m * c, "dx").unwrap();
                let io = |out| BnIo {
                    x: x.view(),
                    y: out,
                    part: part.view(),
                    stats: stats.view(),
                    gamma_beta: params.slice(3, 2 * c).unwrap(),
                    rows: Rows::default(),
                };
                let f =
                    batchnorm::prepare_forward_with(gpu, reduce, s, relu, io(y.view())).unwrap();
                // A mask with about half its entries ≤ 0, as a ReLU's output has.
                let mask0: Vec<f32> = dy0.iter().map(|v| v * 3.0 + 0.1).collect();
                let mask_buf = gpu.upload(&mask0, "mask").unwrap();
                let mask = if relu {
                    Some(y.view())
                } else {
                    masked.then(|| mask_buf.view())
                };
                let g = grads.slice(3, 2 * c).unwrap();
                let dy_mask = (dy.view(), mask);
                let b = batchnorm::prepare_backward_with(gpu, reduce, s, io(dx.view()), dy_mask, g)
                    .unwrap();
                gpu.run(&[&f, &b]).unwrap();
                let what = format!("bn m={m} c={c} relu={relu} mask={masked} {reduce:?}");
                // The same launches again give the same bits (the sums' order is fixed).
                let first = (gpu.read(&stats).unwrap(), gpu.read(&dx).unwrap());
                gpu.run(&[&f, &b]).unwrap();
                let again = (gpu.read(&stats).unwrap(), gpu.read(&dx).unwrap());
                assert!(first == again, "{what}: a second run differs");
                let (want_y, mean, var) = batchnorm::reference_forward(s, &x0, &gb0, relu);
                let y_host = gpu.read(&y).unwrap();
                assert_close(&format!("{what} y"), &y_host, &want_y, 1e-5, 1e-4);
                let st = gpu.read(&stats).unwrap();
                assert_close(&format!("{what} mean"), &st[..c], &mean, 1e-6, 1e-5);
                assert_close(&format!("{what} var"), &st[2 * c..3 * c], &var, 1e-6, 1e-4);
                let gate: Option<Vec<f32>> = if relu {
                    Some(y_host)
                } else {
                    masked.then(|| mask0.clone())
                };
                let (want_dx, want_g) =
                    batchnorm::reference_backward(s, &x0, &gb0, &dy0, gate.as_deref());
                let got_g = gpu.read(&grads).unwrap();
                assert_eq!(&got_g[..3], &[0.0; 3], "{what}: grads outside the tensor");
                let tol = 1e-5 * m as f64;
                assert_close(&format!("{what} dγdβ"), &got_g[3..], &want_g, tol, 1e-4);
                let got_dx = gpu.read(&dx).unwrap();
                assert_close(&format!("{what} dx"), &got_dx, &want_dx, 1e-4, 1e-3);
            }
        }
    }
}

#[test]
fn batchnorm_eval_and_replicas() {
    for gpu in &gpus() {
        let s = BnShape { m: 150, c: 8 };
        let (x0, gb0, _) = operands(s, 5);
        let mut rng = Pcg::new(2, 2);
        let mut running = rng.vec(s.c, -1.0, 1.0);
        running.extend(rng.vec(s.c, 0.2, 2.0));
        running.push(7.0);
        // Two replicas: the second's x and γβ differ (x doubled, γβ reversed).
        let x1: Vec<f32> = x0.iter().map(|v| 2.0 * v).collect();
        let gb1: Vec<f32> = gb0.iter().rev().copied().collect();
        let xs = gpu.upload(&[x0.clone(), x1.clone()].concat(), "x").unwrap();
        let ys = gpu.zeros::<f32>(2 * s.m * s.c, "y").unwrap();
        let part = gpu.zeros::<f32>(2 * s.part_len(), "part").unwrap();
        let stats = gpu.zeros::<f32>(2 * s.stats_len(), "stats").unwrap();
        let params = gpu
            .upload(&[gb0.clone(), gb1.clone()].concat(), "γβ")
            .unwrap();
        let io = BnIo {
            x: xs.replicas(2),
            y: ys.replicas(2),
            part: part.replicas(2),
            stats: stats.replicas(2),
            gamma_beta: params
                .slice(0, 2 * s.c)
                .unwrap()
                .repeated(2, 2 * s.c)
                .unwrap(),
            rows: Rows::default(),
        };
        let f = batchnorm::prepare_forward(gpu, s, true, io).unwrap();
        gpu.run(&[&f]).unwrap();
        let y = gpu.read(&ys).unwrap();
        let n = s.m * s.c;
        for (r, (x, gb)) in [(&x0, &gb0), (&x1, &gb1)].into_iter().enumerate() {
            let (want, _, _) = batchnorm::reference_forward(s, x, gb, true);
            let got = &y[r * n..(r + 1) * n];
            assert_close(&format!("bn replica {r}"), got, &want, 1e-5, 1e-4);
        }
        // Evaluation: the running statistics, not the batch's.
        let eval = gpu
            .upload(&batchnorm::eval_stats(&running, s.c), "eval stats")
            .unwrap();
        let y1 = gpu.zeros::<f32>(n, "y").unwrap();
        let io = BnIo {
            x: xs.slice(0, n).unwrap(),
            y: y1.view(),
            part: part.view(),
            stats: eval.view(),
            gamma_beta: params.slice(0, 2 * s.c).unwrap(),
            rows: Rows::default(),
        };
        gpu.run(&[&batchnorm::prepare_apply(gpu, s, false, io).unwrap()])
            .unwrap();
        let want = batchnorm::reference_eval(s, &x0, &gb0, &running, false);
        assert_close("bn eval", &gpu.read(&y1).unwrap(), &want, 1e-5, 1e-5);
    }
}

/// A BatchNorm over a window of wider rows (a dense block's bottleneck): x is channels
/// 8..20 of rows of 24, the output compact, and the backward adds dx into channels 4..16 of
/// rows of 20 that already hold values, leaving the other channels alone.
#[test]
fn batchnorm_windows() {
    let s = BnShape { m: 300, c: 12 };
    let (xw, xo, yw, yo) = (24, 8, 20, 4);
    let (x0, gb0, dy0) = operands(s, 9);
    let mut rng = Pcg::new(4, 4);
    let wide = rng.vec(s.m * xw, -3.0, 3.0);
    let mut wide_x = wide.clone();
    let before = rng.vec(s.m * yw, -1.0, 1.0);
    for r in 0..s.m {
        wide_x[r * xw + xo..r * xw + xo + s.c].copy_from_slice(&x0[r * s.c..(r + 1) * s.c]);
    }
    for gpu in &gpus() {
        let x = gpu.upload(&wide_x, "x").unwrap();
        let y = gpu.zeros::<f32>(s.m * s.c, "y").unwrap();
        let dx = gpu.upload(&before, "dx").unwrap();
        let part = gpu.zeros::<f32>(s.part_len(), "part").unwrap();
        let stats = gpu.zeros::<f32>(s.stats_len(), "stats").unwrap();
        let params = gpu.upload(&gb0, "γβ").unwrap();
        let grads = gpu.zeros::<f32>(gb0.len(), "grads").unwrap();
        let dy = gpu.upload(&dy0, "dy").unwrap();
        let x_window = Some(Window {
            width: xw,
            first: xo,
        });
        let io = BnIo {
            x: x.view(),
            y: y.view(),
            part: part.view(),
            stats: stats.view(),
            gamma_beta: params.view(),
            rows: Rows {
                x: x_window,
                ..Rows::default()
            },
        };
        let f = batchnorm::prepare_forward(gpu, s, true, io).unwrap();
        let back = BnIo {
            y: dx.view(),
            rows: Rows {
                x: x_window,
                y: Some(Window {
                    width: yw,
                    first: yo,
                }),
                accumulate: true,
            },
            ..io
        };
        let b =
            batchnorm::prepare_backward(gpu, s, back, (dy.view(), Some(y.view())), grads.view())
                .unwrap();
        gpu.run(&[&f, &b]).unwrap();
        let y_host = gpu.read(&y).unwrap();
        let (want_y, ..) = batchnorm::reference_forward(s, &x0, &gb0, true);
        assert_close("windowed bn y", &y_host, &want_y, 1e-5, 1e-4);
        let (want_dx, want_g) = batchnorm::reference_backward(s, &x0, &gb0, &dy0, Some(&y_host));
        let mut want = before.iter().map(|&v| v as f64).collect::<Vec<f64>>();
        for r in 0..s.m {
            for c in 0..s.c {
                want[r * yw + yo + c] += want_dx[r * s.c + c];
            }
        }
        assert_close("windowed bn dx", &gpu.read(&dx).unwrap(), &want, 1e-4, 1e-3);
        let g = gpu.read(&grads).unwrap();
        assert_close("windowed bn dγdβ", &g, &want_g, 1e-5 * s.m as f64, 1e-4);
    }
    // A window that does not hold the channels is an error, not a fault.
    let gpu = &gpus()[0];
    let buf = gpu.zeros::<f32>(s.m * xw, "x").unwrap();
    let io = BnIo {
        x: buf.view(),
        y: buf.view(),
        part: buf.view(),
        stats: buf.view(),
        gamma_beta: buf.view(),
        rows: Rows {
            x: Some(Window {
                width: xw,
                first: 16,
            }),
            ..Rows::default()
        },
    };
    let err = batchnorm::prepare_forward(gpu, s, false, io).expect_err("bad window");
    assert!(err.to_string().contains("do not lie in rows"), "{err}");
}

/// The reference backward is the gradient of Σ dy·y(x, γ, β), by central differences in f64.
#[test]
fn batchnorm_reference_is_the_gradient() {
    let s = BnShape { m: 6, c: 4 };
    let (x, gb, dy) = operands(s, 11);
    let to64 = |v: &[f32]| v.iter().map(|&a| a as f64).collect::<Vec<f64>>();
    let (x, gb, dy) = (to64(&x), to64(&gb), to64(&dy));
    let mask: Vec<f64> = dy.iter().map(|v| v + 0.3).collect();
    for gate in [None, Some(&mask[..])] {
        let loss = |x: &[f64], gb: &[f64]| -> f64 {
            let (y, _, _) = batchnorm::reference_forward(s, x, gb, false);
            // A fixed mask gates dy as a ReLU downstream would.
            y.iter()
                .zip(&dy)
                .enumerate()
                .map(|(i, (y, d))| {
                    if gate.is_some_and(|m| m[i] <= 0.0) {
                        0.0
                    } else {
                        y * d
                    }
                })
                .sum()
        };
        let (dx, dgb) = batchnorm::reference_backward(s, &x, &gb, &dy, gate);
        let h = 1e-6;
        for i in 0..x.len() {
            let (mut a, mut b) = (x.clone(), x.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (loss(&a, &gb) - loss(&b, &gb)) / (2.0 * h);
            assert!((fd - dx[i]).abs() < 1e-6, "dx[{i}]: fd {fd} vs {}", dx[i]);
        }
        for i in 0..gb.len() {
            let (mut a, mut b) = (gb.clone(), gb.clone());
            a[i] += h;
            b[i] -= h;
            let fd = (loss(&x, &a) - loss(&x, &b)) / (2.0 * h);
            assert!(
                (fd - dgb[i]).abs() < 1e-6,
                "dγβ[{i}]: fd {fd} vs {}",
                dgb[i]
            );
        }
    }
}

/// The running statistics follow PyTorch: momentum 0.1 and the unbiased variance.
#[test]
fn running_update_is_pytorchs() {
    let mut running = vec![0.0, 0.0, 1.0, 1.0, 0.0];
    batchnorm::running_update(&mut running, (&[2.0, -1.0], &[0.5, 4.0]), 5);
    let want = [
        0.2,
        -0.1,
        0.9 + 0.1 * 0.5 * 1.25,
        0.9 + 0.1 * 4.0 * 1.25,
        1.0,
    ];
    for (g, w) in running.iter().zip(want) {
        assert!((g - w).abs() < 1e-6, "{running:?} vs {want:?}");
    }
}

//! LayerNorm against its f64 reference on every adapter, and the reference's backward against
//! finite differences of its forward. Tolerances: f32 sums over a row of C terms carry errors of
//! order C·2^-24 relative to the row's scale; dγ and dβ add `rows` such terms.

use super::{LnIo, LnShape, reference_backward, reference_forward};
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::layernorm;
use crate::rng::Pcg;

/// x, γβ and dy.
type Inputs = (Vec<f32>, Vec<f32>, Vec<f32>);

/// Rows offset from zero by `shift`, so a one-pass variance would lose digits.
fn inputs(s: LnShape, seed: u64, shift: f32) -> Inputs {
    let mut rng = Pcg::new(seed, 6);
    let x = rng.vec(s.rows * s.c, -2.0 + shift, 2.0 + shift);
    let mut gb = rng.vec(s.c, 0.5, 1.5);
    gb.extend(rng.vec(s.c, -0.5, 0.5));
    let dy = rng.vec(s.rows * s.c, -1.0, 1.0);
    (x, gb, dy)
}

#[test]
fn layernorm_forward_backward() {
    // (rows, C, replicas, accumulate): C below, at and past the 64-wide workgroup, not a
    // multiple of 4; rows past one 64-row chunk of the parameter sums.
    let cases = [
        (1, 1, 1, false),
        (3, 5, 1, false),
        (70, 33, 2, true),
        (130, 192, 1, false),
        (17, 768, 2, false),
    ];
    for gpu in &gpus() {
        for (rows, c, reps, accumulate) in cases {
            let s = LnShape { rows, c, eps: 1e-6 };
            let n = rows * c;
            // Replica k's data is the seed's data for seed + k; γβ sit at offset 3 of the
            // parameter vector.
            let data: Vec<_> = (0..reps).map(|k| inputs(s, (n + k) as u64, 10.0)).collect();
            let cat =
                |f: &dyn Fn(&Inputs) -> Vec<f32>| data.iter().flat_map(f).collect::<Vec<f32>>();
            let prm_len = 2 * c + 7;
            let params = cat(&|d| [vec![0.0; 3], d.1.clone(), vec![0.0; 4]].concat());
            let prefill: Vec<f32> = (0..reps * n).map(|i| (i % 7) as f32 * 0.25).collect();
            let x = gpu.upload(&cat(&|d| d.0.clone()), "x").unwrap();
            let y = gpu.zeros::<f32>(reps * n, "y").unwrap();
            let dx = gpu.upload(&prefill, "dx").unwrap();
            let dy = gpu.upload(&cat(&|d| d.2.clone()), "dy").unwrap();
            let stats = gpu.zeros::<f32>(reps * s.stats_len(), "stats").unwrap();
            let part = gpu.zeros::<f32>(reps * s.part_len(), "part").unwrap();
            let prm = gpu.upload(&params, "params").unwrap();
            let grads = gpu.zeros::<f32>(reps * prm_len, "grads").unwrap();
            let at3 = |b| {
                crate::gpu::GpuBuf::slice(b, 3, 2 * c)
                    .unwrap()
                    .repeated(reps, prm_len)
                    .unwrap()
            };
            let io = LnIo {
                x: x.replicas(reps),
                y: y.replicas(reps),
                stats: stats.replicas(reps),
                gamma_beta: at3(&prm),
            };
            let f = layernorm::prepare_forward(gpu, s, io).unwrap();
            let bio = LnIo {
                y: dx.replicas(reps),
                ..io
            };
            let b = layernorm::prepare_backward(
                gpu,
                s,
                bio,
                (dy.replicas(reps), part.replicas(reps)),
                at3(&grads),
                accumulate,
            )
            .unwrap();
            gpu.run(&[&f, &b]).unwrap();
            let (y, dx, grads) = (
                gpu.read(&y).unwrap(),
                gpu.read(&dx).unwrap(),
                gpu.read(&grads).unwrap(),
            );
            for (k, d) in data.iter().enumerate() {
                let what = format!("{} rows={rows} C={c} replica {k}", gpu.adapter.short());
                let want_y = reference_forward(s, &d.0, &d.1);
                assert_close(
                    &format!("ln fwd {what}"),
                    &y[k * n..][..n],
                    &want_y,
                    2e-6,
                    1e-6,
                );
                let (mut want_dx, want_g) = reference_backward(s, &d.0, &d.1, &d.2);
                if accumulate {
                    for (w, p) in want_dx.iter_mut().zip(&prefill[k * n..]) {
                        *w += *p as f64;
                    }
                }
                assert_close(
                    &format!("ln dx {what}"),
                    &dx[k * n..][..n],
                    &want_dx,
                    2e-5,
                    1e-5,
                );
                let got_g = &grads[k * prm_len + 3..][..2 * c];
                assert_close(&format!("ln dγdβ {what}"), got_g, &want_g, 2e-5, 1e-5);
            }
        }
    }
}

#[test]
fn reference_backward_matches_finite_differences() {
    let s = LnShape {
        rows: 3,
        c: 6,
        eps: 1e-6,
    };
    let (x, gb, dy) = inputs(s, 9, 1.0);
    let x: Vec<f64> = x.iter().map(|&v| v as f64).collect();
    let gb: Vec<f64> = gb.iter().map(|&v| v as f64).collect();
    let dy: Vec<f64> = dy.iter().map(|&v| v as f64).collect();
    // L = Σ dy · y, so dL/dx = dx and dL/dγβ = dγdβ.
    let loss = |x: &[f64], gb: &[f64]| -> f64 {
        let y = reference_forward(s, x, gb);
        y.iter().zip(&dy).map(|(a, b)| a * b).sum()
    };
    let (dx, dgb) = reference_backward(s, &x, &gb, &dy);
    let h = 1e-6;
    for i in 0..x.len() {
        let (mut up, mut down) = (x.clone(), x.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (loss(&up, &gb) - loss(&down, &gb)) / (2.0 * h);
        assert!((fd - dx[i]).abs() < 1e-7, "dx[{i}]: {} vs {fd}", dx[i]);
    }
    for i in 0..gb.len() {
        let (mut up, mut down) = (gb.clone(), gb.clone());
        up[i] += h;
        down[i] -= h;
        let fd = (loss(&x, &up) - loss(&x, &down)) / (2.0 * h);
        assert!((fd - dgb[i]).abs() < 1e-7, "dγdβ[{i}]: {} vs {fd}", dgb[i]);
    }
}

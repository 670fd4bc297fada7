//! The Adam and AdamW step and look-ahead on every adapter against the f64 reference over
//! several steps (with and without weight decay's mask), and the step's partial sums of ‖x‖²
//! against the norm kernel bit for bit.

use super::*;
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::decay::random_mask;
use crate::rng::Pcg;

fn adam_hyper(decoupled: bool) -> AdamHyper {
    AdamHyper {
        lr: 0.01,
        betas: [0.9, 0.999],
        eps: 1e-8,
        weight_decay: if decoupled { 0.05 } else { 5e-3 },
        decoupled,
    }
}

fn f64s(v: &[f32]) -> Vec<f64> {
    v.iter().map(|&a| a as f64).collect()
}

#[test]
fn adam_and_adamw_match_pytorch_semantics_over_steps() {
    for gpu in &gpus() {
        let cases = [
            (false, 0.0, false, false),
            (false, 0.0, false, true),
            (true, 0.0, true, false),
            (true, 0.2, false, true),
        ];
        for (decoupled, lambda, bare, masked) in cases {
            for n in [1, 33, 10_007] {
                let mut rng = Pcg::new(n as u64, 17);
                // With a mask, a decay large enough that an element decayed by mistake (or
                // spared by mistake) is off by far more than the tolerance.
                let (hyper, mask) = match masked {
                    true => (
                        AdamHyper {
                            weight_decay: 0.5,
                            ..adam_hyper(decoupled)
                        },
                        Some(random_mask(n, &mut rng)),
                    ),
                    false => (adam_hyper(decoupled), None),
                };
                let on_gpu = mask.as_ref().map(|m| m.upload(gpu).unwrap());
                let decay = on_gpu.as_ref();
                let x0 = rng.vec(n, -1.0, 1.0);
                let vector = |data: &[f32], what| {
                    let b = gpu.zeros_rows(n, what).unwrap();
                    gpu.write(&b, 0, data).unwrap();
                    b
                };
                let x = vector(&x0, "x");
                let g1 = vector(&vec![0.0; n], "g1");
                // With λ = 0 the second gradient must not be read by the step: NaN would show.
                let g2 = vector(&vec![f32::NAN; n], "g2");
                let [m, v, y] = ["m", "v", "y"].map(|w| vector(&vec![0.0; n], w));
                let at = (x.view(), [m.view(), v.view()]);
                let step = AdamStep::prepare(gpu, [g1.view(), g2.view()], at, decay).unwrap();
                let ahead = AdamLookahead::prepare(gpu, g1.view(), at, decay, y.view()).unwrap();
                let (mut xr, mut mr, mut vr) = (f64s(&x0), vec![0.0; n], vec![0.0; n]);
                for t in 1..=5 {
                    let (a, b) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
                    gpu.write(&g1, 0, &a).unwrap();
                    if lambda != 0.0 {
                        gpu.write(&g2, 0, &b).unwrap();
                    }
                    step.set(gpu, hyper, t, lambda);
                    ahead.set(gpu, hyper, t, bare);
                    gpu.run(&[&ahead.dispatch, &step.dispatch]).unwrap();
                    let l = lambda as f64;
                    let g: Vec<f64> = match lambda {
                        0.0 => f64s(&a),
                        _ => a
                            .iter()
                            .zip(&b)
                            .map(|(&a, &b)| (1.0 - l) * a as f64 + l * b as f64)
                            .collect(),
                    };
                    let ga = f64s(&a);
                    let want_look = match bare {
                        true => xr
                            .iter()
                            .zip(&ga)
                            .map(|(x, g)| x - hyper.lr as f64 * g)
                            .collect(),
                        false => {
                            reference_lookahead(hyper, t, &ga, (&xr, [&mr, &vr]), mask.as_ref())
                        }
                    };
                    let what = format!(
                        "{} n={n} decoupled={decoupled} masked={masked} t={t}",
                        gpu.adapter.short()
                    );
                    assert_close(
                        &format!("{what} y"),
                        &gpu.read(&y).unwrap(),
                        &want_look,
                        1e-6,
                        1e-5,
                    );
                    let at = (&mut xr[..], [&mut mr[..], &mut vr[..]]);
                    reference_step(hyper, t, &g, at, mask.as_ref());
                    assert_close(
                        &format!("{what} x"),
                        &gpu.read(&x).unwrap(),
                        &xr,
                        1e-6,
                        1e-5,
                    );
                    assert_close(
                        &format!("{what} m"),
                        &gpu.read(&m).unwrap(),
                        &mr,
                        1e-7,
                        1e-5,
                    );
                    assert_close(
                        &format!("{what} v"),
                        &gpu.read(&v).unwrap(),
                        &vr,
                        1e-9,
                        1e-5,
                    );
                }
                // Each of Adam's steps moves a coordinate by up to about lr: the run did something.
                let moved = gpu
                    .read(&x)
                    .unwrap()
                    .iter()
                    .zip(&x0)
                    .map(|(a, b)| (a - b).abs())
                    .fold(0.0, f32::max);
                assert!(moved > 1e-3, "n={n}: x moved only {moved}");
            }
        }
    }
}

#[test]
fn the_adam_step_leaves_its_new_norm_bit_for_bit_as_the_norm_kernel_computes_it() {
    for gpu in &gpus() {
        for n in [1, 33, 300_007] {
            let mut rng = Pcg::new(n as u64, 19);
            let [g, x, m, v] = ["g", "x", "m", "v"].map(|w| {
                let b = gpu.zeros_rows(n, w).unwrap();
                let data = match w {
                    "v" => rng.vec(n, 0.0, 1.0),
                    _ => rng.vec(n, -1.0, 1.0),
                };
                gpu.write(&b, 0, &data).unwrap();
                b
            });
            let at = (x.view(), [m.view(), v.view()]);
            let step = AdamStep::prepare(gpu, [g.view(), g.view()], at, None).unwrap();
            step.set(gpu, adam_hyper(true), 3, 0.0);
            let out = gpu.zeros::<f32>(2, "norms").unwrap();
            let groups = norm::partial_groups(gpu, n);
            let watch =
                norm::prepare_final(gpu, step.squares(), groups, out.slice(0, 1).unwrap()).unwrap();
            let kernel = norm::prepare(
                gpu,
                crate::kernels::VectorForm::Storage,
                x.view(),
                out.slice(1, 1).unwrap(),
            )
            .unwrap();
            gpu.run(&[&step.dispatch, &watch, &kernel]).unwrap();
            let [fused, separate] = [0, 1].map(|i| gpu.read(&out).unwrap()[i]);
            assert_eq!(
                fused.to_bits(),
                separate.to_bits(),
                "n={n}: {fused} vs {separate}"
            );
            let want = norm::reference(&gpu.read(&x).unwrap());
            assert_close(&format!("n={n}"), &[fused], &[want], 1e-6, 1e-5);
        }
    }
}

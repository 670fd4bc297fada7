//! The SGD step and look-ahead on every adapter, in both forms: against the f64 reference
//! over several steps (with and without weight decay's mask), the fused step-with-look-ahead
//! against the separate kernels bit for bit, and the storage form against the texture form bit
//! for bit.

use super::*;
use crate::gpu::testing::{assert_close, gpus};
use crate::gpu::{Gpu, GpuBuf};
use crate::kernels::decay::{DecayMask, random_mask};
use crate::rng::Pcg;

/// The SGD tests' hyper-parameters.
fn sgd_hyper(nesterov: bool) -> SgdHyper {
    SgdHyper {
        lr: 0.05,
        momentum: 0.9,
        weight_decay: 5e-4,
        nesterov,
    }
}

/// A vector of the SGD tests holding `data`, in whole 256-float rows (which the texture form
/// needs) except for n = 33, whose plain buffer makes the texture form fall back to storage
/// loads.
fn sgd_vector(gpu: &Gpu, data: &[f32], what: &str) -> GpuBuf<f32> {
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
    for (gpu, form) in gpus().iter().flat_map(|g| VectorForm::ALL.map(|f| (g, f))) {
        let cases = [
            (false, 0.0, false),
            (true, 0.0, true),
            (false, 0.2, true),
            (true, 1.0, false),
        ];
        for (nesterov, lambda, masked) in cases {
            for n in [1, 33, 10_007] {
                let mut rng = Pcg::new(n as u64, 7);
                // With a mask, a decay large enough that an element decayed by mistake (or
                // spared by mistake) is off by far more than the tolerance.
                let (hyper, mask) = match masked {
                    true => (
                        SgdHyper {
                            weight_decay: 0.2,
                            ..sgd_hyper(nesterov)
                        },
                        Some(random_mask(n, &mut rng)),
                    ),
                    false => (sgd_hyper(nesterov), None),
                };
                let on_gpu = mask.as_ref().map(|m| m.upload(gpu).unwrap());
                let x0 = rng.vec(n, -1.0, 1.0);
                let textured = n != 33 && form == VectorForm::Texture;
                let x = sgd_vector(gpu, &x0, "x");
                let g1 = sgd_vector(gpu, &vec![0.0; n], "g1");
                // With λ = 0 the second gradient must not be read at all: NaN would show.
                let g2 = sgd_vector(gpu, &vec![f32::NAN; n], "g2");
                let buf = sgd_vector(gpu, &vec![123.0f32; n], "momentum");
                let grads = [g1.view(), g2.view()];
                let decay = on_gpu.as_ref();
                let step = SgdStep::prepare(gpu, form, grads, (x.view(), buf.view()), decay);
                let step = step.unwrap();
                let launches = if textured { 5 } else { 1 };
                assert_eq!(step.dispatch.launches(), launches, "n={n} {form:?}");
                let mut xr: Vec<f64> = x0.iter().map(|&v| v as f64).collect();
                let mut br = vec![0.0f64; n];
                let look = gpu.zeros::<f32>(n, "y").unwrap();
                let at = (x.view(), buf.view(), decay);
                let ahead = Lookahead::prepare(gpu, form, g1.view(), at, look.view()).unwrap();
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
                    let m = mask.as_ref();
                    let want_look = reference_lookahead(hyper, t == 0, &ga, (&xr, &br), m);
                    let what = format!("lookahead {form:?} n={n} nesterov={nesterov} t={t}");
                    assert_close(&what, &gpu.read(&look).unwrap(), &want_look, 1e-6, 1e-5);
                    reference_step(hyper, t == 0, &gr, (&mut xr, &mut br), m);
                }
                let what = format!(
                    "sgd {form:?} n={n} nesterov={nesterov} lambda={lambda} masked={masked}"
                );
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

fn bits(v: Vec<f32>) -> Vec<u32> {
    v.into_iter().map(f32::to_bits).collect()
}

/// The step over gradients `g` that also writes the next look-ahead point into `[x, buf, y]`'s
/// y, and a plain look-ahead from `g[1]` over the same vectors, both with weight decay's mask
/// `decay` if given.
fn fused_and_lookahead(
    gpu: &Gpu,
    form: VectorForm,
    g: [&GpuBuf<f32>; 2],
    [x, buf, y]: [&GpuBuf<f32>; 3],
    decay: Option<&GpuBuf<u32>>,
) -> (SgdStep, Lookahead) {
    let grads = [g[0].view(), g[1].view()];
    let at = (x.view(), buf.view());
    let fused = SgdStep::prepare_with_lookahead(gpu, form, grads, at, decay, y.view()).unwrap();
    let ahead = Lookahead::prepare(gpu, form, g[1].view(), (at.0, at.1, decay), y.view());
    (fused, ahead.unwrap())
}

#[test]
fn fused_step_and_lookahead_equal_the_separate_kernels_bit_for_bit() {
    for (gpu, form) in gpus().iter().flat_map(|g| VectorForm::ALL.map(|f| (g, f))) {
        for (nesterov, lambda) in [(false, 0.0), (true, 0.2), (false, 1.0)] {
            for n in [1, 33, 10_007] {
                let hyper = sgd_hyper(nesterov);
                // λ = 0.2 with weight decay's mask, which the step and both look-aheads read.
                let mask = (lambda == 0.2).then(|| {
                    let m = DecayMask::except(n, (0..n).step_by(3).map(|i| i..i + 1));
                    m.upload(gpu).unwrap()
                });
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
                let (g, decay) = ([&g1, &g2], mask.as_ref());
                let (fused, _) = fused_and_lookahead(gpu, form, g, [&x, &buf, &y], decay);
                let (_, ahead) = fused_and_lookahead(gpu, form, g, [&xs, &bufs, &ys], decay);
                let grads = [g1.view(), g2.view()];
                let step = SgdStep::prepare(gpu, form, grads, (xs.view(), bufs.view()), decay);
                let step = step.unwrap();
                for t in 0..4 {
                    gpu.write(&g1, 0, &rng.vec(n, -1.0, 1.0)).unwrap();
                    gpu.write(&g2, 0, &rng.vec(n, -1.0, 1.0)).unwrap();
                    fused.set(gpu, hyper, t == 0, lambda);
                    fused.set_lookahead(gpu, look);
                    step.set(gpu, hyper, t == 0, lambda);
                    ahead.set(gpu, look, false);
                    gpu.run(&[&fused.dispatch, &step.dispatch, &ahead.dispatch])
                        .unwrap();
                    let what = format!("{form:?} n={n} nesterov={nesterov} lambda={lambda} t={t}");
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
fn the_storage_and_texture_forms_agree_bit_for_bit() {
    for gpu in &gpus() {
        let n = 10_007;
        let mut rng = Pcg::new(5, 3);
        let data: Vec<Vec<f32>> = (0..3).map(|_| rng.vec(n, -1.0, 1.0)).collect();
        // Per form: x, momentum and y after three fused steps.
        let run = |form: VectorForm| {
            let [g1, g2, x, buf, y] = [&data[0], &data[1], &data[2], &data[2], &data[2]]
                .map(|d| sgd_vector(gpu, d, "vector"));
            let mask = DecayMask::except(n, [10..2000, 5000..5001])
                .upload(gpu)
                .unwrap();
            let vectors = [&x, &buf, &y];
            let (step, ahead) = fused_and_lookahead(gpu, form, [&g1, &g2], vectors, Some(&mask));
            for t in 0..3 {
                step.set(gpu, sgd_hyper(t == 1), t == 0, 0.2);
                step.set_lookahead(gpu, sgd_hyper(false));
                ahead.set(gpu, sgd_hyper(true), false);
                let last: &[&Dispatch] = if t == 2 { &[&ahead.dispatch] } else { &[] };
                gpu.run(&[&[&step.dispatch][..], last].concat()).unwrap();
            }
            [x, buf, y].map(|v| bits(gpu.read(&v).unwrap()))
        };
        assert_eq!(
            run(VectorForm::Storage),
            run(VectorForm::Texture),
            "{}: the two forms differ",
            gpu.adapter.short()
        );
    }
}

#[test]
fn the_step_leaves_its_new_norm_bit_for_bit_as_the_norm_kernel_computes_it() {
    for (gpu, form) in gpus().iter().flat_map(|g| VectorForm::ALL.map(|f| (g, f))) {
        // 300_007 elements take several vec4s per invocation of the norm's grid.
        for n in [1, 33, 10_007, 300_007] {
            let mut rng = Pcg::new(n as u64, 13);
            let x0 = rng.vec(n, -2.0, 2.0);
            let [g1, g2, x, buf, y] = ["g1", "g2", "x", "buf", "y"].map(|w| {
                let data = if w == "x" {
                    x0.clone()
                } else {
                    rng.vec(n, -1.0, 1.0)
                };
                sgd_vector(gpu, &data, w)
            });
            let (look, _) = fused_and_lookahead(gpu, form, [&g1, &g2], [&x, &buf, &y], None);
            let grads = [g1.view(), g2.view()];
            let plain = SgdStep::prepare(gpu, form, grads, (x.view(), buf.view()), None).unwrap();
            let out = gpu.zeros::<f32>(2, "norms").unwrap();
            let kernel = crate::kernels::norm::prepare(
                gpu,
                VectorForm::Storage,
                x.view(),
                out.slice(1, 1).unwrap(),
            )
            .unwrap();
            for (name, step) in [("step", &plain), ("step with look-ahead", &look)] {
                step.set(gpu, sgd_hyper(false), false, 0.3);
                step.set_lookahead(gpu, sgd_hyper(true));
                let groups = crate::kernels::norm::partial_groups(gpu, n);
                let watch = crate::kernels::norm::prepare_final(
                    gpu,
                    step.squares(),
                    groups,
                    out.slice(0, 1).unwrap(),
                )
                .unwrap();
                gpu.run(&[&step.dispatch, &watch, &kernel]).unwrap();
                let [fused, separate] = [0, 1].map(|i| gpu.read(&out).unwrap()[i]);
                let what = format!("{} {form:?} n={n} {name}", gpu.adapter.short());
                assert_eq!(
                    fused.to_bits(),
                    separate.to_bits(),
                    "{what}: {fused} vs {separate}"
                );
                let want = crate::kernels::norm::reference(&gpu.read(&x).unwrap());
                assert_close(&what, &[fused], &[want], 1e-6, 1e-5);
            }
        }
    }
}

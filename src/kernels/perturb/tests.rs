//! The perturbation against the f64 reference, reading the norm from the device, and its
//! texture form against its storage form bit for bit. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use super::*;
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::norm;
use crate::rng::Pcg;

#[test]
fn perturbation_reads_the_norm_from_the_device() {
    use crate::kernels::perturb::{self, Perturbation};
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
            let plain = norm::prepare(gpu, VectorForm::Storage, dv, slot).unwrap();
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
                let misaligned = perturb::prepare(
                    gpu,
                    VectorForm::Storage,
                    how,
                    x.slice(2, n).unwrap(),
                    dv,
                    slot,
                    y.view(),
                );
                assert!(misaligned.is_err(), "vectors must start at multiples of 4");
                let p = perturb::prepare(
                    gpu,
                    VectorForm::Storage,
                    how,
                    x.slice(4, n).unwrap(),
                    dv,
                    slot,
                    y.view(),
                )
                .unwrap();
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
    }
}

#[test]
fn a_zero_direction_leaves_x_in_place() {
    use crate::kernels::perturb::{self, Perturbation};
    for gpu in &gpus() {
        // The norm is 0: the eps guard keeps ρ·0/(0 + eps) = 0.
        let x = gpu.upload(&[1.0f32, 2.0], "x").unwrap();
        let d = gpu.zeros::<f32>(2, "d").unwrap();
        let norms = gpu.zeros::<f32>(1, "norms").unwrap();
        let y = gpu.zeros::<f32>(2, "y").unwrap();
        let how = Perturbation {
            rho: 0.1,
            normalized: true,
            adaptive: false,
        };
        let p = perturb::prepare(
            gpu,
            VectorForm::Texture,
            how,
            x.view(),
            d.view(),
            norms.view(),
            y.view(),
        )
        .unwrap();
        gpu.run(&[&p]).unwrap();
        assert_eq!(gpu.read(&y).unwrap(), vec![1.0, 2.0]);
    }
}

/// The squared norm's bits, the perturbed point's bits, and the launches of the separate norm
/// and of the perturbation, with `form`, over whole-row vectors holding `x0` and `d0`; and the
/// point from the perturbation that computes its own norm.
fn perturb_in(
    gpu: &crate::Gpu,
    form: VectorForm,
    x0: &[f32],
    d0: &[f32],
) -> (u32, Vec<u32>, [usize; 2], Vec<u32>) {
    use crate::kernels::perturb::{self, Perturbation};
    let n = x0.len();
    let rows = |v: &[f32], what| {
        let b = gpu.zeros_rows(n, what).unwrap();
        gpu.write(&b, 0, v).unwrap();
        b
    };
    let (x, d, y, yw) = (rows(x0, "x"), rows(d0, "d"), rows(x0, "y"), rows(x0, "y"));
    let norms = gpu.zeros::<f32>(2, "norms").unwrap();
    let how = Perturbation {
        rho: 0.05,
        normalized: true,
        adaptive: false,
    };
    let slot = |i| norms.slice(i, 1).unwrap();
    let sq = norm::prepare(gpu, form, d.view(), slot(0)).unwrap();
    let p = perturb::prepare(gpu, form, how, x.view(), d.view(), slot(0), y.view()).unwrap();
    let whole =
        perturb::prepare_with_norm(gpu, form, how, x.view(), d.view(), slot(1), yw.view()).unwrap();
    gpu.run(&[&sq, &p, &whole]).unwrap();
    let bits = |v: Vec<f32>| v.into_iter().map(f32::to_bits).collect::<Vec<_>>();
    let nq = gpu.read(&norms).unwrap();
    assert_eq!(
        nq[0].to_bits(),
        nq[1].to_bits(),
        "the perturbation's own norm differs"
    );
    assert_close(
        &format!("sumsq {form:?} n={n}"),
        &nq[..1],
        &[norm::reference(d0)],
        0.0,
        1e-5,
    );
    (
        nq[0].to_bits(),
        bits(gpu.read(&y).unwrap()),
        [sq.launches(), p.launches()],
        bits(gpu.read(&yw).unwrap()),
    )
}

#[test]
fn the_texture_form_equals_the_storage_form_bit_for_bit() {
    for gpu in &gpus() {
        for n in [3, 1000, 70_001, 269_322] {
            let mut rng = Pcg::new(n as u64, 12);
            let (x0, d0) = (rng.vec(n, -1.0, 1.0), rng.vec(n, -1.0, 1.0));
            let storage = perturb_in(gpu, VectorForm::Storage, &x0, &d0);
            let texture = perturb_in(gpu, VectorForm::Texture, &x0, &d0);
            // The texture form copies first: the norm reads one copy, the kernel two.
            assert_eq!((storage.2, texture.2), ([2, 1], [3, 3]), "n={n}: launches");
            assert_eq!(storage.0, texture.0, "n={n}: norms differ");
            assert!(storage.1 == texture.1, "n={n}: perturbed points differ");
            assert!(
                texture.3 == texture.1 && storage.3 == storage.1,
                "n={n}: with its own norm"
            );
        }
    }
}

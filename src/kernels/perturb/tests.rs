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

#[test]
fn norm_and_perturbation_through_textures_equal_the_buffer_path_bit_for_bit() {
    use crate::kernels::perturb::{self, Perturbation};
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
            let tex_norm = norm::prepare(
                gpu,
                VectorForm::Texture,
                dr.view(),
                norms.slice(0, 1).unwrap(),
            )
            .unwrap();
            let buf_norm = norm::prepare(
                gpu,
                VectorForm::Texture,
                dp.slice(0, n).unwrap(),
                norms.slice(1, 1).unwrap(),
            )
            .unwrap();
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
                VectorForm::Texture,
                how,
                xr.view(),
                dr.view(),
                norms.slice(0, 1).unwrap(),
                yr.view(),
            )
            .unwrap();
            let buf = perturb::prepare(
                gpu,
                VectorForm::Texture,
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
            let whole = perturb::prepare_with_norm(
                gpu,
                VectorForm::Texture,
                how,
                xr.view(),
                dr.view(),
                slot.view(),
                yw.view(),
            )
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

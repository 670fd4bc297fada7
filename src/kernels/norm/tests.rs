//! The two-stage squared norm against the f64 reference. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use super::*;
use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::norm;
use crate::rng::Pcg;

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
            let s = norm::prepare(
                gpu,
                VectorForm::Texture,
                x.slice(4, n).unwrap(),
                out.slice(2, 1).unwrap(),
            )
            .unwrap();
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
fn dot_product_two_stage() {
    for gpu in &gpus() {
        for n in [1, 7, 33, 257, 65_536, 235_146] {
            let mut rng = Pcg::new(n as u64, 6);
            let w0 = rng.vec(n, -1.0, 1.0);
            // x's view starts at element 4 and is followed by one more element, which must not
            // count.
            let x0 = rng.vec(n + 5, -1.0, 1.0);
            let w = gpu.upload(&w0, "w").unwrap();
            let x = gpu.upload(&x0, "x").unwrap();
            let out = gpu.upload(&[7.0f32; 4], "out").unwrap();
            let s = norm::prepare_dot(
                gpu,
                w.view(),
                x.slice(4, n).unwrap(),
                out.slice(1, 1).unwrap(),
            )
            .unwrap();
            assert_eq!(s.launches(), 2);
            gpu.run(&[&s]).unwrap();
            let got = gpu.read(&out).unwrap();
            assert_eq!(
                [got[0], got[2], got[3]],
                [7.0; 3],
                "dot wrote outside its slot"
            );
            let want = norm::reference_dot(&w0, &x0[4..4 + n]);
            // Products of either sign cancel: the error is relative to Σ|w·x|, not to the sum.
            let scale: f64 = w0
                .iter()
                .zip(&x0[4..])
                .map(|(&a, &b)| (a as f64 * b as f64).abs())
                .sum();
            assert!(
                (got[1] as f64 - want).abs() <= 1e-6 * scale + 1e-7,
                "{}: dot n={n}: {} against {want}",
                gpu.adapter.short(),
                got[1]
            );
        }
        // A first vector that does not start at element 0 of its buffer, or is not as long as
        // the second, is refused.
        let a = gpu.upload(&[1.0f32; 8], "a").unwrap();
        let b = gpu.upload(&[1.0f32; 4], "b").unwrap();
        let out = gpu.upload(&[0.0f32; 4], "out").unwrap();
        let dot = |w, x| norm::prepare_dot(gpu, w, x, out.view()).is_err();
        assert!(dot(a.slice(4, 4).unwrap(), b.view()));
        assert!(dot(a.view(), b.view()));
    }
}

#[test]
fn squared_distance_of_close_vectors() {
    // Two vectors a thousandth apart: ‖x‖² + ‖w‖² − 2·x·w would lose every digit of the answer
    // to cancellation in f32; the elementwise form keeps the relative error of a plain norm.
    for gpu in &gpus() {
        for n in [1, 7, 33, 257, 65_536, 235_146] {
            let mut rng = Pcg::new(n as u64, 7);
            let w0 = rng.vec(n, -1.0, 1.0);
            let mut x0 = vec![9.0f32; 4];
            x0.extend(w0.iter().map(|&w| w + 1e-3 * rng.uniform(-1.0, 1.0)));
            x0.push(9.0);
            let w = gpu.upload(&w0, "w").unwrap();
            let x = gpu.upload(&x0, "x").unwrap();
            let out = gpu.upload(&[7.0f32; 4], "out").unwrap();
            let s = norm::prepare_distance(
                gpu,
                w.view(),
                x.slice(4, n).unwrap(),
                out.slice(3, 1).unwrap(),
            )
            .unwrap();
            assert_eq!(s.launches(), 2);
            gpu.run(&[&s]).unwrap();
            let got = gpu.read(&out).unwrap();
            assert_eq!(&got[..3], &[7.0; 3], "distance wrote outside its slot");
            let want = norm::reference_distance(&w0, &x0[4..4 + n]);
            assert_close(&format!("distance n={n}"), &got[3..], &[want], 0.0, 1e-5);
        }
    }
}

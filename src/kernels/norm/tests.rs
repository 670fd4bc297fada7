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

//! axpy, scale and copy against the f64 reference. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::vector;
use crate::rng::Pcg;

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

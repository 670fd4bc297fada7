//! The batched transpose against the f64 reference. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use crate::gpu::testing::{assert_close, gpus};
use crate::rng::Pcg;

#[test]
fn batched_transpose() {
    use crate::kernels::transpose;
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

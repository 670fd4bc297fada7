//! ReLU forward and backward against the f64 reference. Every adapter; tolerances as stated per check: f32
//! sums of k terms in [-1, 1] carry errors of order k·2^-24.

use crate::gpu::testing::{assert_close, gpus};
use crate::kernels::relu;
use crate::rng::Pcg;

#[test]
fn relu_forward_backward() {
    for gpu in &gpus() {
        for n in [1, 7, 33, 129, 1000, 70_001] {
            let mut rng = Pcg::new(n as u64, 3);
            let x0 = rng.vec(n, -1.0, 1.0);
            let dy0 = rng.vec(n, -1.0, 1.0);
            let x = gpu.upload(&x0, "x").unwrap();
            let y = gpu.zeros::<f32>(n, "y").unwrap();
            let dy = gpu.upload(&dy0, "dy").unwrap();
            let dx = gpu.zeros::<f32>(n, "dx").unwrap();
            let f = relu::prepare_forward(gpu, n, x.view(), y.view()).unwrap();
            let b = relu::prepare_backward(gpu, n, dy.view(), dx.view(), y.view()).unwrap();
            gpu.run(&[&f, &b]).unwrap();
            let y_host = gpu.read(&y).unwrap();
            assert_close(
                &format!("relu fwd n={n}"),
                &y_host,
                &relu::reference_forward(&x0),
                0.0,
                0.0,
            );
            let want = relu::reference_backward(&dy0, &y_host);
            assert_close(
                &format!("relu bwd n={n}"),
                &gpu.read(&dx).unwrap(),
                &want,
                0.0,
                0.0,
            );
        }
    }
}
